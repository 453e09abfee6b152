"""``tflkit.run()``: what ``tflkit run`` does, callable from Python.

One model on arrays in memory, a .npy / .npz file, or shards (a directory or glob of .npy /
.npz / .parquet files) streamed here or on Ray actors; the outputs kept, or written to a .npz
(shards: a directory of them), and a ``RunResult`` with the figures of the whole run. A progress
callback may follow the run; it never changes a figure (slices are timed and counted as a whole).
Showing a result is ``tflkit.render.run``'s; the module is not named ``run`` so that it never
hides the function ``tflkit.run``.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy.typing as npt

from tflkit._arrays import require_samples
from tflkit._files import require_writable
from tflkit._inputs import batch_size_of
from tflkit._stream import (
    STREAM_CHUNK,
    ShardRun,
    is_shard_spec,
    output_dir,
    read_inputs,
    run_shard,
    run_slices,
    save_npz,
    shards,
    warn_nonfinite,
)
from tflkit.errors import InputError, SaturationWarning
from tflkit.model import ModelLike

if TYPE_CHECKING:
    from tflkit.quant import QuantizeStats

__all__ = ["RunOutput", "RunProgress", "RunResult", "run"]

Array = npt.NDArray[Any]

#: Slices a batch in memory is cut into when progress is followed.
PROGRESS_STEPS = 50


@dataclass(frozen=True, slots=True)
class RunOutput:
    """One output of a run: dtype and shape (all samples); for a run in memory also the
    smallest, largest and mean value (None for shards, an empty or non-numeric output)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    min: float | None = None
    max: float | None = None
    mean: float | None = None


@dataclass(frozen=True, slots=True)
class RunProgress:
    """How far a run is: samples run so far (of ``total``, None for shards), and for shards
    the shards finished (of ``shards``; 0 for a run in memory)."""

    samples: int
    total: int | None
    shards_done: int = 0
    shards: int = 0


