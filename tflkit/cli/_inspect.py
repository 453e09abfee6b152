"""``tflkit inspect``."""

from __future__ import annotations

from typing import Annotated

import typer

from tflkit.cli._common import (
    print_json,
)
from tflkit.cli._shared import (
    JsonOpt,
    ModelArg,
    error,
    stdout_console,
)


def inspect(
    model: ModelArg,
    json_: JsonOpt = False,
    subgraph: Annotated[
        int | None,
        typer.Option("--subgraph", "-s", help="Show only this subgraph.", min=0, metavar="N"),
    ] = None,
    tensors: Annotated[
        bool, typer.Option("--tensors", "-t", help="Also list every tensor.")
    ] = False,
) -> None:
    """Show a model's tensors, quantization, operators and signatures (no TensorFlow needed)."""
    from tflkit import render
    from tflkit.loader import load

    m = load(model)
    if subgraph is not None and subgraph >= len(m.subgraphs):
        error(
            f"{model}: no subgraph {subgraph}, the model has {len(m.subgraphs)} "
            f"(0..{len(m.subgraphs) - 1})"
        )
    if json_:
        print_json(render.model_to_dict(m, subgraph=subgraph))
        return
    console = stdout_console()
    for renderable in render.inspect_renderables(m, subgraph=subgraph, tensors=tensors):
        console.print(renderable)
