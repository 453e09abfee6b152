"""Accuracy-aware int8 (issue 21): the search's cost against one plain int8 conversion, and
which ranking keeps fewer operators out of int8.

    python bench/selective_bench.py [--repeat 3] [--skip-ranking]

Needs the `[convert]` and `[quantize]` extras. Two measurements, side by side in one run:

1. **cost**, on a MobileNetV2-like CNN (inverted residual blocks with ReLU, 32x32x3 input,
   random weights from a fixed seed, ~60 operators; labels are the float model's own top-1 on
   500 random eval inputs, so float32 scores 100%): the wall time of
   `tflkit.convert(model, "int8", calibration=C, eval_x=X, eval_y=Y)` (one plain int8
   conversion, the float32 conversion and one evaluation of both) against the same call with
   `max_drop=1.0` (the search), interleaved, `--repeat` times; median ratio. The target of the
   issue: at most 10x. Also how many models the search built and where its time went
   (`Conversion.search.seconds`).
2. **ranking**, on the fixtures `outlier_mlp` and `outlier_cnn` (both routes: the .keras file
   through TFLiteConverter, the float .tflite through litert-quantizer) and the CNN above:
   operators kept out of int8 and models built with the `local` ranking (each tensor's own
   int8 round-trip noise, the default) and the `accumulated` one (the plain int8 model's tensor
   against the float one, as `compare --per-tensor` measures it), target max_drop 1.0; and
   litert-quantizer's route with the int16 fallback (int16 activations, int8 weights), to see
   which route and fallback give the smaller model at the target.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
sys.path.insert(0, str(ROOT))

import tflkit  # noqa: E402


def mobilenet_like(seed: int = 0) -> Any:
    """Inverted residual blocks (expand 1x1, depthwise 3x3, project 1x1, add when shapes
    match), ReLU activations: ~60 TFLite operators after conversion."""
    import keras

    keras.utils.set_random_seed(seed)
    layers = keras.layers
    x_in = keras.Input((32, 32, 3))
    he = "he_normal"  # activations stay near 1 through the blocks (no batch norm here)
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", kernel_initializer=he)(
        x_in
    )
    spec = [(16, 1), (24, 2), (24, 1), (32, 2), (32, 1), (32, 1), (48, 1), (48, 1), (64, 2),
            (64, 1), (64, 1), (96, 1), (96, 1), (128, 1)]  # fmt: skip
    channels = 16
    for out, stride in spec:
        h = layers.Conv2D(channels * 4, 1, activation="relu", kernel_initializer=he)(x)
        h = layers.DepthwiseConv2D(
            3, strides=stride, padding="same", activation="relu", depthwise_initializer=he
        )(h)
        h = layers.Conv2D(out, 1, kernel_initializer=he)(h)
        x = layers.Add()([x, h]) if stride == 1 and out == channels else h
        channels = out
    x = layers.Conv2D(256, 1, activation="relu", kernel_initializer=he)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(10)(x)
    return keras.Model(x_in, x)


def cnn_data(model: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    calib = rng.random((200, 32, 32, 3), dtype=np.float32)
    x = rng.random((500, 32, 32, 3), dtype=np.float32)
    y = np.argmax(model.predict(x, verbose=0), axis=1).astype(np.int32)
    return calib, x, y


def timed(fn: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def cost(repeat: int) -> None:
    model = mobilenet_like()
    calib, x, y = cnn_data(model)
    plain: list[float] = []
    search: list[float] = []
    last = None
    for _ in range(repeat):
        t, _ = timed(lambda: tflkit.convert(model, "int8", calibration=calib, eval_x=x, eval_y=y))
        plain.append(t)
        t, last = timed(
            lambda: tflkit.convert(
                model, "int8", calibration=calib, eval_x=x, eval_y=y, max_drop=1.0
            )
        )
        search.append(t)
    assert last is not None and last.search is not None
    s = last.search
    ops = len(tflkit.load(last.data).primary.operators)
    ratios = [b / a for a, b in zip(plain, search, strict=True)]
    print(f"MobileNetV2-like CNN: {ops} operators in the result, 500 eval samples")
    print(f"  plain int8 convert + eval: median {statistics.median(plain):.2f} s")
    print(f"  --max-drop 1 search:       median {statistics.median(search):.2f} s")
    print(
        f"  ratio search / plain: median {statistics.median(ratios):.2f}x "
        f"(runs: {', '.join(f'{r:.2f}' for r in ratios)}); target <= 10x"
    )
    plain_step = s.plain
    print(
        f"  float32 {100 * (s.reference_accuracy or 0):.1f}%, plain int8 "
        f"{100 * (plain_step.accuracy or 0) if plain_step else float('nan'):.1f}%, result "
        f"{100 * (s.result.accuracy or 0):.1f}% with {len(s.result.kept)} ops kept out; "
        f"met {s.met}; {s.conversions} models built"
    )
    print(f"  where the search's time went (last run): {s.seconds}")


def ranking() -> None:
    from tflkit import _quantizer, _search, _selective
    from tflkit._source import tensorflow

    tf = tensorflow()
    rows = []
    cases: list[tuple[str, Any, np.ndarray, np.ndarray, np.ndarray]] = []
    for name in ("outlier_mlp", "outlier_cnn"):
        if not (FIXTURES / f"{name}.keras").exists():
            print(f"  ({name} fixture missing: skipped)")
            continue
        import keras

        model = keras.models.load_model(FIXTURES / f"{name}.keras")
        calib = np.load(FIXTURES / f"{name}_calib.npy")
        x = np.load(FIXTURES / f"{name}_eval_x.npy")
        y = np.load(FIXTURES / f"{name}_eval_y.npy")
        cases.append((name, model, calib, x, y))
    cnn = mobilenet_like()
    cases.append(("mobilenet-like", cnn, *cnn_data(cnn)))
    for name, model, calib, x, y in cases:
        float32 = bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())

        def rep(calib: np.ndarray = calib) -> Any:
            for i in range(len(calib)):
                yield [calib[i : i + 1]]

        sig_input = tflkit.load(float32).signatures[0].inputs[0].name
        routes = [
            _selective.ConverterRoute(
                lambda model=model: tf.lite.TFLiteConverter.from_keras_model(model),
                rep,
                "int8",
                RuntimeError,
            ),
            _quantizer.QuantizerRoute(
                float32, [{sig_input: calib[i : i + 1]} for i in range(len(calib))]
            ),
        ]
        evaluation = _search.Evaluation(float32, x, y, max_drop=1.0, min_snr=None)
        variants = [(r, how, "float") for r in routes for how in ("local", "accumulated")]
        variants.append((routes[1], "local", "int16"))
        for route, how, fallback in variants:
            if True:
                t, (s, _) = timed(
                    lambda route=route, how=how, fallback=fallback, evaluation=evaluation: (
                        _search.run_search(
                            route,
                            evaluation,
                            target="max_drop",
                            limit=1.0,
                            fallback=fallback,
                            ranking_by=how,
                        )
                    )
                )
                rows.append(
                    (
                        name,
                        f"{route.name} ({fallback})",
                        how,
                        len(s.result.kept),
                        s.conversions,
                        s.met,
                        t,
                        s.result.size_bytes / 1024,
                        100 * (s.result.accuracy or 0.0),
                    )
                )
    print(
        "| model | route (fallback) | ranking | ops kept out | models built | met | "
        "size KiB | accuracy % | search s |"
    )
    print("|---|---|---|--:|--:|---|--:|--:|--:|")
    for r in rows:
        print(
            f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]} | {r[7]:.1f} | {r[8]:.1f} "
            f"| {r[6]:.1f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-ranking", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    cost(args.repeat)
    if not args.skip_ranking:
        ranking()


if __name__ == "__main__":
    main()
