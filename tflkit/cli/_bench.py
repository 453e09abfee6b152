"""``tflkit bench``."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

import typer

from tflkit.cli._common import cli_text, print_json
from tflkit.cli._shared import (
    IsolatedOpt,
    JsonOpt,
    ModelArg,
    print_trimmed,
    progress_bar,
    quiet_runtime,
)


def bench(
    model: ModelArg,
    batch_size: Annotated[
        int,
        typer.Option("--batch-size", "-b", help="Samples per predict call.", min=1, metavar="N"),
    ] = 1,
    threads: Annotated[
        int | None,
        typer.Option("--threads", help="Threads for the runtime's kernels.", min=1, metavar="N"),
    ] = None,
    seconds: Annotated[
        float,
        typer.Option(
            "--seconds", "-s", help="How long to measure, after warm-up.", min=0, metavar="S"
        ),
    ] = 2.0,
    warmup: Annotated[
        int, typer.Option("--warmup", help="Untimed calls first.", min=1, metavar="N")
    ] = 3,
    shape: Annotated[
        list[str] | None,
        typer.Option(
            "--shape",
            help="A sample's shape after the batch axis, for dynamic inputs: 16000 or "
            "NAME=16000 (repeat for several inputs).",
        ),
    ] = None,
    isolated: IsolatedOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Time a model: latency per call and of the runtime's invoke alone, throughput, memory."""
    from tflkit.speed import benchmark

    shapes = _shapes(shape or [])
    with quiet_runtime(), progress_bar(seconds) as progress:
        result = benchmark(
            str(model),
            batch_size=batch_size,
            num_threads=threads,
            seconds=seconds,
            warmup=warmup,
            progress=progress,
            shapes=shapes,
            isolated=isolated,
        )
    if json_:
        print_json(result.to_dict())
        return
    from tflkit.render import benchmark_renderables

    print_trimmed(
        benchmark_renderables(replace(result, inputs=tuple(map(cli_text, result.inputs))))
    )


def _shapes(values: list[str]) -> dict[str, list[int]] | list[int] | None:
    """``--shape`` values: ``16000`` (the only input), ``40,49`` or ``NAME=40,49``."""
    shapes: dict[str, list[int]] = {}
    for value in values:
        name, _, dims = value.rpartition("=")
        try:
            shapes[name] = [int(d) for d in dims.split(",") if d.strip()]
        except ValueError:
            raise typer.BadParameter(
                f"expected dimensions such as 16000 or NAME=40,49, got {value!r}",
                param_hint="'--shape'",
            ) from None
    if "" in shapes:
        if len(shapes) > 1:
            raise typer.BadParameter("name every input: NAME=DIMS", param_hint="'--shape'")
        return shapes[""]
    return shapes or None
