"""``tflkit run``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from tflkit.cli._common import (
    print_json,
)
from tflkit.cli._shared import (
    AddressOpt,
    JsonOpt,
    ModelArg,
    RayOpt,
    error,
    print_trimmed,
    quiet_runtime,
    read_inputs,
    stderr_console,
)


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
        int | None, typer.Option("--batch-size", "-b", min=1, help="Samples per invoke at most.")
    ] = None,
    raw: Annotated[
        bool, typer.Option("--raw", help="Feed and return stored dtypes (no (de)quantization).")
    ] = False,
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="Threads for the runtime's kernels.")
    ] = None,
    signature: Annotated[
        str | None, typer.Option("--signature", help="Run this signature.")
    ] = None,
    ray: RayOpt = False,
    address: AddressOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Run a model on a .npy/.npz file or on shards (on Ray too), and save the outputs."""
    import time

    import numpy as np

    from tflkit._inputs import batch_size_of
    from tflkit._stream import is_shard_spec
    from tflkit.runner import Runner

    with quiet_runtime():
        runner = Runner(model, num_threads=threads, signature=signature, batch_size=batch_size)
    if ray or address is not None:
        if not is_shard_spec(input):
            error(f"{input}: --ray runs shards: give a directory or a glob of shards as --input")
        opened = {"num_threads": threads or 1, "signature": signature, "batch_size": batch_size}
        summary = _run_shards(runner, model, input, output, raw, batch_size, (address, opened))
        if json_:
            print_json(summary)
        else:
            _print_stream_summary(summary)
        return
    if is_shard_spec(input):
        summary = _run_shards(runner, model, input, output, raw, batch_size)
        if json_:
            print_json(summary)
        else:
            _print_stream_summary(summary)
        return
    x = read_inputs(input, runner)
    if not isinstance(x, (list, dict)) and len(runner.inputs) > 1:
        names = ", ".join(repr(n) for n in runner.input_names)
        error(
            f"{model.name} has {len(runner.inputs)} inputs ({names}): give them in a .npz "
            "keyed by input name"
        )
    with quiet_runtime():
        start = time.perf_counter()
        result = _predict_with_progress(runner, x, raw)
        seconds = time.perf_counter() - start
    outputs = result if isinstance(result, dict) else {runner.output_names[0]: result}
    samples = 1 if runner.batch_axis is None else batch_size_of(x)  # no batch axis: one call
    if output is not None:
        from tflkit._stream import save_npz

        save_npz(output, {k: np.asarray(v) for k, v in outputs.items()})
    shapes = {k: (str(v.dtype), list(v.shape)) for k, v in outputs.items()}
    summary = _summary(model, runner, samples, seconds, raw, output, shapes)
    if json_:
        print_json(summary)
        return
    _print_run_summary(summary, outputs)


#: Samples per predict call when streaming without --batch-size: a few batches in memory.
STREAM_CHUNK = 4096


