"""What the typer app and the typer-free ``inspect --json`` path share; imports no typer."""

from __future__ import annotations

import errno
import json
import re
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tflkit.errors import TflkitError
    from tflkit.report import Report

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2

# The library's messages speak Python (``pass allow_uint8_io=True``); the CLI prints them with
# its flags (``pass --allow-uint8-io``). A library parameter -> the command-line option that
# sets it (the flag for False, where there is one). A message names a parameter as ``name=True``,
# ``name='value'`` or ``name=300`` (-> ``--flag``, ``--flag value``), or as a bare ``name=``.
PYTHON_TO_FLAGS: dict[str, str | tuple[str, str]] = {
    # check
    "profile": "--profile",
    "target": "--target",
    "allow_cpu_fallback": "--allow-cpu-fallback",
    "allow_uint8_io": "--allow-uint8-io",
    "strict": "--strict",
    "select": "--select",
    "ignore": "--ignore",
    "estimate": "--estimate",
    # run, Runner, predict
    "input": "--input",
    "inputs": "--input",
    "output": "--output",
    "batch_size": "--batch-size",
    "num_threads": "--threads",
    "signature": "--signature",
    "raw": "--raw",
    "address": "--address",
    "ray": "--ray",
    "isolated": "--isolated",
    # compare, compare_stream
    "x": "--data",
    "data": "--data",
    "y": "--labels",
    "labels": "--labels",
    "samples": "--samples",
    "seed": "--seed",
    "label_output": "--label-output",
    "reference_outputs": "--reference-outputs",
    "per_tensor": "--per-tensor",
    "speed": ("--speed", "--no-speed"),
    "allow_nonfinite": "--allow-nonfinite",
    # bench (benchmark)
    "seconds": "--seconds",
    "warmup": "--warmup",
    "shapes": "--shape",
    # convert (convert, Conversion.save)
    "to": "--to",
    "calibration": "--calibration",
    "io": "--io",
    "eval_x": "--eval",
    "eval_y": "--labels",
    "max_drop": "--max-drop",
    "min_snr": "--min-snr",
    "keep_float": "--keep-float",
    "fallback": "--fallback",
    "force": "--force",
    "trust_source": "--trust-source",
}
_PARAMETER = re.compile(
    r"(?<![\w.])("
    + "|".join(sorted(map(re.escape, PYTHON_TO_FLAGS), key=len, reverse=True))
    + r")=('[^']*'|\"[^\"]*\"|[\w./-]+)?"
)


def _flag(m: re.Match[str]) -> str:
    flags = PYTHON_TO_FLAGS[m[1]]
    on, off = flags if isinstance(flags, tuple) else (flags, None)
    value = m[2]
    if value is None or value == "True":
        return on
    if value == "False" and off is not None:
        return off
    return f"{on} {value.strip(chr(39) + chr(34))}"


def cli_text(message: str) -> str:
    """A library message as the CLI prints it: its Python spellings of parameters turned into
    the command line's flags (``pass allow_uint8_io=True to accept uint8`` -> ``pass
    --allow-uint8-io to accept uint8``, ``to='int8'`` -> ``--to int8``)."""
    return _PARAMETER.sub(_flag, message)


def cli_report(report: Report) -> Report:
    """The same report with its finding messages and summary in the CLI's spelling
    (``cli_text``), for the human ``tflkit check`` output."""
    return replace(
        report,
        violations=tuple(replace(f, message=cli_text(f.message)) for f in report.violations),
        warnings=tuple(replace(f, message=cli_text(f.message)) for f in report.warnings),
        summary=None if report.summary is None else cli_text(report.summary),
    )


# What writing stdout fails with when it goes to a full disk or device (``> /dev/full``), a
# file past its size limit or a vanished terminal: an OSError without a file name.
_WRITE_ERRNOS = frozenset(
    getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EFBIG", "EIO") if hasattr(errno, name)
)


def error_text(exc: TflkitError | OSError) -> str:
    """One line for a user error: ``photo.jpg: no such file or directory``; a library message
    in the CLI's spelling (``cli_text``).

    A failed write on stdout (``tflkit check M > /dev/full``) reads ``stdout: no space left on
    device``, and what is still buffered for stdout is dropped (fd 1 then goes to
    ``os.devnull``), so that Python's flush at exit cannot fail a second time.
    """
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror.lower()}"
    if isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS and exc.strerror:
        _drop_stdout()
        return f"stdout: {exc.strerror.lower()}"
    return cli_text(str(exc))


def _drop_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real stdout (a test's capture)
        pass


def echo_error(line: str) -> None:
    """One line on stderr (what ``typer.echo(line, err=True)`` writes)."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def print_json(obj: Any) -> None:
    # Compact: json's C encoder only runs without indent (pretty-printing a MobileNet's
    # per-channel scales in Python takes longer than reading the model). Pipe to `jq` to indent.
    sys.stdout.write(json.dumps(obj, allow_nan=False, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def report_bug(exc: BaseException) -> BaseException:
    import traceback

    traceback.print_exception(exc)
    echo_error(
        "tflkit: internal error (a bug in tflkit: please report it with the traceback above)"
    )
    return exc
