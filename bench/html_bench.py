"""What ``--html`` costs (issue 24): time added to ``tflkit compare``, and the page's size.

    python bench/html_bench.py [--repeat 7] [--skip-mobilenet]

- digits CNN (convert_bench's 28x28x1, two 3x3 convs with pooling, dense 10; float32 and full
  int8 built here), 256 random samples: whole ``tflkit compare F32 I8 --data X --json``
  processes with and without ``--html``, interleaved, plain and with ``--per-tensor``; median
  wall times side by side, the time added and the ratio. Then, in one process, ``to_html()``
  of the same comparisons alone (the work --html adds, without process noise).
- MobileNetV2 (bench/_models.py, 224x224, random weights; its float32 conversion built here the
  same way) against its int8, ``--per-tensor`` on 8 samples: the page's size.
Every child runs with ``PYTHONPATH=<this checkout>``: the tflkit measured is this one.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from _models import WORK, mobilenet  # noqa: E402


def digits() -> tuple[Path, Path, Path]:
    """The digits CNN as float32 and int8 .tflite, and 256 samples (cached in _work/)."""
    f32, i8, x = WORK / "digits_float32.tflite", WORK / "digits_int8.tflite", WORK / "digits_x.npy"
    if not (f32.exists() and i8.exists() and x.exists()):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import tensorflow as tf
        from convert_bench import by_hand, cnn

        model = cnn()
        rng = np.random.default_rng(0)
        calib = rng.random((100, 28, 28, 1), np.float32)
        WORK.mkdir(exist_ok=True)
        with contextlib.redirect_stdout(sys.stderr):  # TensorFlow prints "Saved artifact"
            f32.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
            i8.write_bytes(by_hand(model, calib))
        np.save(x, rng.random((256, 28, 28, 1), np.float32))
    return f32, i8, x


def mobilenet_float32() -> Path:
    """MobileNetV2 as _models.mobilenet builds it (same seed), converted without quantization."""
    path = WORK / "mobilenet_v2_float32.tflite"
    if path.exists():
        return path
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    model = tf.keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
    WORK.mkdir(exist_ok=True)
    with contextlib.redirect_stdout(sys.stderr):
        path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return path


def run(args: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "tflkit", *args],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--skip-mobilenet", action="store_true")
    opts = ap.parse_args()

    import tflkit

    f32, i8, x = digits()
    tmp = Path(tempfile.mkdtemp(prefix="html_bench_"))
    page = tmp / "r.html"
    print(f"digits CNN, {len(np.load(x))} samples, median of {opts.repeat} interleaved runs")
    print(f"{'compare':<14}{'without s':>10}{'with s':>10}{'added s':>10}{'ratio':>8}")
    for label, extra in (("plain", []), ("--per-tensor", ["--per-tensor"])):
        base = ["compare", str(f32), str(i8), "--data", str(x), "--json", *extra]
        without, with_ = [], []
        run(base)  # warm the file cache
        for _ in range(opts.repeat):
            without.append(run(base))
            with_.append(run([*base, "--html", str(page)]))
        a, b = statistics.median(without), statistics.median(with_)
        print(f"{label:<14}{a:>10.3f}{b:>10.3f}{b - a:>10.3f}{b / a:>7.2f}x")
    print("to_html() alone, in one process (median of 15):")
    data = np.load(x)
    for label, per in (("plain", False), ("--per-tensor", True)):
        c = tflkit.compare([str(f32), str(i8)], data, per_tensor=per)
        c.to_html()  # first call imports the renderer
        times = []
        for _ in range(15):
            start = time.perf_counter()
            c.to_html()
            times.append(time.perf_counter() - start)
        print(f"  {label:<14}{statistics.median(times) * 1e3:8.1f} ms, {len(c.to_html()):,} B")
    # the first call of a fresh process: the imports it brings are part of what --html adds
    code = (
        "import sys, time, numpy as np, tflkit\n"
        "c = tflkit.compare(sys.argv[1:3], np.load(sys.argv[3]), per_tensor=True, speed=False)\n"
        "t = time.perf_counter(); c.to_html(); print(time.perf_counter() - t)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    firsts = [
        float(
            subprocess.run(
                [sys.executable, "-c", code, str(f32), str(i8), str(x)],
                check=True,
                env=env,
                capture_output=True,
                text=True,
            ).stdout
        )
        for _ in range(opts.repeat)
    ]
    print(
        f"  first to_html() of a fresh process, imports included (--per-tensor, median of "
        f"{opts.repeat}): {statistics.median(firsts) * 1e3:.0f} ms"
    )
    if opts.skip_mobilenet:
        return
    with contextlib.redirect_stdout(sys.stderr):
        mf32, mi8 = mobilenet_float32(), mobilenet("int8")
    mx = tmp / "mx.npy"
    np.save(mx, np.random.default_rng(0).random((8, 224, 224, 3), np.float32))
    args = ["compare", str(mf32), str(mi8), "--data", str(mx), "--per-tensor", "--no-speed"]
    run([*args, "--json", "--html", str(page)])
    c = tflkit.compare([str(mf32), str(mi8)], np.load(mx), per_tensor=True, speed=False)
    tensors = len(c.per_tensor[0].tensors) if c.per_tensor else 0
    size = page.stat().st_size
    print(
        f"MobileNetV2 float32 vs int8 --per-tensor ({tensors} tensors): page {size:,} B "
        f"({size / 2**20:.2f} MiB; target < 2 MiB)"
    )


if __name__ == "__main__":
    main()
