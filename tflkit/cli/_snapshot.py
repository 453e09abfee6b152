"""``tflkit snapshot``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tflkit.cli._shared import ModelArg


def snapshot(
    model: ModelArg,
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="The snapshot file to write (JSON).", show_default=False
        ),
    ],
) -> None:
    """Write a model's contract (interface, quantization, ops, tensors; no weights) as JSON."""
    from tflkit.testing import write_snapshot

    write_snapshot(model, output)
    typer.echo(f"tflkit: wrote snapshot {output}", err=True)
