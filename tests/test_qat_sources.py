"""Quantization-aware trained models (tf_keras + tensorflow-model-optimization) in every saved
form: .h5, tf_keras .keras, a SavedModel from tf_keras ``model.save(dir)`` and one from
``tf.saved_model.save``. Each converts without calibration to exactly what TFLiteConverter
makes by hand (from the model in memory, and from the file loaded under ``quantize_scope``),
and each is ``compare``'s reference with the MSE worked out by hand from the model's own
``predict`` and the LiteRT interpreter.

The models are built in a child process: tf_keras + tfmot want TF_USE_LEGACY_KERAS=1 before
TensorFlow loads, and the truths are made there, with nothing of tflkit imported.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, ROOT, Cli

import tflkit

# found, not imported: tfmot's import sets TF_USE_LEGACY_KERAS=1 for the whole test process
if not all(importlib.util.find_spec(m) for m in ("tensorflow_model_optimization", "tf_keras")):
    pytest.skip("needs tf_keras and tensorflow-model-optimization", allow_module_level=True)

X = FIXTURES / "mlp_eval_x.npy"
FORMS = ("qat.h5", "qat.keras", "qat_savedmodel", "qat_tf_savedmodel")

BUILD = r"""
import os, sys
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import numpy as np, tensorflow as tf, tf_keras as keras
import tensorflow_model_optimization as tfmot

out, x_path = sys.argv[1], sys.argv[2]
keras.utils.set_random_seed(0)
base = keras.Sequential([keras.Input((32,)), keras.layers.Dense(16, activation="relu"),
                         keras.layers.Dense(10, activation="softmax")])
qat = tfmot.quantization.keras.quantize_model(base)
qat.compile("adam", "sparse_categorical_crossentropy")
x = np.load(x_path)
qat.fit(x, np.load(sys.argv[3]), epochs=1, verbose=0)
qat.save(os.path.join(out, "qat.h5"))
qat.save(os.path.join(out, "qat.keras"))
qat.save(os.path.join(out, "qat_savedmodel"))           # tf_keras: a SavedModel directory
tf.saved_model.save(qat, os.path.join(out, "qat_tf_savedmodel"))  # no Keras metadata
np.save(os.path.join(out, "predict.npy"), qat.predict(x[:64], verbose=0))
inp = keras.Input((32,))  # Python bytecode in a .h5: a Lambda after the QAT model
keras.Model(inp, keras.layers.Lambda(lambda t: t * 2.0)(qat(inp))).save(
    os.path.join(out, "qat_lambda.h5"))

def by_hand(conv, name):
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    with open(os.path.join(out, name), "wb") as f:
        f.write(conv.convert())

by_hand(tf.lite.TFLiteConverter.from_keras_model(qat), "in_memory.tflite")
for name in ("qat.h5", "qat_savedmodel"):
    with tfmot.quantization.keras.quantize_scope():
        loaded = keras.models.load_model(os.path.join(out, name), compile=False)
    by_hand(tf.lite.TFLiteConverter.from_keras_model(loaded), name + ".tflite")
