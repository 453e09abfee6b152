"""Benchmark `tflkit.convert` against TFLiteConverter called by hand (issue 12).

    python bench/convert_bench.py [--repeat 5]

For the seed MLP (32 -> 64 relu -> 10 softmax) and a digits-size CNN (28x28x1, two convs,
dense 10), full int8 with 200 calibration samples, interleaved in alternating order, medians of
--repeat runs, in one process:
- tflkit: `tflkit.convert(model, "int8", calibration=x)` (conversion + check, no comparison);
- by hand: TFLiteConverter.from_keras_model with the same settings and a representative_dataset
  generator yielding the same samples one at a time;
- report: `tflkit.convert(..., eval_x=...)` minus the plain call: what the comparison with the
  float32 conversion of the same source costs (it converts to float32 and runs both).
Targets: tflkit / by hand <= 1.1x; the report adds < 1 s on the MLP.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tflkit  # noqa: E402

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def mlp() -> Any:
    tf.keras.utils.set_random_seed(0)
    return tf.keras.Sequential(
        [
            tf.keras.Input((32,)),
            tf.keras.layers.Dense(64, activation="relu"),
            tf.keras.layers.Dense(10, activation="softmax"),
        ]
    )


def cnn() -> Any:
    tf.keras.utils.set_random_seed(0)
    return tf.keras.Sequential(
        [
            tf.keras.Input((28, 28, 1)),
            tf.keras.layers.Conv2D(8, 3, activation="relu"),
            tf.keras.layers.MaxPooling2D(),
            tf.keras.layers.Conv2D(16, 3, activation="relu"),
            tf.keras.layers.MaxPooling2D(),
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dense(10, activation="softmax"),
        ]
    )


def by_hand(model: Any, x: np.ndarray) -> bytes:
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]

    def gen() -> Any:
        for s in range(len(x)):
            yield [x[s : s + 1]]

    conv.representative_dataset = gen
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    return bytes(conv.convert())


def timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    cases = [
        ("MLP", mlp(), np.load(FIXTURES / "mlp_eval_x.npy")[:200]),
        ("CNN 28x28", cnn(), rng.random((200, 28, 28, 1), np.float32)),
    ]
    print(f"int8, 200 calibration samples, median of {args.repeat} alternating runs (s)")
    print("| model | tflkit.convert | TFLiteConverter by hand | ratio | report adds |")
    print("|---|---|---|---|---|")
    for label, model, x in cases:
        tflkit.convert(model, "int8", calibration=x)  # warm-up: TF's first conversion
        by_hand(model, x)
        variants = {
            "tflkit": lambda m=model, d=x: tflkit.convert(m, "int8", calibration=d),
            "hand": lambda m=model, d=x: by_hand(m, d),
            "report": lambda m=model, d=x: tflkit.convert(m, "int8", calibration=d, eval_x=d),
        }
        times: dict[str, list[float]] = {k: [] for k in variants}
        for r in range(args.repeat):
            for k in list(variants) if r % 2 else list(reversed(variants)):
                times[k].append(timed(variants[k]))
        med = {k: statistics.median(v) for k, v in times.items()}
        ratio = med["tflkit"] / med["hand"]
        report = med["report"] - med["tflkit"]
        print(
            f"| {label} | {med['tflkit']:.3f} | {med['hand']:.3f} | {ratio:.2f}x "
            f"{'PASS' if ratio <= 1.1 else 'FAIL'} | {report:.3f} s"
            f"{(' PASS' if report < 1 else ' FAIL') if label == 'MLP' else ''} |"
        )


if __name__ == "__main__":
    main()
