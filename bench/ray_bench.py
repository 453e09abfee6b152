"""Benchmark `tflkit.ray.predict` against one Runner with one thread (issue 15).

    python bench/ray_bench.py [--samples N] [--batch-size 4096] [--blocks-per-actor 4]
                              [--cpus 2] [--stage] [--no-uss-poll] [--max-block-mib M]

The digits-size CNN of convert_bench (28x28x1, two 3x3 convs with pooling, dense 10), full int8
with float32 input and output (so the Runner quantizes and dequantizes in Python), built with
TensorFlow here. Samples are generated in the pipeline, batch by batch, from the row ids (the
same function in both runs), never held in memory as a whole.
- single: one `Runner(num_threads=1)`, a loop generating a batch and predicting it;
- ray: `ray.init(num_cpus=--cpus)` (timed apart), then `ray.data.range(n)` in
  `--blocks-per-actor x --cpus` blocks -> `tflkit.ray.predict(..., concurrency=--cpus,
  num_threads=1, preprocess=generate)`, consumed by the driver. With --stage, generate is a
  `map_batches` stage before predict instead (Ray fuses it into the actors, but the float32
  batch goes into an Arrow block and back).
  Ray's start-up is reported apart: `ray.init`, and the actors' start (until the last actor has
  its Runner open: no batch runs before); the target ratio is the single Runner's time over
  the time from then to the last output.
Without --samples, a 3 s pilot of the single Runner sets n so that it needs about 32 s.
Ray's own messages and `Dataset.stats()` go to stderr (progress bars off); stdout carries the
figures.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import math
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tflkit  # noqa: E402
from tflkit.ray import _pool  # noqa: E402


def build_cnn() -> bytes:
    import tensorflow as tf
    from convert_bench import cnn

    model = cnn()
    rng = np.random.default_rng(0)
    calib = rng.random((200, 28, 28, 1), np.float32)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([calib[i : i + 1]] for i in range(len(calib)))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    with contextlib.redirect_stdout(sys.stderr):  # TensorFlow prints "Saved artifact ..."
        return bytes(conv.convert())


def generate(batch: dict[str, np.ndarray], name: str) -> dict[str, np.ndarray]:
    """Samples for the rows of a batch: seeded by its first id, so both runs see the same."""
    ids = batch["id"]
    rng = np.random.default_rng(int(ids[0]) if len(ids) else 0)
    return {"id": ids, name: rng.random((len(ids), 28, 28, 1), np.float32)}


READY = Path(tempfile.mkdtemp(prefix="ray_bench_ready_"))


class TimedPredictor(_pool.Predictor):
    """tflkit.ray's actor, writing when its Runner is open (wall clock, one file per actor):
    no batch runs before, so the time from the last actor ready is the work alone."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        (READY / str(os.getpid())).write_text(repr(time.time()))


def run_single(model: bytes, name: str, n: int, batch_size: int) -> float:
    runner = tflkit.Runner(model, num_threads=1)
    runner.predict(generate({"id": np.arange(batch_size)}, name)[name])  # warm-up
    start = time.perf_counter()
    for lo in range(0, n, batch_size):
        x = generate({"id": np.arange(lo, min(n, lo + batch_size))}, name)[name]
        runner.predict(x)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int)
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--cpus", type=int, default=2)
    # few big blocks: each Ray Data task costs time on an actor (8,192-row blocks: 0.49x)
    ap.add_argument("--blocks-per-actor", type=int, default=4, help="blocks of ids per actor")
    ap.add_argument("--no-uss-poll", action="store_true")
    ap.add_argument(
        "--stage",
        action="store_true",
        help="generate in a map_batches stage before predict, not in predict's preprocess",
    )
    ap.add_argument("--max-block-mib", type=int)
    args = ap.parse_args()
    bs = args.batch_size

    model = build_cnn()
    name = tflkit.Runner(model).input_names[0]
    out_name = tflkit.Runner(model).output_names[0]
    n = args.samples
    if n is None:
        pilot = 16 * bs
        t = run_single(model, name, pilot, bs)
        n = math.ceil(32.0 * pilot / t / bs) * bs
        print(f"pilot: {pilot / t:,.0f} samples/s -> n = {n:,}")

    single = run_single(model, name, n, bs)
    print(f"single Runner, 1 thread: {n:,} samples in {single:.1f} s = {n / single:,.0f} /s")

    import ray
    import ray.data

    start = time.perf_counter()
    ray.init(
        num_cpus=args.cpus,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Ray's DataContext, on creation
        ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    if args.max_block_mib:
        ctx.target_max_block_size = args.max_block_mib * 2**20
    if args.no_uss_poll:
        ctx.memory_usage_poll_interval_s = None  # type: ignore[assignment]
    startup = time.perf_counter() - start
    print(f"ray.init(num_cpus={args.cpus}): {startup:.2f} s (excluded below)")

    # whole rounds of blocks: a last block running alone leaves the other actors idle
    blocks = args.blocks_per_actor * args.cpus
    ids = ray.data.range(n, override_num_blocks=blocks)
    # num_cpus=0.5: actors reserving both CPUs would leave none for the ReadRange tasks
    _pool.Predictor = TimedPredictor  # type: ignore[misc]
    if args.stage:  # generate as a Ray Data stage of its own: a float32 tensor column
        ds = ids.map_batches(
            generate, fn_kwargs={"name": name}, batch_size=bs, batch_format="numpy", num_cpus=0.5
        )
        prep = None
    else:  # generate inside the actor, just before predict
        ds, prep = ids, functools.partial(generate, name=name)
    out = tflkit.ray.predict(
        ds,
        model,
        batch_size=bs,
        concurrency=args.cpus,
        num_threads=1,
        num_cpus=0.5,
        keep_inputs=False,
        preprocess=prep,
    )
    start = time.time()
    seen = 0
    out = out.select_columns([out_name])
    for b in out.iter_batches(batch_size=None, batch_format="numpy"):
        seen += len(b[out_name])
    end = time.time()
    took = end - start
    assert seen == n, (seen, n)
    ready = max(float(p.read_text()) for p in READY.iterdir())  # the last actor's Runner open
    print(
        f"tflkit.ray.predict, {args.cpus} actors x 1 thread: {n:,} samples in {took:.1f} s"
        f" = {n / took:,.0f} /s (actor start-up included)"
    )
    print(
        f"  actors ready (a process each, the LiteRT import, the Runner) after"
        f" {ready - start:.1f} s; from then: {end - ready:.1f} s = {n / (end - ready):,.0f} /s"
    )
    print(f"ratio, Ray's start-up excluded (from the actors ready): {single / (end - ready):.2f}x")
    print(f"ratio, actor start-up included: {single / took:.2f}x")
    stats: Any = out.stats()  # per operator: where the time went
    print(stats, file=sys.stderr)
    ray.shutdown()


if __name__ == "__main__":
    main()
