"""``benchmark()``: latency distribution and throughput of one model through the Runner.

The one timing engine of tflkit: ``benchmark()`` (``timed_calls`` for a time budget) and
``measure_speed()``, which ``compare()``, ``compare_stream()`` and ``tflkit.ray`` use (a number
of calls per model, interleaved across models). Both time the runtime's invoke alone through
``invoke_times``. Timing uses ``time.perf_counter``; warm-up calls are never counted (the first
call allocates, sets up the delegate and, for batches, lets the Runner choose its batching).

Two latencies answer two questions. The runtime's ``invoke()`` alone (``Runner.time_invoke``)
says whether a model is faster on this machine: int8 against float32 is a question about
kernels. The whole ``predict`` call adds the Runner's own work (quantize, dequantize, copies,
Python), a few microseconds that dominate a tiny model: it is what an app pays per call.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tflkit._inputs import random_inputs
from tflkit.errors import InputError, UnsupportedModelError, require_positive
from tflkit.model import ModelLike

__all__ = [
    "LATENCY_REPEAT",
    "THROUGHPUT_REPEAT",
    "Benchmark",
    "Latency",
    "ModelSpeed",
    "benchmark",
    "invoke_plan",
    "invoke_times",
    "measure_speed",
    "overhead_ms",
    "peak_rss_bytes",
    "timed_calls",
]

#: One-sample calls (and invokes) ``measure_speed`` times per model, after two warm-up calls.
LATENCY_REPEAT = 30
#: Whole-batch calls (and their invokes) ``measure_speed`` times per model; the median counts.
THROUGHPUT_REPEAT = 5


@dataclass(frozen=True, slots=True)
class Latency:
    """Distribution of call times, in milliseconds."""

    min_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        """From call durations in seconds (at least one)."""
        ms = np.asarray(seconds, dtype=np.float64) * 1e3
        p50, p90, p99 = np.percentile(ms, [50, 90, 99])
        return cls(
            min_ms=float(ms.min()),
            p50_ms=float(p50),
            p90_ms=float(p90),
            p99_ms=float(p99),
            mean_ms=float(ms.mean()),
            max_ms=float(ms.max()),
        )


@dataclass(frozen=True, slots=True)
class Benchmark:
    """What ``benchmark()`` measured. Latency is per ``predict`` call of ``batch_size`` samples.

    ``invoke`` is the runtime's ``invoke()`` alone for the same samples (summed over the invokes
    one call makes), None where it cannot be timed apart (a signature on another subgraph);
    ``overhead_ms`` is the Runner's own work per call: ``latency.p50_ms - invoke.p50_ms``.
    """

    model: str
    batch_size: int
    num_threads: int | None
    batching: str
    warmup_calls: int
    calls: int
    seconds: float
    latency: Latency
    samples_per_second: float
    peak_rss_bytes: int | None
    inputs: tuple[str, ...]
    invoke: Latency | None = None
    overhead_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (validates against ``schemas/bench.schema.json``)."""
        d = asdict(self)
        d["inputs"] = list(self.inputs)
        return d


def peak_rss_bytes() -> int | None:
    """The process's peak resident set size so far, or None where the OS does not tell."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # bytes on macOS, KiB else


def timed_calls(
    fn: Callable[[], Any],
    *,
    seconds: float,
    min_calls: int = 10,
    progress: Callable[[float], None] | None = None,
) -> list[float]:
    """Call ``fn`` until ``seconds`` have passed (and at least ``min_calls`` times)."""
    times: list[float] = []
    start = time.perf_counter()
    while True:
        times.append(_timed(fn))
        elapsed = time.perf_counter() - start
        if progress is not None:
            progress(min(1.0, elapsed / seconds) if seconds > 0 else 1.0)
        if elapsed >= seconds and len(times) >= min_calls:
            break
    return times


def _timed(fn: Callable[..., Any], *args: Any) -> float:
    """Seconds of one call ``fn(*args)``."""
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def overhead_ms(whole: Latency | None, invoke: Latency | None) -> float | None:
    """The Runner's own work per call: median whole call minus median invoke (None if unknown)."""
    if whole is None or invoke is None:
        return None
    return whole.p50_ms - invoke.p50_ms


