"""``tflkit snapshot``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tflkit.cli._common import print_json
from tflkit.cli._shared import JsonOpt, ModelArg


def snapshot(
    model: ModelArg,
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="The snapshot file to write (JSON).", show_default=False
        ),
    ],
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace OUTPUT even if it is another model's snapshot."),
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Write a model's contract (interface, quantization, ops, tensors; no weights) as JSON."""
    from tflkit.differ import contract
    from tflkit.loader import load
    from tflkit.render.diff import snapshot_to_dict
    from tflkit.testing import write_snapshot

    m = load(model)
    write_snapshot(m, output, force=force)  # checks OUTPUT before working out the contract
    if json_:  # what was written, for a CI log (schemas/snapshot.schema.json)
        facts = contract(m)
        size = output.stat().st_size
        print_json(snapshot_to_dict(facts, model=str(model), snapshot=str(output), size_bytes=size))
    typer.echo(f"tflkit: wrote snapshot {output}", err=True)
