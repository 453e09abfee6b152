"""What the typer app and the typer-free ``inspect --json`` path share; imports no typer."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tflkit.errors import TflkitError

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2


def error_text(exc: TflkitError | OSError) -> str:
    """One line for a user error: ``photo.jpg: no such file or directory``."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror.lower()}"
    return str(exc)


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