by_hand(tf.lite.TFLiteConverter.from_saved_model(os.path.join(out, "qat_tf_savedmodel")),
        "qat_tf_savedmodel.tflite")
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("qat")
    proc = subprocess.run(
        [sys.executable, "-c", BUILD, str(out), str(X), str(FIXTURES / "mlp_eval_y.npy")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def expected_bytes(built: Path, form: str) -> bytes:
    """TFLiteConverter by hand: from the file loaded under quantize_scope where tf_keras can
    (tfmot 0.8.1 cannot load its own .keras files: the in-memory model's conversion is the
    truth there), from_saved_model for a SavedModel without Keras metadata."""
    name = {"qat.keras": "in_memory.tflite"}.get(form, form + ".tflite")
    return (built / name).read_bytes()


def tensor_facts(data: bytes) -> list[tuple[Any, ...]]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=data)
    return sorted(
        (
            d["name"],
            np.dtype(d["dtype"]).name,
            tuple(d["shape"]),
            tuple(np.asarray(d["quantization_parameters"]["scales"]).tolist()),
            tuple(np.asarray(d["quantization_parameters"]["zero_points"]).tolist()),
        )
        for d in interp.get_tensor_details()
    )


def test_the_files_by_hand_convert_as_the_model_in_memory(built: Path) -> None:
    # the truth itself: loading under quantize_scope changes nothing of the conversion
    in_memory = (built / "in_memory.tflite").read_bytes()
    assert (built / "qat.h5.tflite").read_bytes() == in_memory
    assert (built / "qat_savedmodel.tflite").read_bytes() == in_memory


@pytest.mark.parametrize("form", FORMS)
def test_each_saved_form_converts_without_calibration(built: Path, form: str) -> None:
    legacy = os.environ.get("TF_USE_LEGACY_KERAS")
    c = tflkit.convert(built / form, "int8")
    # tfmot's import sets TF_USE_LEGACY_KERAS=1 in os.environ: put back
    assert os.environ.get("TF_USE_LEGACY_KERAS") == legacy
    if legacy is None:  # and tf.keras stays Keras 3 (tfmot would have made it tf_keras)
        import tensorflow as tf

        assert getattr(tf.keras, "version", lambda: "2")().startswith("3")
    want = expected_bytes(built, form)
    assert tensor_facts(c.data) == tensor_facts(want)  # dtype, scales, zero points by name
    assert c.data == want  # the converter is deterministic: the very bytes
    assert c.passed and c.kind == "int8"
    assert c.settings["quantization_aware_training"] is True
    assert c.settings["representative_dataset"] is None
    if form != "qat_tf_savedmodel":  # tfmot's layers: read with tf_keras, not Keras 3
        assert "quantize_scope" in c.settings["loaded_with"]
        assert c.settings["from"] == "TFLiteConverter.from_keras_model"
    else:
        assert c.settings["from"] == "TFLiteConverter.from_saved_model"


def hand_outputs(tflite: Path, x: np.ndarray) -> np.ndarray:
    """The int8 model on x one sample at a time, quantized and dequantized by hand (TFLite
    rounds half away from zero)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(tflite))
    interp.allocate_tensors()
    i, o = interp.get_input_details()[0], interp.get_output_details()[0]
    (s, zp), (os_, ozp) = i["quantization"], o["quantization"]
    got = []
    for k in range(len(x)):
        v = x[k : k + 1] / np.float32(s)
        q = np.floor(np.abs(v) + 0.5) * np.sign(v) + zp
        interp.set_tensor(i["index"], np.clip(q, -128, 127).astype(np.int8))
        interp.invoke()
        got.append((interp.get_tensor(o["index"]).astype(np.float64) - ozp) * os_)
    return np.concatenate(got)


@pytest.mark.parametrize("form", FORMS)
def test_each_saved_form_is_the_reference_of_compare(built: Path, form: str) -> None:
    x = np.load(X)[:64]
    int8 = built / "in_memory.tflite"
    c = tflkit.compare([built / form, int8], x, speed=False)
    assert c.reference_outputs is not None and "TensorFlow" in c.reference_outputs
    want = np.load(built / "predict.npy").astype(np.float64)  # tf_keras's own predict
    got = hand_outputs(int8, x)
    err = c.models[0].outputs[0]
    assert err.mse == pytest.approx(float(np.mean((got - want) ** 2)), rel=1e-4)
    np.testing.assert_allclose(err.max_abs, np.abs(got - want).max(), rtol=1e-4)


def test_cli_convert_and_compare(built: Path, tmp_path: Path, cli: Cli) -> None:
    out = tmp_path / "qat_int8.tflite"
    proc = cli.invoke("convert", str(built / "qat.h5"), "-o", str(out), "--json", entry="-m")
    assert proc.exit_code == 0, proc.stderr[-2000:]
    assert out.read_bytes() == expected_bytes(built, "qat.h5")
    assert json.loads(proc.stdout)["settings"]["quantization_aware_training"] is True
    proc = cli.invoke(
        "compare", str(built / "qat.keras"), str(out), "--data", str(X), "--no-speed", entry="-m"
    )
    assert proc.exit_code == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


def error_lines(stderr: str) -> list[str]:
    # TensorFlow's own C++ log lines may come first (quieting them is not this module's part)
    return [line for line in stderr.splitlines() if line.startswith("tflkit: ")]


WITHOUT_TFMOT = """
import sys
sys.modules["tensorflow_model_optimization"] = None  # import raises ImportError
from tflkit.cli import main
sys.argv = ["tflkit", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize("form", ["qat.h5", "qat.keras", "qat_savedmodel"])
def test_without_tfmot_one_line_with_the_install_command(
    built: Path, tmp_path: Path, form: str
) -> None:
    out = tmp_path / "x.tflite"
    proc = subprocess.run(
        [sys.executable, "-c", WITHOUT_TFMOT, "convert", str(built / form), "-o", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    (line,) = error_lines(proc.stderr)
    assert "tensorflow-model-optimization" in line and "pip install" in line
    assert not out.exists()


def broken_keras(built: Path, tmp_path: Path) -> Path:
    """The .keras file without its weights: its config still names tfmot's layers."""
    path = tmp_path / "no_weights.keras"
    with zipfile.ZipFile(built / "qat.keras") as src, zipfile.ZipFile(path, "w") as dst:
        for name in src.namelist():
            if name != "model.weights.h5":
                dst.writestr(name, src.read(name))
    return path


def broken_savedmodel(built: Path, tmp_path: Path) -> Path:
    """tf_keras's SavedModel with its variables gone."""
    import shutil

    path = tmp_path / "no_variables"
    shutil.copytree(built / "qat_savedmodel", path)
    shutil.rmtree(path / "variables")
    return path


def truncated_h5(built: Path, tmp_path: Path) -> Path:
    path = tmp_path / "truncated.h5"
    path.write_bytes((built / "qat.h5").read_bytes()[:5000])
    return path


@pytest.mark.parametrize("make", [broken_keras, broken_savedmodel, truncated_h5])
def test_unreadable_qat_files_are_one_input_error(
    built: Path, tmp_path: Path, make: Any, cli: Cli
) -> None:
    path = make(built, tmp_path)
    with pytest.raises(tflkit.InputError, match=f"^{path}: "):
        tflkit.convert(path, "int8")
    with pytest.raises(tflkit.InputError, match=f"^{path}: "):
        tflkit.compare([path, built / "in_memory.tflite"], np.load(X)[:8], speed=False)
    out = tmp_path / "x.tflite"
    proc = cli.invoke("convert", str(path), "-o", str(out))
    assert proc.exit_code == 2 and "Traceback" not in proc.stderr
    (line,) = error_lines(proc.stderr)
    assert str(path) in line and not out.exists()


def test_a_lambda_in_a_qat_h5_is_refused(built: Path) -> None:
    # tf_keras reads .h5 Lambda bytecode unless safe mode is set around the load
    with pytest.raises(tflkit.InputError, match="Lambda layer with a Python `lambda`"):
        tflkit.convert(built / "qat_lambda.h5", "int8", trust_source=True)
