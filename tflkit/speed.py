"""``benchmark()``: latency distribution and throughput of one model through the Runner.

Timing helpers shared with ``tflkit.compare``. Timing uses ``time.perf_counter``; warm-up calls
are never counted (the first call allocates, sets up the delegate and, for batches, lets the
Runner choose its batching).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tflkit._inputs import random_inputs
from tflkit.errors import InputError
from tflkit.model import ModelSource

__all__ = ["Benchmark", "Latency", "benchmark", "peak_rss_bytes"]


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
    """What ``benchmark()`` measured. Latency is per ``predict`` call of ``batch_size`` samples."""

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
        t0 = time.perf_counter()
        fn()
        t1 = time.perf_counter()
        times.append(t1 - t0)
        elapsed = t1 - start
        if progress is not None:
            progress(min(1.0, elapsed / seconds) if seconds > 0 else 1.0)
        if elapsed >= seconds and len(times) >= min_calls:
            break
    return times


def benchmark(
    model: ModelSource | Any,
    *,
    batch_size: int = 1,
    num_threads: int | None = None,
    seconds: float = 2.0,
    warmup: int = 3,
    seed: int = 0,
    progress: Callable[[float], None] | None = None,
) -> Benchmark:
    """Time ``Runner.predict`` on random batches of ``batch_size`` samples.

    Args:
        model: a path, the model's bytes, or a ``Runner``.
        batch_size: samples per ``predict`` call (1: the latency an app sees per request).
        num_threads: threads for the runtime (ignored when a Runner is given).
        seconds: how long to measure, after the warm-up (at least 10 calls are timed).
        warmup: calls made and not timed first.
        seed: seed of the random inputs (drawn as ``tflkit compare`` draws them).
        progress: called with the fraction of ``seconds`` done after each timed call.

    Returns:
        A ``Benchmark``: latency per call (min, p50, p90, p99, mean, max), samples per second,
        the process's peak RSS, and the batching the Runner chose.
    """
    from tflkit.runner import Runner

    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}")
    if seconds < 0:
        raise InputError(f"seconds must not be negative, got {seconds}")
    runner = model if isinstance(model, Runner) else Runner(model, num_threads=num_threads)
    x, lines = random_inputs(runner.inputs, runner.input_names, batch_size, seed=seed)
    for _ in range(max(1, warmup)):
        runner.predict(x)
    times = timed_calls(lambda: runner.predict(x), seconds=seconds, progress=progress)
    total = float(sum(times))
    return Benchmark(
        model=runner.model.path or runner.model.name,
        batch_size=batch_size,
        num_threads=runner.num_threads,
        batching="single sample" if batch_size == 1 else runner.batching,
        warmup_calls=max(1, warmup),
        calls=len(times),
        seconds=total,
        latency=Latency.of(times),
        samples_per_second=len(times) * batch_size / total if total > 0 else float("inf"),
        peak_rss_bytes=peak_rss_bytes(),
        inputs=tuple(lines),
    )
