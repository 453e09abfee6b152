"""tflkit.convert and tflkit convert: the same model TFLiteConverter makes when called by hand
with the same settings and data, verified in the same step, and clear errors with nothing
half-written. Needs the [convert] extra (in [dev])."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, ROOT, Cli

tf = pytest.importorskip("tensorflow")

import tflkit  # noqa: E402
from tflkit import ConversionError, InputError  # noqa: E402
from tflkit.conversion import convert  # noqa: E402

X = np.load(FIXTURES / "mlp_eval_x.npy")
Y = np.load(FIXTURES / "mlp_eval_y.npy")


@pytest.fixture(scope="module")
def mlp() -> Any:
    tf.keras.utils.set_random_seed(0)
    return tf.keras.Sequential(
        [
            tf.keras.Input((32,)),
            tf.keras.layers.Dense(64, activation="relu"),
            tf.keras.layers.Dense(10, activation="softmax"),
        ]
    )


@pytest.fixture(scope="module")
def cnn() -> Any:
    tf.keras.utils.set_random_seed(1)
    return tf.keras.Sequential(
        [
            tf.keras.Input((16, 16, 1)),  # weights of 1024+ values: dynamic range quantizes them
            tf.keras.layers.Conv2D(8, 3, activation="relu"),
            tf.keras.layers.Conv2D(16, 3, activation="relu"),
            tf.keras.layers.MaxPooling2D(),
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dense(10, activation="softmax"),
        ]
    )


def _by_hand(model: Any, to: str, data: np.ndarray | None) -> bytes:
    """TFLiteConverter as our users call it, with the same settings and samples."""
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if to != "float32":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if to == "float16":
        conv.target_spec.supported_types = [tf.float16]
    if to in ("int8", "int16x8"):
        assert data is not None

        def gen() -> Any:
            for s in range(len(data)):
                yield [data[s : s + 1].astype(np.float32)]

        conv.representative_dataset = gen
        if to == "int8":
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = conv.inference_output_type = tf.int8
        else:
            conv.target_spec.supported_ops = [
                tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
            ]
            conv.inference_input_type = conv.inference_output_type = tf.int16
    return bytes(conv.convert())


def _details(data: bytes) -> list[tuple[Any, ...]]:
    """Every tensor as LiteRT's interpreter reports it (name, dtype, shape, scales, zps)."""
    from ai_edge_litert.interpreter import Interpreter

    out = []
    for d in Interpreter(model_content=data).get_tensor_details():
        q = d["quantization_parameters"]
        out.append(
            (
                d["name"],
                np.dtype(d["dtype"]).name,
                tuple(d["shape"]),
                tuple(np.asarray(q["scales"]).tolist()),
                tuple(np.asarray(q["zero_points"]).tolist()),
            )
        )
    return out


@pytest.mark.parametrize("to", ["float32", "float16", "dynamic-range", "int8", "int16x8"])
@pytest.mark.parametrize("which", ["mlp", "cnn"])
def test_each_target_equals_the_converter_called_by_hand(
    to: str, which: str, request: pytest.FixtureRequest
) -> None:
    model = request.getfixturevalue(which)
    data = (
        X[:64] if which == "mlp" else np.random.default_rng(2).random((64, 16, 16, 1), np.float32)
    )
    calib = data if to in ("int8", "int16x8") else None
    c = convert(model, to, calibration=calib)
    want = _by_hand(model, to, calib)
    if c.data != want:  # the converter is not byte-deterministic: then every tensor must match
        assert _details(c.data) == _details(want)
    assert tflkit.quantization_kind(c.model) == to
    assert c.kind_ok and c.passed
    assert (c.report is None) == (to in ("float32", "dynamic-range"))
    if c.report is not None:
        assert c.report.profile == to


@pytest.mark.parametrize("form", ["array", "dict", "npy", "npz", "iterable"])
def test_calibration_forms_give_the_same_model(form: str, mlp: Any, tmp_path: Path) -> None:
    data = X[:40]
    name = mlp.inputs[0].name.split(":")[0]
    if form == "array":
        calib: Any = data
    elif form == "dict":
        calib = {name: data}
    elif form == "npy":
        np.save(tmp_path / "c.npy", data)
        calib = tmp_path / "c.npy"
    elif form == "npz":
        np.savez(tmp_path / "c.npz", **{name: data})
        calib = str(tmp_path / "c.npz")
    else:
        calib = (data[i : i + 8] for i in range(0, 40, 8))  # batches of 8
    c = convert(mlp, "int8", calibration=calib)
    assert _details(c.data) == _details(_by_hand(mlp, "int8", data))
    assert c.settings["representative_dataset"]["samples"] == 40


