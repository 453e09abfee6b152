"""The exception hierarchy: every error tflkit raises on purpose is a TflkitError."""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = [
    "ConversionError",
    "DelegateWarning",
    "InputError",
    "InvalidModelError",
    "NonFiniteWarning",
    "RuntimeCrashError",
    "SaturationWarning",
    "TflkitError",
    "UnsupportedModelError",
    "caller_stacklevel",
    "require_positive",
]


class TflkitError(Exception):
    """Base class of every error tflkit raises for bad input or an unusable model."""


class InvalidModelError(TflkitError, ValueError):
    """The bytes are not a readable TFLite flatbuffer (identifier, bounds, sizes, indices)."""


class InputError(TflkitError, ValueError):
    """Inputs that do not fit the model (count, names, shapes, dtypes)."""


class UnsupportedModelError(TflkitError):
    """A valid model the runtime cannot run (custom or Flex ops, for example)."""


class RuntimeCrashError(UnsupportedModelError):
    """The LiteRT runtime crashed (a signal such as SIGSEGV or SIGABRT, or an exit) while running
    a model in an isolated Runner's child process (``Runner(model, isolated=True)``); the
    caller's process lives on and the next call starts a new child.

    Attributes:
        model: the model's name (its file name, ``<bytes>`` for bytes).
        phase: what the runtime was doing: ``start-up``, ``open``, ``allocate`` or ``invoke``.
        signal: the signal's name (``"SIGABRT"``), None when the child exited without one.
        exit_code: the child's exit status (minus the signal's number for a signal).
    """

    def __init__(
        self, model: str, phase: str, *, signal: str | None, exit_code: int | None
    ) -> None:
        self.model = model
        self.phase = phase
        self.signal = signal
        self.exit_code = exit_code
        how = signal if signal is not None else f"exit code {exit_code}"
        super().__init__(f"{model}: the runtime crashed ({how}) during {phase}")

    def __reduce__(self) -> Any:
        return _crash_error, (self.model, self.phase, self.signal, self.exit_code)


def _crash_error(
    model: str, phase: str, signal: str | None, exit_code: int | None
) -> RuntimeCrashError:
    return RuntimeCrashError(model, phase, signal=signal, exit_code=exit_code)


class ConversionError(TflkitError):
    """A model could not be converted or quantized (the converter's reason, in one line)."""


class SaturationWarning(UserWarning):
    """More than 1% of an input's real values fell outside what its quantized type can hold."""


class NonFiniteWarning(UserWarning):
    """Inputs hold NaN or inf: ``tflkit.run`` runs them as they are and says how many (compare
    and convert refuse them unless ``allow_nonfinite=True``)."""


class DelegateWarning(RuntimeWarning):
    """The runtime's default delegate (XNNPACK) could not prepare the model; the Runner runs it
    on the builtin kernels instead (``Runner.delegate`` is then None)."""


def require_positive(name: str, value: int | None) -> None:
    """InputError unless ``value`` is None or at least 1: one message for every count argument
    (``batch_size``, ``concurrency``, ``samples``), whichever function takes it."""
    if value is not None and value < 1:
        raise InputError(f"{name} must be at least 1, got {value}")


def caller_stacklevel() -> int:
    """The ``warnings.warn`` stacklevel, for the function calling this, of the first frame
    outside tflkit's own directory: a warning points at the user's call (``predict``)."""
    here = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == here:
        frame, level = frame.f_back, level + 1  # type: ignore[assignment]
    return level
