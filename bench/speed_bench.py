"""Invoke alone against the whole call, as `tflkit bench` and `tflkit compare` time them (issue 19).

    python bench/speed_bench.py [--repeat 30] [--seconds 0.05] [--samples 16]

Each call of `Runner.predict` runs the runtime's invoke and the Runner's work around it, so the
median invoke should stay below the median call. The two are timed apart, though, one after the
other, so on a loaded machine the inequality can come out either way in a single run; the tests
(tests/test_cli.py, tests/test_compare.py) check only that each figure is there, positive and
finite, and this script measures how the two compare, over --repeat runs:

- benchmark 1: `tflkit.benchmark(mlp_int8, seconds=S)`, one sample a call;
- benchmark 3: `tflkit.benchmark(Runner(mlp_int8, batching="per-sample"), batch_size=3,
  seconds=S)`, three invokes a call (the median of one invoke against a call of three);
- compare: `tflkit.compare([mlp_float32, mlp_float16, mlp_int8], samples=N)`, its one-sample
  speed table, per model.

For each it prints the ratio p50 invoke / p50 call (median, min and max over the runs) and how
many runs had the invoke's median above the call's (the inequality the tests used to assert).
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from pathlib import Path

import tflkit

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MLPS = [FIXTURES / f"{n}.tflite" for n in ("mlp_float32", "mlp_float16", "mlp_int8")]


def _benchmark(batch_size: int, seconds: float) -> Callable[[], list[tuple[float, float]]]:
    def run() -> list[tuple[float, float]]:
        model: tflkit.Runner | Path = MLPS[2]
        if batch_size > 1:
            model = tflkit.Runner(MLPS[2], batching="per-sample")
        b = tflkit.benchmark(model, batch_size=batch_size, seconds=seconds)
        assert b.invoke is not None
        return [(b.invoke.p50_ms, b.latency.p50_ms)]

    return run


def _compare(samples: int) -> Callable[[], list[tuple[float, float]]]:
    def run() -> list[tuple[float, float]]:
        c = tflkit.compare([str(m) for m in MLPS], samples=samples)
        pairs = []
        for m in c.models:
            assert m.invoke is not None and m.latency is not None
            pairs.append((m.invoke.p50_ms, m.latency.p50_ms))
        return pairs

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=0.05)
    parser.add_argument("--samples", type=int, default=16)
    args = parser.parse_args()
    cases: dict[str, Callable[[], list[tuple[float, float]]]] = {
        "benchmark 1": _benchmark(1, args.seconds),
        "benchmark 3": _benchmark(3, args.seconds),
        "compare": _compare(args.samples),
    }
    labels = {"compare": [f"compare {m.stem}" for m in MLPS]}
    ratios: dict[str, list[float]] = {}
    for _ in range(args.repeat):  # interleaved: each round runs every case once
        for name, run in cases.items():
            for label, (invoke, call) in zip(labels.get(name, [name]), run(), strict=True):
                ratios.setdefault(label, []).append(invoke / call)
    print(f"p50 invoke / p50 call over {args.repeat} runs (a call = invoke + the Runner's work)")
    print(f"{'case':<22} {'median':>7} {'min':>7} {'max':>7}  runs with invoke > call")
    for label, rs in ratios.items():
        above = sum(r > 1 for r in rs)
        print(
            f"{label:<22} {statistics.median(rs):>7.3f} {min(rs):>7.3f} {max(rs):>7.3f}"
            f"  {above} of {len(rs)}"
        )


if __name__ == "__main__":
    main()