def test_samples_limits_the_calibration(mlp: Any) -> None:
    c = convert(mlp, "int8", calibration=X, samples=25)
    assert c.settings["representative_dataset"]["samples"] == 25
    assert _details(c.data) == _details(_by_hand(mlp, "int8", X[:25]))


def test_io_choices(mlp: Any) -> None:
    from ai_edge_litert.interpreter import Interpreter

    for io, dtype in (("int8", np.int8), ("uint8", np.uint8), ("float32", np.float32)):
        c = convert(mlp, "int8", calibration=X[:32], io=io)
        interp = Interpreter(model_content=c.data)
        assert interp.get_input_details()[0]["dtype"] == dtype, io
        assert interp.get_output_details()[0]["dtype"] == dtype, io
        assert c.passed, (io, c.notes)
    c = convert(mlp, "int16x8", calibration=X[:32], io="float32")
    assert Interpreter(model_content=c.data).get_input_details()[0]["dtype"] == np.float32
    assert c.passed


def test_errors_say_what_was_expected(mlp: Any) -> None:
    with pytest.raises(
        InputError, match="int8 needs calibration data.*never calibrates on random"
    ) as e:
        convert(mlp, "int8")
    assert "Pass calibration='calib.npy'" in str(e.value)  # Python, not the CLI's flags
    with pytest.raises(
        InputError,
        match=r"calibration for input '[^']+': expected shape \(None, 32\) with samples on axis 0, "
        r"got \(10, 31\)",
    ):
        convert(mlp, "int8", calibration=np.zeros((10, 31), np.float32))
    with pytest.raises(InputError, match="calibration: unknown input 'nope'"):
        convert(mlp, "int8", calibration={"nope": X[:4]})
    with pytest.raises(InputError, match="unknown target 'int4'"):
        convert(mlp, "int4")
    with pytest.raises(InputError, match="io 'uint8' does not apply to 'float16'"):
        convert(mlp, "float16", io="uint8")
    with pytest.raises(InputError, match="no such file or directory"):
        convert("/nonexistent/model.keras", "float32")
    with pytest.raises(TypeError, match="expected a Keras model"):
        convert(42, "float32")


def test_an_op_the_int8_set_cannot_express_is_one_line(tmp_path: Path) -> None:
    class Cumprod(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 8], tf.float32)])
        def serve(self, x: Any) -> Any:
            return {"y": tf.math.cumprod(x, axis=1)}

    m = Cumprod()
    tf.saved_model.save(m, str(tmp_path / "sm"), signatures={"serving_default": m.serve})
    with pytest.raises(ConversionError) as err:
        convert(tmp_path / "sm", "int8", calibration=np.ones((4, 1, 8), np.float32)[:, 0])
    message = str(err.value)
    assert "\n" not in message and "Cumprod" in message, message


def test_keras3_quantized_model_is_refused_with_what_to_do(mlp: Any) -> None:
    q = tf.keras.models.clone_model(mlp)
    q.set_weights(mlp.get_weights())
    q.quantize("int8")
    with pytest.raises(
        ConversionError, match=r"model\.quantize\(\).*Convert the float model with to='int8'"
    ):
        convert(q, "int8", calibration=X[:8])


def test_comparison_with_the_float32_conversion(mlp: Any) -> None:
    c = convert(mlp, "int8", calibration=X[:100], eval_x=X[:200], eval_y=Y[:200])
    assert c.comparison is not None
    # the truth: the Keras model's float32 conversion and the int8 result, by hand
    from ai_edge_litert.interpreter import Interpreter

    def outputs(data: bytes) -> np.ndarray:
        interp = Interpreter(model_content=data)
        i, o = interp.get_input_details()[0], interp.get_output_details()[0]
        interp.resize_tensor_input(i["index"], [200, 32])
        interp.allocate_tensors()
        scale, zp = i["quantization"]
        x = X[:200]
        if scale:
            x = np.clip(np.floor(np.abs(x / np.float32(scale)) + 0.5) * np.sign(x) + zp, -128, 127)
        interp.set_tensor(i["index"], x.astype(i["dtype"]))
        interp.invoke()
        y = interp.get_tensor(o["index"]).astype(np.float64)
        oscale, ozp = o["quantization"]
        return (y - ozp) * oscale if oscale else y

    ref, got = outputs(_by_hand(mlp, "float32", None)), outputs(c.data)
    err = c.comparison.models[1].outputs[0]
    np.testing.assert_allclose(err.max_abs, np.abs(got - ref).max(), rtol=1e-6)
    assert err.mse == pytest.approx(float(np.mean((got - ref) ** 2)), rel=1e-6)


