"""Benchmark isolated runs (issue 23): `Runner(isolated=True).predict` against the in-process
Runner on the int8 MLP, and the child's start-up.

    python bench/isolated_bench.py [--repeat 15] [--threads 2] [--poll 0.002] [--model M]

In one process, for each batch size, three Runners are timed interleaved in rotating order:
in process, isolated with tflkit's defaults (``_isolated.SPIN`` / ``IDLE_SPIN``: how long the
caller polls for the child's reply and the child for the next command before sleeping in the
kernel), and isolated the other way (polling --poll seconds, default 2 ms, when the defaults
sleep; asleep when they poll); each run repeats the call for about 20 ms. Printed: the median
of --repeat runs (seconds per call), the ratio isolated / in-process and the time added per
call, of the medians and of the best runs (noise only ever adds time: on a loaded machine the
best runs are the steadier figure), the same ratios the other way, and the CPU time a call
costs (in process; isolated, default: both processes) from /proc/PID/task/*/schedstat over 200
calls. The load average is printed before and after: other work on the machine moves every
figure.
Start-up: `Runner(path, isolated=True)` (the child started, the model opened and allocated in
it) and the first call after `close()` (a restart), medians of --repeat, beside the in-process
`Runner(path)`.
Targets: ratio <= 1.5x for batches of 1,024 samples or more; < 200 us added for one sample;
start-up < 1 s.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import tflkit
from tflkit import _isolated

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


def cpu_ns(pid: int) -> int:
    """CPU time of a process (all its threads) so far, in ns (/proc/PID/task/*/schedstat)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            total += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
    return total


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--poll", type=float, default=0.002, help="SPIN of the poll column (s)")
    parser.add_argument("--model", type=Path, default=ROOT / "fixtures" / "mlp_int8.tflite")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    path = args.model
    print(f"start: {load()}, {len(os.sched_getaffinity(0))} CPUs allowed")

    here = tflkit.Runner(path, num_threads=args.threads)
    there = tflkit.Runner(path, num_threads=args.threads, isolated=True)  # the defaults
    other = (0.0, 0.0) if _isolated.SPIN else (args.poll, args.poll)
    default = _isolated.SPIN, _isolated.IDLE_SPIN
    _isolated.SPIN, _isolated.IDLE_SPIN = other  # the other way: a child of its own
    alternative = tflkit.Runner(path, num_threads=args.threads, isolated=True)
    _isolated.SPIN, _isolated.IDLE_SPIN = default
    alt = "asleep" if _isolated.SPIN else "poll"
    runners = [("in-process", here), ("isolated", there), (alt, alternative)]
    rng = np.random.default_rng(0)
    n_in = int(np.prod(here.inputs[0].shape[1:]))
    rows = []
    for n in BATCHES:
        x = rng.random((n, n_in), dtype=np.float32)
        for _, runner in runners[1:]:  # same outputs, and warm
            assert np.array_equal(here.predict(x), runner.predict(x))
        times: dict[str, list[float]] = {label: [] for label, _ in runners}
        for r in range(args.repeat):
            for label, runner in runners[r % 3 :] + runners[: r % 3]:  # rotating order
                times[label].append(per_call(lambda runner=runner, x=x: runner.predict(x)))
        # CPU time a call costs (both processes), polling included: 200 calls each
        pids = [os.getpid(), there._session.pid]
        cpu = []
        for runner, watched in ((here, pids[:1]), (there, pids)):
            c0 = sum(cpu_ns(p) for p in watched)
            for _ in range(200):
                runner.predict(x)
            cpu.append((sum(cpu_ns(p) for p in watched) - c0) / 200 * 1e-9)
        rows.append((n, times, cpu, here.batching))
    print(
        f"{path.name}, threads={args.threads}, median of {args.repeat} interleaved runs;"
        f" isolated: SPIN={_isolated.SPIN:g} IDLE_SPIN={_isolated.IDLE_SPIN:g} (defaults),"
        f" {alt}: {other[0]:g} / {other[1]:g}"
    )
    print(
        f"{'batch':>6} {'in-process':>11} {'isolated':>10} {'ratio':>6} {'added':>8}"
        f" {'best':>6} | {alt:>6} {'best':>6} | cpu: {'in':>6} {'iso':>6}"
    )
    for n, t, cpu, mode in rows:
        a, b, c = (statistics.median(t[k]) for k in ("in-process", "isolated", alt))
        best_a, best_b, best_c = (min(t[k]) for k in ("in-process", "isolated", alt))
        print(
            f"{n:>6} {a * 1e3:9.3f}ms {b * 1e3:8.3f}ms {b / a:5.2f}x {(b - a) * 1e6:6.0f}us"
            f" {best_b / best_a:5.2f}x | {c / a:6.2f}x {best_c / best_a:5.2f}x |"
            f" {cpu[0] * 1e6:6.0f}us {cpu[1] * 1e6:4.0f}us  ({mode})"
        )
    alternative.close()
    print(f"after the calls: {load()}")

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