def invoke_plan(runner: Any, x: Any, n: int) -> tuple[Any, int]:
    """What one ``predict`` of ``n`` samples invokes: the feed of one invoke, and how many.

    A resized batch is one invoke (or one per ``batch_size`` chunk); a per-sample Runner, or a
    model whose batch is fixed at 1, invokes once per sample; a model without a batch axis once.
    """
    from tflkit._inputs import take

    if runner.batch_axis is None:
        return x, 1
    if runner.batching == "fixed-batch":
        return take(x, 0, 1), max(n, 1)
    if n <= 1:
        return x, 1
    if runner.batching == "per-sample":
        return take(x, 0, 1), n
    size = min(n, runner.batch_size or n)
    return take(x, 0, size), -(-n // size)


def invoke_times(runner: Any, x: Any, n: int, calls: int, *, warmup: int = 2) -> list[float] | None:
    """Seconds of the invokes of ``calls`` predict calls on ``x`` (``n`` samples), each call's
    invokes summed, after ``warmup`` untimed invokes; None where the invoke cannot be timed
    apart (a signature on another subgraph than 0)."""
    feed, per_call = invoke_plan(runner, x, n)
    try:
        times = runner.time_invoke(feed, repeat=calls * per_call, warmup=warmup)
    except UnsupportedModelError:
        return None
    return [sum(times[i : i + per_call]) for i in range(0, len(times), per_call)]


@dataclass(frozen=True, slots=True)
class ModelSpeed:
    """What ``measure_speed`` measured of one model.

    ``latency``: one-sample ``predict`` calls (what an app pays per call); ``invoke``: the
    runtime's invoke alone on the same samples (None where it cannot be timed apart);
    ``samples_per_second``: samples / the median ``predict`` of the whole batch;
    ``invoke_samples_per_second``: samples / the median of the invokes that call makes, the
    runtime alone (is this model faster on a batch here?).
    """

    latency: Latency
    invoke: Latency | None
    samples_per_second: float | None
    invoke_samples_per_second: float | None


def measure_speed(
    runners: Sequence[Any],
    feeds: Sequence[Any],
    n: int,
    *,
    latency_repeat: int = LATENCY_REPEAT,
    throughput_repeat: int = THROUGHPUT_REPEAT,
    whole: bool = False,
) -> list[ModelSpeed]:
    """Speed of each runner on its feed of the same ``n`` samples, interleaved across runners.

    First ``latency_repeat`` rounds of one sample each (the whole call, then the invoke of the
    same sample), then ``throughput_repeat`` rounds of the whole batch (the call, then its
    invokes), each round in a rotated order so that no model always runs first; two warm-up
    calls at batch 1 and one at the full batch are never timed. ``whole``: the models have no
    batch axis, each feed is one call (``n`` is 1).
    """
    from tflkit._inputs import take

    count = len(runners)
    # one sample each; a model without a batch axis: its inputs as they are
    singles = [[f] if whole else [take(f, i, i + 1) for i in range(min(n, 16))] for f in feeds]

    def rotate(r: int) -> list[int]:
        return [(r + j) % count for j in range(count)]

    can_invoke = [True] * count
    for i, r in enumerate(runners):  # warm-up at batch 1
        for _ in range(2):
            r.predict(singles[i][0])
        can_invoke[i] = invoke_times(r, singles[i][0], 1, 1) is not None
    lat: list[list[float]] = [[] for _ in runners]
    inv: list[list[float]] = [[] for _ in runners]
    for rep in range(max(1, latency_repeat)):
        for i in rotate(rep):
            sample = singles[i][rep % len(singles[i])]
            lat[i].append(_timed(runners[i].predict, sample))
            if can_invoke[i]:
                inv[i] += invoke_times(runners[i], sample, 1, 1, warmup=0) or []
    batch: list[list[float]] = [[] for _ in runners]
    batch_inv: list[list[float]] = [[] for _ in runners]
    for i, r in enumerate(runners):  # warm-up at the full batch (re-allocation after resize)
        r.predict(feeds[i])
    for rep in range(max(1, throughput_repeat)):
        for i in rotate(rep):
            batch[i].append(_timed(runners[i].predict, feeds[i]))
            if can_invoke[i]:
                batch_inv[i] += invoke_times(runners[i], feeds[i], n, 1, warmup=0) or []
    return [
        ModelSpeed(
            latency=Latency.of(lat[i]),
            invoke=Latency.of(inv[i]) if inv[i] else None,
            samples_per_second=_rate(n, batch[i]),
            invoke_samples_per_second=_rate(n, batch_inv[i]),
        )
        for i in range(count)
    ]


def _rate(n: int, seconds: Sequence[float]) -> float | None:
    """``n`` samples over the median of ``seconds`` (None without times, or at zero)."""
    if not seconds:
        return None
    med = float(np.median(seconds))
    return n / med if med > 0 else None


def benchmark(
    model: ModelLike | Any,
    *,
    batch_size: int = 1,
    num_threads: int | None = None,
    seconds: float = 2.0,
    warmup: int = 3,
    seed: int = 0,
    progress: Callable[[float], None] | None = None,
    shapes: Mapping[str, Sequence[int]] | Sequence[int] | None = None,
    isolated: bool = False,
) -> Benchmark:
    """Time ``Runner.predict`` on random batches of ``batch_size`` samples.

    Args:
        model: a path, the model's bytes, a ``tflkit.Model`` or a ``Runner``.
        batch_size: samples per ``predict`` call (1: the latency an app sees per request).
        num_threads: threads for the runtime (ignored when a Runner is given).
        seconds: how long to measure, after the warm-up (at least 10 calls are timed).
        warmup: calls made and not timed first.
        seed: seed of the random inputs (drawn as ``tflkit compare`` draws them).
        progress: called with the fraction of ``seconds`` done after each timed call.
        shapes: a sample's shape (the dimensions after the batch axis) by input name, for
            inputs with dynamic dimensions (an audio model's [-1, -1]: ``{"samples": [16000]}``,
            or ``[16000]`` for a single-input model).
        isolated: open the model with ``Runner(isolated=True)``: the runtime in a child process
            (latency then includes the crossing; ``peak_rss_bytes`` is this process's alone).

    Returns:
        A ``Benchmark``: latency per call (min, p50, p90, p99, mean, max), samples per second,
        the process's peak RSS, and the batching the Runner chose; then the runtime's invoke
        alone, timed as many times on the same samples (``invoke``: is this model faster here?)
        and the Runner's overhead per call (``overhead_ms``).

    Example:
        >>> b = tflkit.benchmark("mlp_int8.tflite", seconds=0.5)
        >>> b.invoke.p50_ms, b.latency.p50_ms  # the runtime alone, the whole predict call
    """
    from tflkit.runner import Runner

    require_positive("batch_size", batch_size)
    if seconds < 0:
        raise InputError(f"seconds must not be negative, got {seconds}")
    runner = (
        model
        if isinstance(model, Runner)
        else Runner(model, num_threads=num_threads, isolated=isolated)
    )
    try:
        return _benchmark(runner, batch_size, seconds, warmup, seed, progress, shapes)
    finally:
        if runner is not model:
            runner.close()


def _benchmark(
    runner: Any,
    batch_size: int,
    seconds: float,
    warmup: int,
    seed: int,
    progress: Callable[[float], None] | None,
    shapes: Mapping[str, Sequence[int]] | Sequence[int] | None,
) -> Benchmark:
    if shapes is not None and not isinstance(shapes, Mapping):
        if len(runner.inputs) != 1:
            raise InputError(
                f"the model has {len(runner.inputs)} inputs: give a shape by input name"
            )
        shapes = {runner.input_names[0]: shapes}
    if runner.batch_axis is None and batch_size != 1:
        raise InputError(
            f"{runner.model.name} has no batch axis: each call feeds its inputs at their own "
            f"shapes, batch_size must be 1, got {batch_size}"
        )
    x, lines = random_inputs(
        runner.inputs,
        runner.input_names,
        batch_size,
        seed=seed,
        shapes=shapes,
        hint="pass shapes=",
        batch_axis=runner.batch_axis,
    )
    for _ in range(max(1, warmup)):
        runner.predict(x)
    times = timed_calls(lambda: runner.predict(x), seconds=seconds, progress=progress)
    total = float(sum(times))
    invoke = invoke_times(runner, x, batch_size, len(times))
    latency = Latency.of(times)
    inv = Latency.of(invoke) if invoke else None
    return Benchmark(
        model=runner.model.path or runner.model.name,
        batch_size=batch_size,
        num_threads=runner.num_threads,
        batching=(
            "none"
            if runner.batch_axis is None
            else "single sample"
            if batch_size == 1
            else runner.batching
        ),
        warmup_calls=max(1, warmup),
        calls=len(times),
        seconds=total,
        latency=latency,
        samples_per_second=len(times) * batch_size / total if total > 0 else float("inf"),
        peak_rss_bytes=peak_rss_bytes(),
        inputs=tuple(lines),
        invoke=inv,
        overhead_ms=overhead_ms(latency, inv),
    )
