"""``tflkit run``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tflkit.cli._common import (
    print_json,
)
from tflkit.cli._shared import (
    JsonOpt,
    ModelArg,
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
    json_: JsonOpt = False,
) -> None:
    """Run a model on inputs from a .npy/.npz file and save the outputs."""
    import time

    import numpy as np

    from tflkit._inputs import batch_size_of
    from tflkit._stream import is_shard_spec
    from tflkit.runner import Runner

    with quiet_runtime():
        runner = Runner(model, num_threads=threads, signature=signature, batch_size=batch_size)
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
        _save_npz(output, {k: np.asarray(v) for k, v in outputs.items()})
    shapes = {k: (str(v.dtype), list(v.shape)) for k, v in outputs.items()}
    summary = _summary(model, runner, samples, seconds, raw, output, shapes)
    if json_:
        print_json(summary)
        return
    _print_run_summary(summary, outputs)


#: Samples per predict call when streaming without --batch-size: a few batches in memory.
STREAM_CHUNK = 4096


def _run_shards(
    runner: Any, model: Path, spec: Path, output: Path | None, raw: bool, batch_size: int | None
) -> dict[str, Any]:
    """Run every shard of ``spec`` in slices; write ``output/<shard stem>.npz`` per shard."""
    import os
    import time

    import numpy as np

    from tflkit._inputs import batch_size_of, take
    from tflkit._stream import read_shard, shards
    from tflkit.errors import InputError

    files = shards(spec)
    stems = [f.stem for f in files]
    if len(set(stems)) != len(stems):
        dup = next(s for s in stems if stems.count(s) > 1)
        raise InputError(f"{spec}: two shards named {dup!r} would write one output file")
    if runner.batch_axis is None:
        raise InputError(f"{model.name} has no batch axis: shards need one (give one file)")
    if output is not None:
        if output.exists() and not output.is_dir():
            raise InputError(f"{output}: shards write a directory of .npz files, not one file")
        os.makedirs(output, exist_ok=True)
    names = runner.input_names
    shapes = {n: list(t.shape_signature[1:]) for n, t in zip(names, runner.inputs, strict=True)}
    tensor_names = [t.name for t in runner.inputs]
    chunk = batch_size or STREAM_CHUNK
    total = 0
    seconds = 0.0
    described: dict[str, tuple[str, list[int]]] = {}
    with _ShardProgress(len(files)) as bar, quiet_runtime():
        for f in files:
            notes: list[str] = []
            x = read_shard(f, names, shapes=shapes, tensor_names=tensor_names, notes=notes)
            for note in notes:
                typer.echo(f"tflkit: note: {note}", err=True)
            n = batch_size_of(x)
            pieces: dict[str, list[Any]] = {}
            for s in range(0, n, chunk):
                start = time.perf_counter()
                got = runner.predict(take(x, s, min(n, s + chunk)), raw=raw)
                seconds += time.perf_counter() - start
                got = got if isinstance(got, dict) else {runner.output_names[0]: got}
                for k, v in got.items():
                    pieces.setdefault(k, []).append(np.asarray(v))
                bar.samples(min(n, s + chunk) - s)
            outs = {k: np.concatenate(v) for k, v in pieces.items()}
            del x, pieces
            if output is not None and outs:
                _save_npz(output / f"{f.stem}.npz", outs)
            for k, v in outs.items():
                described.setdefault(k, (str(v.dtype), list(v.shape[1:])))
            total += n
            bar.shard()
    produced = {k: (d, [total, *rest]) for k, (d, rest) in described.items()}
    return {
        "shards": len(files),
        **_summary(model, runner, total, seconds, raw, output, produced),
    }


def _summary(
    model: Path,
    runner: Any,
    samples: int,
    seconds: float,
    raw: bool,
    output: Path | None,
    outputs: dict[str, tuple[str, list[int]]],
) -> dict[str, Any]:
    """The ``tflkit run --json`` document (schemas/run.schema.json); outputs: dtype, shape."""
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
        "saturation": {k: s.fraction for k, s in runner.saturation.items()},
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


def _save_npz(path: Path, arrays: dict[str, Any]) -> None:
    """Write to a temporary name, then rename: never a half-written file."""
    import numpy as np

    from tflkit._files import atomic_write

    atomic_write(path, lambda f: np.savez(f, **arrays))


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