def _run_shards(
    runner: Any,
    model: Path,
    spec: Path,
    output: Path | None,
    raw: bool,
    batch_size: int | None,
    ray: tuple[str | None, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run every shard of ``spec`` in slices; write ``output/<shard stem>.npz`` per shard.

    ``ray``: (address, the Runner's keyword arguments) to run the shards on Ray actors instead,
    a shard at a time each (a local Ray with this machine's CPUs when the address is None).
    """
    import time

    from tflkit._stream import ShardRun, output_dir, shards
    from tflkit.errors import InputError

    files = shards(spec)
    if runner.batch_axis is None:
        raise InputError(f"{model.name} has no batch axis: shards need one (give one file)")
    output_dir(spec, files, output)
    chunk = batch_size or STREAM_CHUNK
    total = ShardRun()
    workers = None
    start = time.perf_counter()
    with _ShardProgress(len(files)) as bar, quiet_runtime():
        if ray is None:  # here, shard after shard, the bar moving within each
            results: Iterator[tuple[ShardRun, list[str]]] = (
                _local_shard(runner, f, raw, chunk, output, bar.samples) for f in files
            )
        else:  # on Ray actors, the bar moving as each shard comes back
            from tflkit import ray as tray

            address, opened = ray
            workers = tray._start(address, opened["num_threads"])
            start = time.perf_counter()  # Ray's start-up apart
            results = tray._run_shards(
                model, files, opened, raw=raw, chunk=chunk, output=output, concurrency=workers
            )
        for done, notes in results:
            for note in notes:
                typer.echo(f"tflkit: note: {note}", err=True)
            total.merge(done)
            if ray is not None:
                bar.samples(done.samples)
            bar.shard()
    wall = time.perf_counter() - start
    produced = {k: (d, [total.samples, *rest]) for k, (d, rest) in total.outputs.items()}
    summary = _summary(
        model,
        runner,
        total.samples,
        total.seconds if ray is None else wall,
        raw,
        output,
        produced,
        {k: s.fraction for k, s in total.saturation.items()},
    )
    if ray is not None:
        summary["ray"] = {"address": ray[0], "workers": workers}
    return {"shards": len(files), **summary}


def _local_shard(
    runner: Any, path: Path, raw: bool, chunk: int, output: Path | None, progress: Any
) -> tuple[Any, list[str]]:
    """``run_shard`` in this process: its result and the notes it made."""
    from tflkit._stream import run_shard

    notes: list[str] = []
    done = run_shard(
        runner, path, raw=raw, chunk=chunk, output=output, notes=notes, progress=progress
    )
    return done, notes


def _summary(
    model: Path,
    runner: Any,
    samples: int,
    seconds: float,
    raw: bool,
    output: Path | None,
    outputs: dict[str, tuple[str, list[int]]],
    saturation: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The ``tflkit run --json`` document (schemas/run.schema.json); outputs: dtype, shape;
    saturation: the fraction clipped per input (default: the runner's last call)."""
    return {
        "model": str(model),
        "samples": samples,
        "seconds": seconds,
        "samples_per_second": samples / seconds if seconds > 0 else None,
        "batching": runner.batching,
        "batch_axis": runner.batch_axis,
        "delegate": runner.delegate,
        "raw": raw,
        "output_path": str(output) if output is not None else None,
        "outputs": [{"name": k, "dtype": d, "shape": shape} for k, (d, shape) in outputs.items()],
        "saturation": (
            saturation
            if saturation is not None
            else {k: s.fraction for k, s in runner.saturation.items()}
        ),
    }


class _ShardProgress:
    """A progress bar over shards and samples on stderr (terminals only)."""

    def __init__(self, shards: int) -> None:
        self.total = shards
        self.done = 0
        self.count = 0
        self.progress: Any = None

    def __enter__(self) -> _ShardProgress:
        if sys.stderr.isatty():
            from rich.progress import Progress

            self.progress = Progress(transient=True, console=stderr_console())
            self.task = self.progress.add_task(self._text(), total=self.total)
            self.progress.start()
        return self

    def _text(self) -> str:
        return f"shard {min(self.done + 1, self.total)}/{self.total}, {self.count:,} samples"

    def samples(self, n: int) -> None:
        self.count += n
        if self.progress is not None:
            self.progress.update(self.task, description=self._text())

    def shard(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress.update(self.task, completed=self.done, description=self._text())

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


def _print_stream_summary(summary: dict[str, Any]) -> None:
    from rich.table import Table

    rate = summary["samples_per_second"]
    lines: list[Any] = [
        f"{summary['samples']} samples from {summary['shards']} shards in "
        f"{summary['seconds']:.3f} s"
        + (f" ({rate:,.0f} samples/s)" if rate else "")
        + f", batching: {summary['batching']}"
    ]
    table = Table(title="Outputs", title_justify="left")
    table.add_column("name", overflow="fold", ratio=1)
    table.add_column("dtype", no_wrap=True)
    table.add_column("shape", no_wrap=True)
    for o in summary["outputs"]:
        table.add_row(o["name"], o["dtype"], str(o["shape"]))
    lines.append(table)
    if summary["output_path"]:
        lines.append(f"outputs written to {summary['output_path']} (one .npz per shard, same stem)")
    print_trimmed(lines)


def _predict_with_progress(runner: Any, x: Any, raw: bool) -> Any:
    """Predict in slices with a progress bar on stderr once the run passes one second."""
    import time

    import numpy as np

    from tflkit._inputs import batch_size_of, take

    n = batch_size_of(x)
    if not sys.stderr.isatty() or n < 2 or runner.batch_axis is None:
        return runner.predict(x, raw=raw)
    from rich.progress import Progress

    step = max(1, -(-n // 50))
    pieces = []
    start = time.perf_counter()
    progress = Progress(transient=True, console=stderr_console())
    task = progress.add_task("running", total=n)
    started = False
    try:
        for s in range(0, n, step):
            e = min(n, s + step)
            pieces.append(runner.predict(take(x, s, e), raw=raw))
            if not started and time.perf_counter() - start > 1.0:
                progress.start()
                started = True
            progress.update(task, completed=e)
    finally:
        if started:
            progress.stop()
    if isinstance(pieces[0], dict):
        return {k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]}
    return np.concatenate(pieces)


def _print_run_summary(summary: dict[str, Any], outputs: dict[str, Any]) -> None:
    from rich.table import Table

    rate = summary["samples_per_second"]
    lines: list[Any] = [
        (
            f"{summary['samples']} samples in {summary['seconds']:.3f} s"
            + (f" ({rate:,.0f} samples/s)" if rate else "")
            + f", batching: {summary['batching']}"
            if summary["batch_axis"] is not None
            else f"one call in {summary['seconds']:.3f} s (the model has no batch axis: "
            "inputs fed at their own shapes)"
        )
        + ("" if summary["delegate"] else ", builtin kernels (XNNPACK could not prepare it)")
    ]
    table = Table(title="Outputs", title_justify="left")
    table.add_column("name", overflow="fold", ratio=1)
    table.add_column("dtype", no_wrap=True)
    table.add_column("shape", no_wrap=True)
    table.add_column("min", justify="right", no_wrap=True)
    table.add_column("max", justify="right", no_wrap=True)
    table.add_column("mean", justify="right", no_wrap=True)
    for name, value in outputs.items():
        numeric = value.size and value.dtype.kind in "iufb"
        stats = (
            [f"{value.min():.4g}", f"{value.max():.4g}", f"{value.astype('float64').mean():.4g}"]
            if numeric
            else ["", "", ""]
        )
        table.add_row(name, str(value.dtype), str(list(value.shape)), *stats)
    lines.append(table)
    if summary["output_path"]:
        lines.append(f"outputs written to {summary['output_path']}")
    print_trimmed(lines)
