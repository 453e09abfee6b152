"""``tflkit diff`` (the work is in ``_plain``, which ``tflkit.cli.main`` also runs without
typer)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tflkit.cli._plain import run_diff
from tflkit.cli._shared import JsonOpt


def diff(
    old: Annotated[
        Path, typer.Argument(help="The model before.", show_default=False, metavar="OLD")
    ],
    new: Annotated[
        Path, typer.Argument(help="The model after.", show_default=False, metavar="NEW")
    ],
    json_: JsonOpt = False,
    all_changes: Annotated[
        bool, typer.Option("--all", help="List every change (default: 20 per section).")
    ] = False,
) -> None:
    """Show what changed between two models, interface first (exit 1 when they differ)."""
    raise typer.Exit(run_diff(old, new, json_, all_changes))
