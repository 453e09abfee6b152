"""The ``tflkit`` command line: ``main()``, the console script's entry point.

The commands are a typer app (``tflkit.cli._app``, the only importer of typer). ``main()`` runs
the plainest form of the command that scripts call once per file, ``tflkit inspect --json
MODEL``, without importing typer (~30 ms, a quarter of that command's own time); anything else,
including every other spelling of ``inspect``, goes to the app. Both paths print the same
document, messages and exit codes (``tests/test_cli.py`` compares them).
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

from tflkit.cli._common import EXIT_ERROR, EXIT_OK, echo_error, error_text, print_json

__all__ = ["main"]


def _inspect_json_model(args: list[str]) -> str | None:
    """MODEL when ``args`` is exactly ``inspect --json MODEL`` or ``inspect MODEL --json``."""
    if len(args) != 3 or args[0] != "inspect":
        return None
    rest = [a for a in args[1:] if a != "--json"]
    if len(rest) != 1 or not rest[0] or rest[0].startswith("-"):
        return None
    return rest[0]


def _inspect_json(model: str) -> NoReturn:
    from pathlib import Path

    from tflkit import render
    from tflkit.errors import TflkitError
    from tflkit.loader import load

    try:
        try:
            # as typer passes it: a Path (which normalises "./m.tflite" to "m.tflite")
            print_json(render.model_to_dict(load(Path(model)), subgraph=None))
        except (TflkitError, OSError) as exc:
            echo_error(f"tflkit: error: {error_text(exc)}")
            sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        echo_error("tflkit: interrupted")
        sys.exit(130)
    except Exception as exc:
        from tflkit.cli._common import report_bug

        raise SystemExit(EXIT_ERROR) from report_bug(exc)
    sys.exit(EXIT_OK)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``tflkit`` console script and ``python -m tflkit``."""
    args = sys.argv[1:] if argv is None else list(argv)
    model = _inspect_json_model(args)
    if model is not None:
        _inspect_json(model)
    if args[:1] == ["diff"]:  # the plain spellings of `diff`, also without typer (_plain)
        from tflkit.cli._plain import diff_args, diff_main

        plain = diff_args(args[1:])
        if plain is not None:
            sys.exit(diff_main(*plain))
    from tflkit.cli._app import main as run_app

    run_app(args)


def __getattr__(name: str) -> Any:
    # the app and its helpers (``from tflkit.cli import app``), imported on first use
    if name.startswith("__"):
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module("tflkit.cli._app"), name)
