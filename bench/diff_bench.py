"""Benchmark `tflkit diff` as a whole process (issue 14), against `tflkit inspect --json`.

    python bench/diff_bench.py [--repeat 11]

MobileNetV2 int8 and float16 (built by _models.py with TensorFlow, cached in bench/_work/).
Each variant runs as a fresh process through inspect_bench's fork/exec launcher (wall time
around the child, the child's own peak RSS); variants are interleaved (diff, inspect A,
inspect B, diff, ...) so that a noisy neighbour slows all of them alike; medians are reported.
Targets: diff under 0.3 s, and at most 2.5x the time of `tflkit inspect --json` on both files
(the two inspect processes added up).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess

from _models import mobilenet
from inspect_bench import ENV, LAUNCHER, PY, TFLKIT, precompile


def run(cmd: list[str], ok: tuple[int, ...] = (0,)) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one process; ``ok``: the exit codes expected (diff
    exits 1 when the models differ, as these do)."""
    proc = subprocess.run([PY, "-c", LAUNCHER, *cmd], capture_output=True, text=True, env=ENV)
    wall, rss_kib, code = proc.stdout.split()
    if proc.returncode != 0 or int(code) not in ok:
        raise SystemExit(f"{' '.join(cmd[:3])} failed ({code}): {proc.stderr[-500:]}")
    return float(wall), int(rss_kib) / 1024  # Linux reports KiB


def main() -> None:
    precompile()
    parser = argparse.ArgumentParser(description="tflkit diff benchmark")
    parser.add_argument("--repeat", type=int, default=11, help="interleaved runs per variant")
    args = parser.parse_args()
    a, b = str(mobilenet("int8")), str(mobilenet("float16"))
    variants = {
        "diff": [TFLKIT, "diff", a, b],
        "diff --json": [TFLKIT, "diff", "--json", a, b],
        "inspect --json int8": [TFLKIT, "inspect", "--json", a],
        "inspect --json float16": [TFLKIT, "inspect", "--json", b],
    }
    for cmd in variants.values():  # warm the page cache and .pyc files
        run(cmd, ok=(0, 1))
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
    for _ in range(args.repeat):
        for name, cmd in variants.items():
            results[name].append(run(cmd, ok=(0, 1)))
    wall = {k: statistics.median(w for w, _ in v) for k, v in results.items()}
    rss = {k: statistics.median(r for _, r in v) for k, v in results.items()}
    both = wall["inspect --json int8"] + wall["inspect --json float16"]
    lines = [
        f"MobileNetV2 int8 vs float16, median of {args.repeat} interleaved runs",
        "| process | wall (s) | peak RSS (MiB) |",
        "|---|---|---|",
    ]
    lines += [f"| {k} | {wall[k]:.3f} | {rss[k]:.0f} |" for k in variants]
    lines.append("")
    for k in ("diff", "diff --json"):
        ratio = wall[k] / both
        lines += [
            f"- `tflkit {k}`: {wall[k]:.3f} s (target < 0.3 s) "
            f"{'PASS' if wall[k] < 0.3 else 'FAIL'}; {ratio:.2f}x inspect --json on both "
            f"({both:.3f} s; target <= 2.5x) {'PASS' if ratio <= 2.5 else 'FAIL'}"
        ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