# ---------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def keras_file(mlp: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keras") / "mlp.keras"
    mlp.save(path)
    return path


def test_cli_convert_json_and_exit_codes(keras_file: Path, tmp_path: Path, cli: Cli) -> None:
    out = tmp_path / "m_int8.tflite"
    calib = str(FIXTURES / "mlp_eval_x.npy")
    proc = cli.invoke(
        "convert",
        str(keras_file),
        "-o",
        str(out),
        "--to",
        "int8",
        "-c",
        calib,
        "--json",
        entry="-m",
    )
    assert proc.exit_code == 0, proc.stderr
    doc = json.loads(proc.stdout)  # stdout is the document alone: TF's prints are not there
    import jsonschema

    schema = json.loads(
        resources.files("tflkit").joinpath("schemas/convert.schema.json").read_text()
    )
    jsonschema.validate(doc, schema)
    check_schema = json.loads(
        resources.files("tflkit").joinpath("schemas/check.schema.json").read_text()
    )
    jsonschema.validate(doc["check"], check_schema)
    assert (
        doc["passed"]
        and doc["quantization_kind"] == "int8"
        and doc["size_bytes"] == out.stat().st_size
    )
    assert tflkit.quantization_kind(out) == "int8"
    assert proc.stderr.strip() == "", proc.stderr  # TensorFlow's log lines are filtered

    again = cli.invoke(
        "convert", str(keras_file), "-o", str(out), "--to", "int8", "-c", calib, entry="-m"
    )
    assert again.exit_code == 2 and "exists; add --force" in again.stderr
    # In this process (TensorFlow is loaded already), to see what rich wraps; the output named
    # relative to the working directory, so that the machine's temporary path is not in it.
    forced = cli.invoke(
        "convert", keras_file, "-o", out.name, "--to", "float16", "--force", cwd=out.parent
    )
    assert forced.exit_code == 0 and tflkit.quantization_kind(out) == "float16"
    assert all(len(line) <= 80 and line == line.rstrip() for line in forced.stdout.splitlines())
    assert not forced.wrapped, forced.wrapped
    lines = forced.stdout.splitlines()
    # the lines that name the output are each one line (its file name kept)
    wrote = next(line for line in lines if line.startswith("wrote "))
    assert f"{out.name} (" in wrote and wrote.endswith(" s") and ", float16, " in wrote
    verdict = next(line for line in lines if line.startswith("PASS  "))
    assert verdict.endswith(f"{out.name}  profile float16")


def test_cli_errors_write_nothing(keras_file: Path, tmp_path: Path, cli: Cli) -> None:
    out = tmp_path / "nothing.tflite"
    for args in (
        ["--to", "int8"],  # no calibration
        ["--to", "int8", "-c", str(FIXTURES / "mlp_eval_y.npy")],  # labels: wrong shape
        ["--to", "bogus"],
    ):
        proc = cli.invoke("convert", str(keras_file), "-o", str(out), *args, entry="-m")
        assert proc.exit_code == 2, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
        assert not out.exists() and not list(tmp_path.glob(".tflkit-*"))
        if args == ["--to", "int8"]:  # the library's calibration='calib.npy', in flags
            assert "--calibration calib.npy" in proc.stderr and "=" not in proc.stderr
    missing = cli.invoke("convert", str(tmp_path / "none.keras"), "-o", str(out), entry="-m")
    assert missing.exit_code == 2 and "no such file" in missing.stderr


