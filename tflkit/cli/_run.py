"""``tflkit run``: parse, call ``tflkit.running.run``, show the result, choose the exit code."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tflkit.cli._common import cli_text, print_json
from tflkit.cli._shared import (
    AddressOpt,
    IsolatedOpt,
    JsonOpt,
    ModelArg,
    RayOpt,
    print_trimmed,
    quiet_runtime,
    stderr_console,
)

if TYPE_CHECKING:
    from tflkit.running import RunProgress


def run(
    model: ModelArg,
    input: Annotated[
        Path,
        typer.Option(
            "--input",
            "-i",
            help="Inputs: a .npy array, a .npz keyed by input name, or a directory or glob of "
            ".npy/.npz/.parquet shards (streamed).",
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write the outputs to this .npz file (shards: to this directory, one .npz per "
            "input shard).",
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", "-b", min=1, metavar="N", help="Samples per invoke at most."),
    ] = None,
    raw: Annotated[
        bool, typer.Option("--raw", help="Feed and return stored dtypes (no (de)quantization).")
    ] = False,
    threads: Annotated[
        int | None,
        typer.Option("--threads", min=1, metavar="N", help="Threads for the runtime's kernels."),
    ] = None,
    signature: Annotated[
        str | None, typer.Option("--signature", help="Run this signature.")
    ] = None,
    ray: RayOpt = False,
    address: AddressOpt = None,
    isolated: IsolatedOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Run a model on a .npy/.npz file or on shards (on Ray too), and save the outputs."""
    from tflkit.running import run as run_model

    with quiet_runtime(), _Bar() as bar:  # the bar gone before the warnings are printed
        result = run_model(
            model,
            input,
            output=output,
            batch_size=batch_size,
            raw=raw,
            num_threads=threads,
            signature=signature,
            ray=ray,
            address=address,
            progress=bar.update if sys.stderr.isatty() else None,
            isolated=isolated,
        )
    for note in result.notes:
        typer.echo(f"tflkit: note: {cli_text(note)}", err=True)
    if json_:
        print_json(result.to_dict())
        return
    from tflkit.render import run_renderables

    print_trimmed(run_renderables(result))


class _Bar:
    """A progress bar on stderr: over shards (shard i/N, samples so far) from the start, or
    over the samples of one batch once the run passes one second."""

    def __init__(self) -> None:
        self.progress: Any = None
        self.task: Any = None
        self.start = time.perf_counter()

    def __enter__(self) -> _Bar:
        return self

    def update(self, p: RunProgress) -> None:
        if self.progress is None:
            if not p.shards and time.perf_counter() - self.start <= 1.0:
                return
            from rich.progress import Progress

            self.progress = Progress(transient=True, console=stderr_console())
            total = p.shards or p.total
            self.task = self.progress.add_task("running", total=total)
            self.progress.start()
        if p.shards:
            text = f"shard {min(p.shards_done + 1, p.shards)}/{p.shards}, {p.samples:,} samples"
            self.progress.update(self.task, completed=p.shards_done, description=text)
        else:
            self.progress.update(self.task, completed=p.samples)

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()
