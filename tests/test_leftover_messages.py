"""Messages that named the wrong thing: ``compare`` with a Keras reference and no TensorFlow
said converting needs it (compare runs the reference through TensorFlow, it converts nothing),
and ``to_explorer`` on a comparison without per-tensor errors pointed at ``per_tensor=True``,
which neither ``compare_stream`` nor ``tflkit.ray.compare`` takes."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

import tflkit
from tflkit import ConversionError, InputError

MODEL = ROOT / "tests" / "corpus" / "models" / "aeq__conv_fc_mnist.tflite"  # (-1, 28, 28, 1)


def test_a_keras_reference_without_tensorflow_says_compare_runs_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # import tensorflow: ImportError
    x = np.zeros((2, 28, 28, 1), np.float32)
    with pytest.raises(ConversionError) as info:
        tflkit.compare([str(tmp_path / "ref.keras"), MODEL], x)
    text = str(info.value)
    assert "running a Keras model or SavedModel as compare's reference needs TensorFlow" in text
    assert "converting" not in text


def test_to_explorer_without_per_tensor_names_the_call_that_computes_them(
    tmp_path: Path,
) -> None:
    x = np.random.default_rng(0).random((2, 28, 28, 1), dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        comparison = tflkit.compare([MODEL, MODEL], x)
    with pytest.raises(InputError) as info:
        comparison.to_explorer(tmp_path / "out")
    text = str(info.value)
    assert "tflkit.compare(..., per_tensor=True)" in text
    assert "compare_stream and tflkit.ray.compare do not" in text