@dataclass(frozen=True, slots=True)
class RunResult:
    """What ``run()`` did: the figures ``tflkit run`` prints, for the whole run.

    ``seconds`` is the time of the runtime calls (``Runner.predict``) alone, summed over the
    slices a run was cut into; on Ray, the wall time after Ray's start (the actors' start-up
    included). ``saturation``: per quantized input, the fraction of values clipped to its
    dtype's range, over every sample. ``arrays``: the outputs by name (a run in memory; None
    for shards, whose outputs go to ``output``).
    """

    model: str
    samples: int
    seconds: float
    batching: str
    batch_axis: int | None
    delegate: str | None
    raw: bool
    output_path: str | None
    outputs: tuple[RunOutput, ...]
    saturation: Mapping[str, float]
    shards: int | None = None
    ray_address: str | None = None
    ray_workers: int | None = None
    notes: tuple[str, ...] = ()
    arrays: Mapping[str, Array] | None = field(default=None, repr=False, compare=False)

    @property
    def samples_per_second(self) -> float | None:
        return self.samples / self.seconds if self.seconds > 0 else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the ``tflkit run --json`` document (``schemas/run.schema.json``)."""
        d: dict[str, Any] = {} if self.shards is None else {"shards": self.shards}
        d.update(
            model=self.model,
            samples=self.samples,
            seconds=self.seconds,
            samples_per_second=self.samples_per_second,
            batching=self.batching,
            batch_axis=self.batch_axis,
            delegate=self.delegate,
            raw=self.raw,
            output_path=self.output_path,
            outputs=[
                {"name": o.name, "dtype": o.dtype, "shape": list(o.shape)} for o in self.outputs
            ],
            saturation=dict(self.saturation),
        )
        if self.ray_workers is not None:
            d["ray"] = {"address": self.ray_address, "workers": self.ray_workers}
        return d


def run(
    model: ModelLike | Any,
    inputs: Any,
    *,
    output: str | os.PathLike[str] | None = None,
    batch_size: int | None = None,
    raw: bool = False,
    num_threads: int | None = None,
    signature: str | None = None,
    ray: bool = False,
    address: str | None = None,
    progress: Callable[[RunProgress], None] | None = None,
    isolated: bool = False,
) -> RunResult:
    """Run a model on arrays, a .npy / .npz file, or shards (here or on Ray).

    Args:
        model: a path, the model's bytes, a ``tflkit.Model`` or a ``Runner`` (used as it is;
            on Ray the actors open the model with ``num_threads``, ``signature`` and
            ``batch_size``).
        inputs: arrays as ``Runner.predict`` takes them; the path of a .npy (single-input
            models) or a .npz keyed by input name; or a directory or glob of .npy / .npz /
            .parquet shards, streamed one at a time in slices of ``batch_size`` (default 4096).
        output: write the outputs to this .npz (shards: to this directory, one .npz per shard
            named after it), all at once (never a partial file).
        batch_size: samples per invoke at most.
        raw: feed and return the stored dtypes (no quantize / dequantize).
        num_threads: threads for the runtime's kernels.
        signature: the signature to run.
        ray: run the shards on Ray actors, one Runner each (a local Ray with this machine's
            CPUs, or the cluster at ``address``; ``tflkit.ray.start``).
        address: the Ray cluster to run on; implies ``ray``.
        progress: called with a ``RunProgress`` after each slice (and each shard). Following
            progress cuts a batch in memory into slices; the figures stay those of the whole run.
        isolated: open the model with ``Runner(isolated=True)`` (not on Ray): a crash of the
            runtime raises ``RuntimeCrashError`` instead of ending this process.

    Returns:
        A ``RunResult``; ``to_dict()`` is the ``tflkit run --json`` document.

    Raises:
        InputError: inputs that do not fit the model, a model without a batch axis on shards,
            ``ray=True`` without shards, a shard that cannot be read (named), no samples.

    Warns:
        NonFiniteWarning: inputs holding NaN or inf (run as they are), with the counts.
        UnsupportedModelError: the runtime cannot run the model.

    Example:
        >>> r = tflkit.run("mlp_int8.tflite", "eval/", output="out/")
        >>> r.samples, r.samples_per_second, r.saturation
    """
    from tflkit.runner import Runner

    runner = (
        model
        if isinstance(model, Runner)
        else Runner(
            model,
            num_threads=num_threads,
            signature=signature,
            batch_size=batch_size,
            isolated=isolated and not (ray or address is not None),
        )
    )
    if isolated and (ray or address is not None):
        raise InputError("isolated=True runs the model here: leave out ray= and address=")
    try:
        return _run(runner, model, inputs, output, batch_size, raw, num_threads, signature,
                    ray, address, progress)  # fmt: skip
    finally:
        if runner is not model:
            runner.close()


def _run(
    runner: Any,
    model: Any,
    inputs: Any,
    output: str | os.PathLike[str] | None,
    batch_size: int | None,
    raw: bool,
    num_threads: int | None,
    signature: str | None,
    ray: bool,
    address: str | None,
    progress: Callable[[RunProgress], None] | None,
) -> RunResult:
    name = (
        os.fspath(model)
        if isinstance(model, (str, os.PathLike))
        else (runner.model.path or runner.model.name)
    )
    path = inputs if isinstance(inputs, (str, os.PathLike)) else None
    streamed = path is not None and is_shard_spec(path)
    on_ray = ray or address is not None
    if on_ray and not streamed:
        raise InputError("ray=True runs shards: give inputs= a directory or a glob of shards")
    out = None if output is None else os.fspath(output)
    if out is not None and not streamed:
        require_writable(out)  # before the run: a device, FIFO or missing folder refused
    if streamed:
        assert path is not None
        threads = num_threads or 1
        opened = {"num_threads": threads, "signature": signature, "batch_size": batch_size}
        return _run_shards(
            runner,
            name,
            path,
            out,
            raw,
            batch_size,
            (address, opened) if on_ray else None,
            progress,
        )
    notes: list[str] = []
    x = inputs if path is None else _read(runner, path, notes)
    samples = 1 if runner.batch_axis is None else batch_size_of(x)  # no batch axis: one call
    what = "inputs" if path is None else f"inputs {os.fspath(path)!r}"
    require_samples(samples, what, x)
    warn_nonfinite(x, what)
    step = samples
    if progress is not None and runner.batch_axis is not None and samples >= 2:
        step = max(1, -(-samples // PROGRESS_STEPS))
    done = [0]

    def moved(k: int) -> None:
        done[0] += k
        if progress is not None:
            progress(RunProgress(done[0], samples))

    saturation: dict[str, QuantizeStats] = {}
    with _whole_run_warnings(saturation, step < samples):
        outs, ran = run_slices(runner, x, samples, raw=raw, chunk=step, progress=moved)
        saturation.update(ran.saturation)
    if out is not None:
        save_npz(out, outs)
    return RunResult(
        model=name,
        samples=samples,
        seconds=ran.seconds,
        batching=runner.batching,
        batch_axis=runner.batch_axis,
        delegate=runner.delegate,
        raw=raw,
        output_path=out,
        outputs=tuple(_described(k, v) for k, v in outs.items()),
        saturation={k: s.fraction for k, s in saturation.items()},
        notes=tuple(notes),
        arrays=outs,
    )


def _read(runner: Any, path: str | os.PathLike[str], notes: list[str]) -> Any:
    """Arrays from a .npy (single-input models) or .npz (keys = input names, or one array)."""
    x = read_inputs(path, runner, notes)
    if not isinstance(x, (list, dict)) and len(runner.inputs) > 1:
        names = ", ".join(repr(n) for n in runner.input_names)
        raise InputError(
            f"{runner.model.name} has {len(runner.inputs)} inputs ({names}): give them in a "
            ".npz keyed by input name"
        )
    return x


def _described(name: str, value: Array) -> RunOutput:
    """An output's dtype and shape, and its smallest, largest and mean value when numeric."""
    shape = tuple(int(d) for d in value.shape)
    if not value.size or value.dtype.kind not in "iufb":
        return RunOutput(name, str(value.dtype), shape)
    return RunOutput(
        name,
        str(value.dtype),
        shape,
        float(value.min()),
        float(value.max()),
        float(value.astype("float64").mean()),
    )


