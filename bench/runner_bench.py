"""Benchmark `tflkit.Runner.predict` against hand-written interpreter code (issue 5).

    python bench/runner_bench.py [--repeat 7] [--threads 2] [--skip-mobilenet]

For each model, in one process, interleaved in rotating order, medians of --repeat runs (each run
repeats the call for about 50 ms):
- runner: `Runner(path, num_threads=2).predict(x)` after one warm-up call (which also lets the
  Runner choose between one resized batch and a per-sample loop);
- best hand-written: the faster of (a) one resized batch: resize, allocate, set_tensor, invoke,
  get_tensor, and (b) a per-sample loop on a batch-1 allocation, both with quantize/dequantize
  written with numpy, each warmed up once;
- users' loop (int8 MLP only): what our users write, one sample at a time with the quantization
  arithmetic inside the loop.
Targets: runner >= 0.9x the best hand-written throughput; >= 50x the users' loop.
MobileNetV2 models (random weights) are built once with TensorFlow and cached in bench/_work/.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import tflkit

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _interp(path: Path, threads: int) -> Any:
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=str(path), num_threads=threads)


def _q(d: dict[str, Any], x: np.ndarray) -> np.ndarray:
    scale, zp = d["quantization"]
    if not scale:
        return x.astype(d["dtype"])
    info = np.iinfo(d["dtype"])
    return np.clip(np.round(x / scale) + zp, info.min, info.max).astype(d["dtype"])


def _dq(d: dict[str, Any], y: np.ndarray) -> np.ndarray:
    scale, zp = d["quantization"]
    return ((y.astype(np.float32) - zp) * scale) if scale else y


def hand_batched(path: Path, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    interp = _interp(path, threads)
    i, o = interp.get_input_details()[0], interp.get_output_details()[0]

    def run(x: np.ndarray) -> np.ndarray:
        if tuple(interp.get_input_details()[0]["shape"]) != x.shape:
            interp.resize_tensor_input(i["index"], list(x.shape))
            interp.allocate_tensors()
        interp.set_tensor(i["index"], _q(i, x))
        interp.invoke()
        return _dq(o, interp.get_tensor(o["index"]))

    return run


def hand_loop(path: Path, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    interp = _interp(path, threads)
    i, o = interp.get_input_details()[0], interp.get_output_details()[0]
    interp.resize_tensor_input(i["index"], [1, *i["shape"][1:]])
    interp.allocate_tensors()

    def run(x: np.ndarray) -> np.ndarray:
        xq = _q(i, x)
        out = None
        for s in range(len(xq)):
            interp.set_tensor(i["index"], xq[s : s + 1])
            interp.invoke()
            y = interp.get_tensor(o["index"])
            if out is None:
                out = np.empty((len(xq), *y.shape[1:]), y.dtype)
            out[s] = y[0]
        assert out is not None
        return _dq(o, out)

    return run


def users_loop(path: Path, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    """Seed 001's evaluation loop, with invoke() added: everything per sample."""
    interp = _interp(path, threads)
    interp.allocate_tensors()

    def run(x: np.ndarray) -> np.ndarray:
        outs = []
        for sample in x:
            inp = interp.get_input_details()[0]
            out = interp.get_output_details()[0]
            scale, zp = inp["quantization"]
            q = np.round(sample[None] / scale + zp).astype(inp["dtype"])
            interp.set_tensor(inp["index"], q)
            interp.invoke()
            y = interp.get_tensor(out["index"])
            oscale, ozp = out["quantization"]
            outs.append((y.astype(np.float32) - ozp) * oscale)
        return np.concatenate(outs)

    return run


def timed(fn: Callable[[np.ndarray], Any], x: np.ndarray, loops: int = 1) -> float:
    """Seconds per call, averaged over `loops` back-to-back calls."""
    t0 = time.perf_counter()
    for _ in range(loops):
        fn(x)
    return (time.perf_counter() - t0) / loops


