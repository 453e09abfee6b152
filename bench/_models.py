"""Models the benchmarks build (random weights, fixed seeds, no downloads), cached in _work/."""

from __future__ import annotations

import os
from pathlib import Path

WORK = Path(__file__).resolve().parent / "_work"


def mobilenet(kind: str = "int8") -> Path:
    """MobileNetV2 (alpha 1.0, 224x224x3) converted as full int8 (int8 I/O) or float16."""
    path = WORK / f"mobilenet_v2_{kind}.tflite"
    if path.exists():
        return path
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    model = tf.keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if kind == "float16":
        conv.target_spec.supported_types = [tf.float16]
    else:
        rng = np.random.default_rng(0)
        conv.representative_dataset = lambda: (
            [rng.random((1, 224, 224, 3), dtype=np.float32)] for _ in range(4)
        )
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = conv.inference_output_type = tf.int8
    WORK.mkdir(exist_ok=True)
    path.write_bytes(conv.convert())
    return path
