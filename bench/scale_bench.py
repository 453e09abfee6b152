"""Benchmark streaming `tflkit run` over shards (issue 15): peak RSS and throughput.

    python bench/scale_bench.py [--gib 2] [--shard-mib 64] [--repeat 3] [--ray]

Writes ``--gib`` of float32 .npy shards (32 features, seeded) to bench/_work/shards/ and runs
`tflkit run fixtures/mlp_int8.tflite -i DIR -o OUTDIR` on them, then the in-memory path
(`-i ONE.npy -o OUT.npz`) on one file of the same data that fits. Each command is a fresh
process under inspect_bench's fork/exec launcher, so peak RSS is the command's own. Throughput
is samples over wall time (reading, running and writing included), medians of interleaved runs.
With --ray, also `tflkit run ... --ray` on the shards (a local Ray with the machine's CPUs; wall
time of the whole command, Ray's start-up included; peak RSS of the driver process only, the
actors' memory is Ray's).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from pathlib import Path

import numpy as np
from _models import WORK
from inspect_bench import PY, ROOT
from inspect_bench import run as launch

MODEL = str(ROOT / "fixtures" / "mlp_int8.tflite")
FEATURES = 32


def write_shards(folder: Path, gib: float, shard_mib: int) -> int:
    """Seeded shards in [0, 1) (the model's calibrated range); the total sample count."""
    per_shard = shard_mib * 2**20 // (4 * FEATURES)
    shards = max(1, round(gib * 1024 / shard_mib))
    marker = folder / f".done-{shards}x{per_shard}"
    if not marker.exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        rng = np.random.default_rng(0)
        for i in range(shards):
            x = rng.random((per_shard, FEATURES), dtype=np.float32)
            np.save(folder / f"part-{i:04d}.npy", x)
        marker.touch()
    return shards * per_shard


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gib", type=float, default=2.0)
    ap.add_argument("--shard-mib", type=int, default=64)
    ap.add_argument("--fits-mib", type=int, default=256, help="the in-memory file's size")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--ray",
        action="store_true",
        help="also `tflkit run --ray` on the shards (a local Ray: needs the [ray] extra)",
    )
    args = ap.parse_args()
    folder = WORK / "shards"
    total = write_shards(folder, args.gib, args.shard_mib)
    small = WORK / "fits.npy"
    n_small = args.fits_mib * 2**20 // (4 * FEATURES)
    if not small.exists() or np.load(small, mmap_mode="r").shape[0] != n_small:
        np.save(small, np.random.default_rng(1).random((n_small, FEATURES), dtype=np.float32))
    out_dir, out_file = WORK / "shards_out", WORK / "fits_out.npz"
    cli = [PY, str(ROOT / "cli.py"), "run", MODEL]
    streamed: list[tuple[float, float]] = []
    memory: list[tuple[float, float]] = []
    fits_streamed: list[tuple[float, float]] = []
    on_ray: list[tuple[float, float]] = []
    for _ in range(args.repeat):
        if args.ray:
            on_ray.append(launch([*cli, "-i", str(folder), "-o", str(out_dir), "--ray"]))
        streamed.append(launch([*cli, "-i", str(folder), "-o", str(out_dir), "--json"]))
        memory.append(launch([*cli, "-i", str(small), "-o", str(out_file), "--json"]))
        fits_streamed.append(launch([*cli, "-i", f"{small.parent}/fits.np?", "-o", str(out_dir)]))
    rows = [
        ("streamed, shards", total, streamed),
        ("in memory, one file", n_small, memory),
        ("streamed, the same file", n_small, fits_streamed),
    ]
    if on_ray:  # the command's wall time, Ray's start-up included; the driver's RSS only
        rows.append(("shards on Ray (--ray)", total, on_ray))
    size = f"{total * FEATURES * 4 / 2**30:.2f} GiB in {args.shard_mib} MiB shards"
    print(f"tflkit run {Path(MODEL).name}: {size}; one file of {args.fits_mib} MiB that fits")
    print(f"{'variant':<26}{'samples':>12}{'wall s':>9}{'samples/s':>12}{'peak RSS':>11}")
    rates = {}
    for label, n, runs in rows:
        wall = statistics.median(w for w, _ in runs)
        rss = max(r for _, r in runs)
        rates[label] = n / wall
        print(f"{label:<26}{n:>12,}{wall:>9.2f}{n / wall:>12,.0f}{rss:>8.0f} MiB")
    ratio = rates["streamed, shards"] / rates["in memory, one file"]
    print(f"streamed / in-memory samples/s: {ratio:.2f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
