"""Benchmark `tflkit.check` in process (issue 4): absolute time and ratio to `tflkit.load`.

    python bench/check_bench.py [--repeat 50]

Needs the [tf] extra to build MobileNetV2 int8 once (cached in bench/_work/). Both calls run in
the same process, interleaved, and medians are reported: the ratio is what carries over between
machines; the absolute milliseconds show whether the 100 ms target holds here.
"""

from __future__ import annotations

import argparse
import statistics
import time

from _models import mobilenet

import tflkit


def main() -> None:
    parser = argparse.ArgumentParser(description="tflkit check benchmark")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    path = mobilenet("int8")
    model = tflkit.load(path)
    tflkit.check(model)  # warm-up (imports, caches)
    loads, checks, strict = [], [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        model = tflkit.load(path)
        t1 = time.perf_counter()
        report = tflkit.check(model)
        t2 = time.perf_counter()
        tflkit.check(model, strict=True, allow_uint8_io=True)
        t3 = time.perf_counter()
        loads.append(t1 - t0)
        checks.append(t2 - t1)
        strict.append(t3 - t2)
    load_ms = statistics.median(loads) * 1e3
    check_ms = statistics.median(checks) * 1e3
    tensors = sum(len(sg.tensors) for sg in model.subgraphs)
    print(
        f"MobileNetV2 int8, {path.stat().st_size / 2**20:.1f} MiB, {tensors} tensors, "
        f"{len(model.operators)} operators; passed={report.passed}; median of {args.repeat}"
    )
    print("| step | median (ms) |")
    print("|---|---|")
    print(f"| tflkit.load | {load_ms:.1f} |")
    print(f"| tflkit.check (int8 profile + all rules) | {check_ms:.1f} |")
    print(f"| tflkit.check strict | {statistics.median(strict) * 1e3:.1f} |")
    print()
    verdict = "PASS" if check_ms < 100 else "FAIL"
    print(f"- check: {check_ms:.1f} ms (target < 100 ms) {verdict}")
    print(f"- check / load: {check_ms / load_ms:.2f}x; load + check: {load_ms + check_ms:.1f} ms")
    print()
    # issue 13: each target on the same model, target only (no profile), interleaved
    from tflkit.targets import TARGETS

    for target in TARGETS:
        tflkit.check(model, target=target)  # warm-up: the target module's import
    times: dict[str, list[float]] = {t: [] for t in TARGETS}
    summaries: dict[str, str] = {}
    for _ in range(max(5, args.repeat // 5)):
        for target in TARGETS:
            t0 = time.perf_counter()
            r = tflkit.check(model, target=target)
            times[target].append(time.perf_counter() - t0)
            summaries[target] = r.target.summary if r.target else ""
    print("| --target | median (ms) | target < 100 ms | summary |")
    print("|---|---|---|---|")
    for target in TARGETS:
        ms = statistics.median(times[target]) * 1e3
        ok = "PASS" if ms < 100 else "FAIL"
        print(f"| {target} | {ms:.1f} | {ok} | {summaries[target]} |")


if __name__ == "__main__":
    main()