def _run_shards(
    runner: Any,
    name: str,
    spec: str | os.PathLike[str],
    output: str | None,
    raw: bool,
    batch_size: int | None,
    ray: tuple[str | None, dict[str, Any]] | None,
    progress: Callable[[RunProgress], None] | None,
) -> RunResult:
    """Every shard of ``spec`` in slices, one after the other here, or on Ray actors (``ray``:
    the address and the actors' Runner arguments); ``output/<shard stem>.npz`` per shard."""
    files = shards(spec)
    if runner.batch_axis is None:
        raise InputError(f"{runner.model.name} has no batch axis: shards need one (give one file)")
    output_dir(spec, files, output)
    chunk = batch_size or STREAM_CHUNK
    total = ShardRun()
    notes: list[str] = []
    count = [0, 0]  # samples, shards

    def moved(k: int) -> None:
        count[0] += k
        if progress is not None:
            progress(RunProgress(count[0], None, count[1], len(files)))

    workers = None
    start = time.perf_counter()
    results: Iterator[tuple[ShardRun, list[str]]]
    if ray is None:  # here, shard after shard, progress within each

        def local(f: Path) -> tuple[ShardRun, list[str]]:
            made: list[str] = []
            done = run_shard(
                runner, f, raw=raw, chunk=chunk, output=output, notes=made, progress=moved
            )
            return done, made

        results = (local(f) for f in files)
    else:  # on Ray actors, progress as each shard comes back
        from tflkit import ray as on

        address, opened = ray
        workers = on.start(address, opened["num_threads"])
        start = time.perf_counter()  # Ray's start-up apart
        results = on.run_shards(
            runner.model,
            files,
            output=output,
            raw=raw,
            batch_size=batch_size,
            num_threads=opened["num_threads"],
            signature=opened["signature"],
            concurrency=workers,
        )
    with _whole_run_warnings(total.saturation, True):
        for done, made in results:
            notes += made
            total.merge(done)
            if ray is not None:
                count[0] += done.samples
            count[1] += 1
            if progress is not None:
                progress(RunProgress(count[0], None, count[1], len(files)))
    wall = time.perf_counter() - start
    require_samples(total.samples, f"inputs {os.fspath(spec)!r} ({len(files)} shards)")
    return RunResult(
        model=name,
        samples=total.samples,
        seconds=total.seconds if ray is None else wall,
        batching=runner.batching,
        batch_axis=runner.batch_axis,
        delegate=runner.delegate,
        raw=raw,
        output_path=output,
        outputs=tuple(
            RunOutput(k, d, (total.samples, *rest)) for k, (d, rest) in total.outputs.items()
        ),
        saturation={k: s.fraction for k, s in total.saturation.items()},
        shards=len(files),
        ray_address=None if ray is None else ray[0],
        ray_workers=workers,
        notes=tuple(notes),
    )


#: The clipping figures in the Runner's SaturationWarning ("12.5% of 512 values (3 NaN)").
_CLIPPED = re.compile(r"\d+(?:\.\d+)?% of \d+ values(?: \(\d+ NaN\))?")


@contextlib.contextmanager
def _whole_run_warnings(saturation: Mapping[str, QuantizeStats], sliced: bool) -> Iterator[None]:
    """The Runner warns about clipping once per input, with the figures of the call that
    passed 1%. In a run cut into slices, hold those warnings back and give them afterwards with
    the figures of the whole run (``saturation``, summed as the slices ran); other warnings
    pass unchanged."""
    if not sliced:
        yield
        return
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as recorded:
            warnings.simplefilter("always")
            caught = recorded
            yield
    finally:  # the figures so far when the run stops early
        for w in caught:
            message = str(w.message)
            if issubclass(w.category, SaturationWarning):
                for name, stats in saturation.items():
                    if message.startswith(f"input {name!r}:"):
                        nan = f" ({stats.nan} NaN)" if stats.nan else ""
                        whole = f"{stats.fraction:.1%} of {stats.total} values{nan}"
                        message = _CLIPPED.sub(whole, message, count=1)
            warnings.warn_explicit(message, w.category, w.filename, w.lineno)