def test_qat_model_converts_without_calibration(tmp_path: Path) -> None:
    # tf_keras + tensorflow-model-optimization need TF_USE_LEGACY_KERAS=1 before TensorFlow loads
    script = f"""
import os
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import numpy as np, tf_keras as keras, tensorflow_model_optimization as tfmot, tflkit
keras.utils.set_random_seed(0)
base = keras.Sequential([keras.Input((32,)), keras.layers.Dense(16, activation="relu"),
                         keras.layers.Dense(10, activation="softmax")])
qat = tfmot.quantization.keras.quantize_model(base)
qat.compile("adam", "sparse_categorical_crossentropy")
x = np.load({str(FIXTURES / "mlp_eval_x.npy")!r}); y = np.load({str(FIXTURES / "mlp_eval_y.npy")!r})
qat.fit(x, y, epochs=1, verbose=0)
c = tflkit.convert(qat, "int8")
print(c.passed, tflkit.quantization_kind(c.model), c.settings["quantization_aware_training"],
      c.settings["representative_dataset"])
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-4:] == ["True", "int8", "True", "None"], proc.stdout


def test_compare_with_the_keras_model_itself_as_reference(
    mlp: Any, keras_file: Path, tmp_path: Path
) -> None:
    from ai_edge_litert.interpreter import Interpreter

    int8 = convert(mlp, "int8", calibration=X[:100])
    path = tmp_path / "m_int8.tflite"
    int8.save(path)
    x = X[:64]
    for ref in (mlp, keras_file):  # the model object and its .keras file
        c = tflkit.compare([ref, path], x, speed=False)
        assert c.reference_outputs is not None and "TensorFlow" in c.reference_outputs
        # the truth: Keras's own predict, and the int8 model by hand, one sample at a time
        want = mlp.predict(x, verbose=0).astype(np.float64)
        interp = Interpreter(model_path=str(path))
        interp.allocate_tensors()
        i, o = interp.get_input_details()[0], interp.get_output_details()[0]
        (s, zp), (os_, ozp) = i["quantization"], o["quantization"]
        got = []
        for k in range(len(x)):
            q = np.floor(np.abs(x[k : k + 1] / np.float32(s)) + 0.5) * np.sign(x[k : k + 1]) + zp
            interp.set_tensor(i["index"], np.clip(q, -128, 127).astype(np.int8))
            interp.invoke()
            got.append((interp.get_tensor(o["index"]).astype(np.float64) - ozp) * os_)
        got_arr = np.concatenate(got)
        err = c.models[0].outputs[0]
        assert err.mse == pytest.approx(float(np.mean((got_arr - want) ** 2)), rel=1e-5)
        np.testing.assert_allclose(err.max_abs, np.abs(got_arr - want).max(), rtol=1e-5)


def test_cli_compare_with_a_keras_reference(keras_file: Path, tmp_path: Path, cli: Cli) -> None:
    out = tmp_path / "f16.tflite"
    assert (
        cli.invoke(
            "convert", str(keras_file), "-o", str(out), "--to", "float16", entry="-m"
        ).exit_code
        == 0
    )
    proc = cli.invoke(
        "compare",
        str(keras_file),
        str(out),
        "--data",
        str(FIXTURES / "mlp_eval_x.npy"),
        "--no-speed",
        "--json",
        entry="-m",
    )
    assert proc.exit_code == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert "run through TensorFlow" in doc["reference_outputs"]
    assert [m["path"] for m in doc["models"]] == [str(out)]


def test_a_float_tflite_is_quantized_without_tensorflow(tmp_path: Path, cli: Cli) -> None:
    from tflkit._quantizer import quantize_tflite

    src = FIXTURES / "mlp_float32.tflite"
    c = convert(src, "int8", calibration=X[:100], eval_x=X[:100])
    assert c.settings["from"] == "litert-quantizer" and c.passed
    assert tflkit.quantization_kind(c.model) == "int8"
    # the truth: the library called by the tested wrapper's own contract, one sample a dict
    samples = [{"keras_tensor": X[k : k + 1]} for k in range(100)]
    assert c.data == quantize_tflite(src.read_bytes(), "int8", calibration=samples)[0]
    assert c.comparison is not None and c.comparison.models[1].outputs[0].top1_agreement > 0.9
    out = tmp_path / "q.tflite"
    proc = cli.invoke(
        "convert", str(src), "-o", str(out), "--to", "dynamic-range", "--json", entry="-m"
    )
    assert proc.exit_code == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["made_by"] == "litert-quantizer" and doc["quantization_kind"] == "dynamic-range"
    refused = cli.invoke(
        "convert", str(FIXTURES / "mlp_int8.tflite"), "-o", str(tmp_path / "x.tflite"), entry="-m"
    )
    assert refused.exit_code == 2 and "expected a float32 .tflite" in refused.stderr
