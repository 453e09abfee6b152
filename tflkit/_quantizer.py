"""Quantize a float .tflite without TensorFlow, through litert-quantizer (extra ``[quantize]``).

The only module of tflkit that imports ``litert_quantizer`` (the renamed ai-edge-quantizer); it
imports it inside ``quantize_tflite`` so ``import tflkit`` stays light. What each ``to`` asks the
library for (its own recipe functions where it has one, so the recipe is the library's, not ours):

- ``int8``: ``recipe.static_wi8_ai8()``: int8 activations (asymmetric, per tensor, ranges from
  calibration), int8 weights (symmetric, per channel). The model's float inputs and outputs
  become int8; ops the library cannot quantize stay float between DEQUANTIZE and QUANTIZE.
- ``dynamic-range``: ``recipe.dynamic_wi8_afp32()``: int8 weights per channel, float
  activations, integer (hybrid) kernels.
- ``float16``: weight-only with the ``float_casting`` algorithm, 16 bits: float16 weights, each
  followed by a DEQUANTIZE to float32 (the library has no preset; this is what its own tests do).
- ``weight-only-int8`` / ``weight-only-int4``: ``recipe.weight_only_wi{8,4}_afp32()``: per-channel
  symmetric weights, each followed by a DEQUANTIZE, float compute. Per channel, not blockwise:
  the library's blockwise granularity with explicit DEQUANTIZE leaves a model float (measured on
  0.11.0), and its blockwise dynamic mode quantizes activations on the fly, which is not
  weight-only.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import io as _io
import json
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from tflkit.errors import ConversionError, InputError
from tflkit.model import Model, Signature

if TYPE_CHECKING:
    import numpy as np

__all__ = ["TARGETS", "quantize_tflite"]

TARGETS = ("int8", "dynamic-range", "float16", "weight-only-int8", "weight-only-int4")

_MISSING = "quantizing a .tflite needs litert-quantizer: pip install 'tflkit[quantize]'"


def quantize_tflite(
    model: bytes,
    to: str,
    *,
    calibration: list[dict[str, np.ndarray]] | None,
    io: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[bytes, dict[str, Any]]:
    """Quantize a float .tflite with litert-quantizer; no TensorFlow involved.

    Args:
        model: the float model's bytes.
        to: ``"int8"``, ``"dynamic-range"``, ``"float16"``, ``"weight-only-int8"`` or
            ``"weight-only-int4"`` (see the module docstring for the recipe behind each).
        calibration: for ``"int8"``, one dict per sample keyed by the input names of the
            model's signature, each array shaped and typed as that input (a leading batch of
            1); ignored by the other targets, which need none.
        io: the quantized model's input and output type. ``"int8"`` (the default for
            ``to="int8"``) is all litert-quantizer gives a static int8 model; the other targets
            keep ``"float32"`` inputs and outputs.
        progress: called with (calibration samples fed, samples to feed): the samples then
            go to the library in about 20 slices, each resuming from the last one's ranges
            (its ``previous_calibration_result``; the same ranges as in one call).

    Returns:
        The quantized model's bytes and the settings used, JSON-ready: ``path``
        (``"litert-quantizer"``), ``version``, ``to``, ``io``, ``recipe`` (as the library
        takes it: a list of ``{"regex", "operation", "algorithm_key", "op_config"}``),
        ``calibration_samples``, ``signature`` (the key calibrated through, or None).

    Raises:
        ConversionError: litert-quantizer is not installed; ``to`` or ``io`` is not one it can
            give; ``int8`` without calibration; the model is not float32 or has no single
            signature to calibrate through; or the library failed (its reason, one line).
        InputError: a calibration sample does not fit the signature (names, shape, dtype).

    Example:
        >>> x = np.load("mlp_eval_x.npy")
        >>> data = [{"keras_tensor": x[i : i + 1]} for i in range(len(x))]
        >>> q, settings = quantize_tflite(float_bytes, "int8", calibration=data)
        >>> settings["calibration_samples"]
        500
    """
    if to not in TARGETS:
        raise ConversionError(
            f"cannot quantize to {to!r} with litert-quantizer, expected one of "
            + ", ".join(repr(t) for t in TARGETS)
        )
    io = _io_type(to, io)
    from tflkit.kinds import quantization_kind
    from tflkit.loader import resolve

    parsed = resolve(model)
    kind = quantization_kind(parsed)
    if kind != "float32":
        raise ConversionError(
            f"the model is already quantized ({kind}); litert-quantizer quantizes float32 models"
        )
    samples: list[dict[str, np.ndarray]] = []
    signature: Signature | None = None
    if to == "int8":
        if not calibration:
            raise ConversionError(
                "static int8 needs calibration data (each activation's scale comes from the "
                "ranges it takes on real inputs; tflkit never calibrates on random data)"
            )
        signature = _one_signature(parsed)
        samples = list(calibration)
        _check_samples(parsed, signature, samples)

    lq = _library()
    recipe = _recipe(to)
    with _library_quiet():
        q = _call("reading the model", lambda: lq.Quantizer(bytes(model), recipe))
        calibration_result = None
        if signature is not None:
            key = signature.key
            step = len(samples) if progress is None else max(1, -(-len(samples) // 20))
            for start in range(0, len(samples), step):
                data = {key: samples[start : start + step]}
                calibration_result = _call(
                    "calibration",
                    functools.partial(
                        q.calibrate, data, previous_calibration_result=calibration_result
                    ),
                )
                if progress is not None:
                    progress(min(start + step, len(samples)), len(samples))
        result = _call(
            "quantization",
            lambda: q.quantize(calibration_result, enable_progress_report=False),
        )
    if result.quantized_model is None:
        raise ConversionError("litert-quantizer quantization failed: it returned no model")
    settings: dict[str, Any] = {
        "path": "litert-quantizer",
        "version": importlib.metadata.version("litert-quantizer"),
        "to": to,
        "io": io,
        # str enums (operation, algorithm_key, granularity, ...) -> their values
        "recipe": json.loads(json.dumps(result.recipe)),
        "calibration_samples": len(samples),
        "signature": signature.key if signature is not None else None,
    }
    return bytes(result.quantized_model), settings


def _library() -> Any:
    """``litert_quantizer.quantizer``, or the one line that says which extra installs it."""
    try:
        from litert_quantizer import quantizer as lq  # type: ignore[import-untyped,unused-ignore]
    except ImportError as exc:
        raise ConversionError(_MISSING) from exc
    return lq


def require_int8_io(io: str | None) -> None:
    """Refuse an ``io`` a static int8 model from litert-quantizer cannot have, before
    calibrating (the selective route's check; ``quantize_tflite`` makes it too)."""
    _io_type("int8", io)


def _io_type(to: str, io: str | None) -> str:
    supported = "int8" if to == "int8" else "float32"
    if io is None or io == supported:
        return supported
    if to == "int8":
        raise ConversionError(
            f"io {io!r}: litert-quantizer gives a static int8 model int8 inputs and outputs "
            "and cannot keep them float32; supported io for int8: 'int8'"
        )
    raise ConversionError(
        f"io {io!r}: {to} keeps float32 inputs and outputs; supported io for {to}: "
        "'float32' (int8 inputs need to='int8')"
    )


def _one_signature(model: Model) -> Signature:
    # litert-quantizer calibrates through signature runners, and its quantize() wants ranges
    # for the tensors of every signature, so calibration data for one input set needs one.
    if len(model.signatures) == 1:
        return model.signatures[0]
    if not model.signatures:
        raise ConversionError(
            "the model has no signature; litert-quantizer calibrates through a signature"
        )
    keys = ", ".join(repr(s.key) for s in model.signatures)
    raise ConversionError(
        f"the model has {len(model.signatures)} signatures ({keys}); "
        "quantize_tflite calibrates a model with one"
    )


def _check_samples(model: Model, signature: Signature, samples: list[dict[str, Any]]) -> None:
    import numpy as np

    tensors = model.subgraphs[signature.subgraph_index].tensors
    expected = {s.name: tensors[s.tensor_index] for s in signature.inputs}
    for i, sample in enumerate(samples):
        if not isinstance(sample, dict) or set(sample) != set(expected):
            got = sorted(sample) if isinstance(sample, dict) else type(sample).__name__
            raise InputError(
                f"calibration sample {i}: expected inputs {sorted(expected)} "
                f"(signature {signature.key!r}), got {got}"
            )
        for name, t in expected.items():
            a = np.asarray(sample[name])
            want = t.shape_signature or t.shape
            fits = len(a.shape) == len(want) and all(
                w < 0 or w == g for w, g in zip(want, a.shape, strict=True)
            )
            if not fits or a.dtype.name != t.dtype:
                raise InputError(
                    f"calibration sample {i}, input {name!r}: expected shape "
                    f"{tuple(want)} {t.dtype}, got {tuple(a.shape)} {a.dtype.name}"
                )


def _recipe(to: str) -> list[dict[str, Any]]:
    # litert-quantizer ships no py.typed
    from litert_quantizer import (  # type: ignore[import-untyped,unused-ignore]
        qtyping,
        recipe_manager,
    )
    from litert_quantizer import recipe as presets  # type: ignore[import-untyped,unused-ignore]
    from litert_quantizer.quantizer import (  # type: ignore[import-untyped,unused-ignore]
        AlgorithmName,
    )

    if to == "int8":
        return list(presets.static_wi8_ai8())
    if to == "dynamic-range":
        return list(presets.dynamic_wi8_afp32())
    if to == "weight-only-int8":
        return list(presets.weight_only_wi8_afp32())
    if to == "weight-only-int4":
        return list(presets.weight_only_wi4_afp32())
    # float16: no preset; weight-only through float casting, as the library's mnist test does
    manager = recipe_manager.RecipeManager()
    manager.add_weight_only_config(
        regex=".*",
        operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
        num_bits=16,
        granularity=qtyping.QuantGranularity.TENSORWISE,  # one dtype cast, no scales
        algorithm_key=AlgorithmName.FLOAT_CASTING,
    )
    return list(manager.get_quantization_recipe())


def _call(stage: str, fn: Any) -> Any:
    try:
        return fn()
    except Exception as exc:  # the library's reasons come as ValueError, RuntimeError, ...
        raise ConversionError(f"litert-quantizer {stage} failed: {_one_line(exc)}") from exc


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


@contextlib.contextmanager
def _library_quiet() -> Iterator[None]:
    """Silence the library's progress bar when stderr is not a terminal, and its warning that
    calibration keeps every tensor (it must, to see every activation's range)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors")
        isatty = getattr(sys.stderr, "isatty", None)
        if isatty is not None and isatty():
            yield
        else:
            with contextlib.redirect_stderr(_io.StringIO()):
                yield


class QuantizerRoute:
    """Static int8 through litert-quantizer with some operators kept out of int8: calibrated
    once, then one ``quantize()`` per set (the ``_search.Route`` of a float .tflite).

    The kept operators get a recipe entry of their own, after the int8 preset, selecting each
    by its scope (its output tensors' names, ``;``-joined, as the library names scopes):
    ``no_quantize`` (float) or the library's int16-activation preset (``int16`` fallback).
    """

    name = "litert-quantizer"
    fallbacks = ("float", "int16")

    def __init__(
        self,
        model: bytes,
        calibration: list[dict[str, np.ndarray]],
        parsed: Model | None = None,
    ) -> None:
        """``parsed``: ``model`` already loaded (else it is parsed here)."""
        from tflkit.loader import resolve

        parsed = parsed if parsed is not None else resolve(model)
        signature = _one_signature(parsed)
        samples = list(calibration)
        _check_samples(parsed, signature, samples)
        lq = self._lq = _library()
        self.calibrated = bytes(model)
        self.samples = len(samples)
        self.signature = signature.key
        with _library_quiet():
            q = _call("reading the model", lambda: lq.Quantizer(self.calibrated, _recipe("int8")))
            data = {signature.key: samples}
            self._ranges = _call("calibration", lambda: q.calibrate(data))

    def recipe(self, kept: Any, fallback: str) -> list[dict[str, Any]]:
        """The int8 preset, then one entry per kept operator (``_search.Op``)."""
        import re

        from litert_quantizer import recipe as presets  # type: ignore[import-untyped,unused-ignore]

        entries = list(_recipe("int8"))
        for op in kept:
            regex = "^" + re.escape(";".join(op.outputs) + ";") + "$"
            if fallback == "int16":
                (a16,) = [dict(e) for e in presets.static_wi8_ai16()]
                entries.append({**a16, "regex": regex})
            else:
                entries.append(
                    {
                        "regex": regex,
                        "operation": "*",
                        "algorithm_key": "no_quantize",
                        "op_config": {},
                    }
                )
        return entries

    def build(self, kept: Any, fallback: str) -> bytes:
        recipe = self.recipe(kept, fallback)
        lq = self._lq
        with _library_quiet():
            q = _call("reading the model", lambda: lq.Quantizer(self.calibrated, recipe))
            result = _call(
                "quantization", lambda: q.quantize(self._ranges, enable_progress_report=False)
            )
        if result.quantized_model is None:
            raise ConversionError("litert-quantizer quantization failed: it returned no model")
        return bytes(result.quantized_model)

    def settings(self, kept: Any, fallback: str) -> dict[str, Any]:
        """How the chosen model was made, JSON-ready, as ``quantize_tflite`` reports it."""
        return {
            "path": "litert-quantizer",
            "version": importlib.metadata.version("litert-quantizer"),
            "to": "int8",
            "io": "int8",
            "recipe": json.loads(json.dumps(self.recipe(kept, fallback))),
            "calibration_samples": self.samples,
            "signature": self.signature,
        }