def bench(label: str, path: Path, n: int, repeat: int, threads: int, users: bool) -> list[str]:
    rng = np.random.default_rng(0)
    shape = tflkit.load(path).inputs[0].shape_signature[1:]
    x = rng.random((n, *shape), dtype=np.float32)
    runner = tflkit.Runner(path, num_threads=threads)
    variants: dict[str, Callable[[np.ndarray], Any]] = {
        "runner": runner.predict,
        "batched": hand_batched(path, threads),
        "loop": hand_loop(path, threads),
    }
    if users:
        variants["users"] = users_loop(path, threads)
    # Warm-up (the Runner decides its batching here), then enough calls per measurement to last
    # about 50 ms, so that sub-millisecond MLP calls are not lost in timer and scheduler noise.
    loops = {k: max(1, round(0.05 / timed(fn, x))) for k, fn in variants.items()}
    times: dict[str, list[float]] = {k: [] for k in variants}
    names = list(variants)
    for r in range(repeat):
        for k in names[r % len(names) :] + names[: r % len(names)]:  # rotate the order
            times[k].append(timed(variants[k], x, loops[k]))
    med = {k: statistics.median(v) for k, v in times.items()}
    best = min(med["batched"], med["loop"])
    ratio = best / med["runner"]
    lines = [
        f"| {label} | {n} | {runner.batching} | {n / med['runner']:,.0f} | "
        f"{n / med['batched']:,.0f} | {n / med['loop']:,.0f} | {ratio:.2f}x "
        f"{'PASS' if ratio >= 0.9 else 'FAIL'} |"
    ]
    if users:
        speedup = med["users"] / med["runner"]
        lines.append(
            f"- {label}: Runner vs users' per-sample loop: {speedup:.0f}x "
            f"(target >= 50x) {'PASS' if speedup >= 50 else 'FAIL'}"
        )
    return lines


def one_sample(label: str, path: Path, threads: int, repeat: int) -> str:
    """Latency of one sample: Runner.predict(x[:1]) against the same work by hand, everything
    resolved once: quantize with numpy, set_tensor, invoke, get_tensor, dequantize."""
    x = np.random.default_rng(0).random((1, *tflkit.load(path).inputs[0].shape_signature[1:]))
    x = x.astype(np.float32)
    runner = tflkit.Runner(path, num_threads=threads)
    interp = _interp(path, threads)
    interp.allocate_tensors()
    i, o = interp.get_input_details()[0], interp.get_output_details()[0]
    ii, oi, dtype = i["index"], o["index"], i["dtype"]
    (scale, zp), (oscale, ozp) = i["quantization"], o["quantization"]
    lo, hi = (np.iinfo(dtype).min, np.iinfo(dtype).max) if scale else (0, 0)
    s32 = np.float32(scale)

    def hand(x: np.ndarray) -> np.ndarray:
        xq = np.clip(np.round(x / s32) + zp, lo, hi).astype(dtype) if scale else x
        interp.set_tensor(ii, xq)
        interp.invoke()
        y = interp.get_tensor(oi)
        return (y.astype(np.float32) - ozp) * np.float32(oscale) if oscale else y

    variants = {"runner": runner.predict, "hand": hand}
    loops = {k: max(1, round(0.02 / timed(fn, x))) for k, fn in variants.items()}
    times: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(repeat * 3):  # short alternating measurements: both see the same noise
        for k in ["runner", "hand"] if r % 2 else ["hand", "runner"]:
            times[k].append(timed(variants[k], x, loops[k]))
    med = {k: statistics.median(v) * 1e6 for k, v in times.items()}
    ratio = med["hand"] / med["runner"]
    target = 0.7 if "int8" in label else 0.5
    return (
        f"| {label} | {threads} | {med['runner']:.1f} | {med['hand']:.1f} | "
        f"{ratio:.2f}x {'PASS' if ratio >= target else 'FAIL'} (>= {target}x) |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="tflkit Runner benchmark")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-mobilenet", action="store_true")
    args = parser.parse_args()
    header = [
        f"num_threads={args.threads}, median of {args.repeat} interleaved runs, samples/s",
        "| model | samples | runner batching | runner | hand batched | hand loop | "
        "runner / best hand |",
        "|---|---|---|---|---|---|---|",
    ]
    rows, notes = [], []
    cases = [
        ("MLP int8", FIXTURES / "mlp_int8.tflite", 4096, True),
        ("MLP float16", FIXTURES / "mlp_float16.tflite", 4096, False),
    ]
    if not args.skip_mobilenet:
        from _models import mobilenet

        cases += [
            ("MobileNetV2 int8", mobilenet("int8"), 32, False),
            ("MobileNetV2 float16", mobilenet("float16"), 32, False),
        ]
    for label, path, n, users in cases:
        out = bench(label, path, n, args.repeat, args.threads, users)
        rows.append(out[0])
        notes += out[1:]
    latency = [
        "",
        "One sample (latency, microseconds; hand = numpy quantize, set_tensor, invoke,",
        "get_tensor, dequantize, all resolved once):",
        "| model | threads | runner | hand | runner speed / hand |",
        "|---|---|---|---|---|",
    ]
    for label, path, _, _ in cases[:2]:
        for threads in (1, 2):
            latency.append(one_sample(label, path, threads, args.repeat))
    print("\n".join(header + rows + [""] + notes + latency))


if __name__ == "__main__":
    main()
