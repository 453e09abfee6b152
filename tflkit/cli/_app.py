"""The ``tflkit`` typer app: the only importer of typer (``tflkit.cli.main`` runs it).

Commands are short: parse, call the library, render, choose the exit code. Data goes to stdout
(``--json`` writes one ``json.dumps`` document, never through rich, which wraps long lines);
messages go to stderr. Exit codes: 0 ok, 1 a check failed, 2 usage error, unreadable or
invalid model, or internal error.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tflkit.cli import _bench, _check, _compare, _convert, _diff, _inspect, _run, _snapshot
from tflkit.cli._common import (
    EXIT_ERROR,
    EXIT_OK,
    report_bug,
)
from tflkit.cli._shared import (
    user_errors,
)

app = typer.Typer(
    name="tflkit",
    help="Inspect, check and run TensorFlow Lite (LiteRT) models.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from tflkit import __version__

        typer.echo(f"tflkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Inspect, check and run TensorFlow Lite (LiteRT) models."""


# One module per command; registered here, in the order `tflkit --help` lists them. Every
# one inside user_errors: one line on stderr, exit 2 (check reports unreadable models itself,
# so that the others still get checked; a failed write of its report still ends here).
app.command()(user_errors(_inspect.inspect))
app.command()(user_errors(_check.check))
app.command()(user_errors(_run.run))
app.command()(user_errors(_compare.compare))
app.command()(user_errors(_bench.bench))
app.command()(user_errors(_convert.convert))
app.command()(user_errors(_diff.diff))
app.command()(user_errors(_snapshot.snapshot))


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``tflkit`` console script and ``python -m tflkit``."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="tflkit", standalone_mode=False)
    except KeyboardInterrupt:
        typer.echo("tflkit: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        # Click's usage errors (bad option, missing argument): one line, exit 2. Anything else
        # is a bug: keep its traceback, but exit 2 so that a crash never reads as "check failed".
        fmt = getattr(exc, "format_message", None)
        if fmt is not None and hasattr(exc, "exit_code"):
            ctx = getattr(exc, "ctx", None)
            where = ctx.command_path if ctx is not None else "tflkit"
            typer.echo(f"{where}: error: {fmt()} (see '{where} --help')", err=True)
            sys.exit(EXIT_ERROR)
        raise SystemExit(EXIT_ERROR) from report_bug(exc)
    sys.exit(code if isinstance(code, int) else EXIT_OK)
