"""Benchmark isolated runs (issue 23): `Runner(isolated=True).predict` against the in-process
Runner on the int8 MLP, and the child's start-up.

    python bench/isolated_bench.py [--repeat 9] [--threads 2] [--model fixtures/mlp_int8.tflite]

In one process, for each batch size, the two Runners are timed interleaved in rotating order;
each run repeats the call for about 20 ms. Printed: the median of --repeat runs (seconds per
call), the ratio isolated / in-process and the time added per call, of the medians and of the
best runs (noise only ever adds time: on a loaded machine the best runs are the steadier
figure).
Start-up: `Runner(path, isolated=True)` (the child started, the model opened and allocated in
it) and the first call after `close()` (a restart), medians of --repeat, beside the in-process
`Runner(path)`.
Targets: ratio <= 1.5x for batches of 1,024 samples or more; < 200 us added for one sample;
start-up < 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import tflkit

ROOT = Path(__file__).resolve().parent.parent
BATCHES = (1, 1024, 4096, 16384)


def per_call(fn: Callable[[], Any], budget: float = 0.02) -> float:
    """Seconds per call: calls back to back for about ``budget`` seconds."""
    fn()
    t0 = time.perf_counter()
    loops = 0
    while True:
        fn()
        loops += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= budget:
            return elapsed / loops


def median_of(fn: Callable[[], float], repeat: int) -> float:
    return statistics.median(fn() for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--model", type=Path, default=ROOT / "fixtures" / "mlp_int8.tflite")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    path = args.model

    here = tflkit.Runner(path, num_threads=args.threads)
    there = tflkit.Runner(path, num_threads=args.threads, isolated=True)
    rng = np.random.default_rng(0)
    n_in = int(np.prod(here.inputs[0].shape[1:]))
    rows = []
    for n in BATCHES:
        x = rng.random((n, n_in), dtype=np.float32)
        assert np.array_equal(here.predict(x), there.predict(x))  # same outputs, and warm
        times: dict[str, list[float]] = {"in-process": [], "isolated": []}
        pair = [("in-process", here), ("isolated", there)]
        for r in range(args.repeat):
            for label, runner in pair[r % 2 :] + pair[: r % 2]:  # rotating order
                times[label].append(per_call(lambda runner=runner, x=x: runner.predict(x)))
        a, b = statistics.median(times["in-process"]), statistics.median(times["isolated"])
        best_a, best_b = min(times["in-process"]), min(times["isolated"])
        rows.append((n, a, b, best_a, best_b, here.batching))
    print(f"{path.name}, threads={args.threads}, median of {args.repeat} interleaved runs")
    print(
        f"{'batch':>6} {'in-process':>12} {'isolated':>12} {'ratio':>6} {'added':>9}"
        f" | best: {'ratio':>6} {'added':>9}"
    )
    for n, a, b, best_a, best_b, mode in rows:
        print(
            f"{n:>6} {a * 1e3:10.3f}ms {b * 1e3:10.3f}ms {b / a:5.2f}x {(b - a) * 1e6:7.0f}us"
            f" |       {best_b / best_a:5.2f}x {(best_b - best_a) * 1e6:7.0f}us  ({mode})"
        )

    def open_in_process() -> float:
        t0 = time.perf_counter()
        tflkit.Runner(path, num_threads=args.threads)
        return time.perf_counter() - t0

    def open_isolated() -> float:
        t0 = time.perf_counter()
        runner = tflkit.Runner(path, num_threads=args.threads, isolated=True)
        took = time.perf_counter() - t0
        runner.close()
        return took

    one = rng.random((1, n_in), dtype=np.float32)

    def restart() -> float:
        there.close()
        t0 = time.perf_counter()
        there.predict(one)
        return time.perf_counter() - t0

    print(f"start-up (median of {args.repeat}):")
    print(f"  Runner(path)                 {median_of(open_in_process, args.repeat) * 1e3:8.1f} ms")
    print(f"  Runner(path, isolated=True)  {median_of(open_isolated, args.repeat) * 1e3:8.1f} ms")
    print(f"  first call after close()     {median_of(restart, args.repeat) * 1e3:8.1f} ms")
    there.close()


if __name__ == "__main__":
    main()
