"""``tflkit diff``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tflkit.cli._common import EXIT_FAILED, EXIT_OK, print_json
from tflkit.cli._shared import JsonOpt, print_trimmed


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
    from tflkit import _diff_render
    from tflkit.differ import diff as diff_models

    d = diff_models(old, new)
    if json_:
        print_json(_diff_render.diff_to_dict(d))
    else:
        from rich.text import Text

        print_trimmed([Text(line) for line in _diff_render.diff_lines(d, all_changes=all_changes)])
    raise typer.Exit(EXIT_OK if d.same else EXIT_FAILED)
