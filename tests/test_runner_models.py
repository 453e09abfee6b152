"""The Runner on models the way people ship them: dynamic shapes that only allocate after a
resize, XNNPACK refusing a model, float I/O quantized inside the graph, broken names and zero
points the runtime would crash on. Truth: LiteRT's own interpreter driven by hand."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, MODELS, Cli, edited

import tflkit
from tflkit import DelegateWarning, InvalidModelError, SaturationWarning, UnsupportedModelError

AUDIO = FIXTURES / "audio_frontend_dynamic.tflite"


def _interp(path: Path | bytes, *, builtin: bool = False) -> Any:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kwargs: dict[str, Any] = {}
    if builtin:
        kwargs["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    if isinstance(path, bytes):
        return Interpreter(model_content=path, **kwargs)
    return Interpreter(model_path=str(path), **kwargs)


def _hand_resize_loop(x: np.ndarray, *, builtin: bool = False) -> np.ndarray:
    """Per sample: resize_tensor_input to (1, samples), allocate, set_tensor, invoke."""
    interp = _interp(AUDIO, builtin=builtin)
    i, o = interp.get_input_details()[0], interp.get_output_details()[0]
    interp.resize_tensor_input(i["index"], [1, x.shape[1]])
    interp.allocate_tensors()
    rows = []
    for s in range(x.shape[0]):
        interp.set_tensor(i["index"], x[s : s + 1].astype(np.float32))
        interp.invoke()
        rows.append(interp.get_tensor(o["index"]))
    return np.concatenate(rows)


# ------------------------------------------------------------------ dynamic shapes


def test_the_audio_fixture_fails_at_its_stored_shape_with_the_plain_interpreter() -> None:
    # The fixture must reproduce the failure, or the tests below prove nothing.
    entry = MODELS["audio_frontend_dynamic.tflite"]
    assert entry["inputs"][0]["shape"] == [1, 1]
    assert entry["inputs"][0]["shape_signature"] == [-1, -1]
    interp = _interp(AUDIO)
    with pytest.raises(RuntimeError, match="XNNPack delegate failed"):
        interp.allocate_tensors()


@pytest.mark.parametrize("batch", [1, 3])
def test_dynamic_model_runs_at_the_first_predicts_shape(batch: int) -> None:
    runner = tflkit.Runner(AUDIO)  # must not allocate at [1, 1]
    assert runner.delegate == "xnnpack"
    x = np.random.default_rng(batch).standard_normal((batch, 1280)).astype(np.float32)
    got = runner.predict(x)
    want = _hand_resize_loop(x)
    assert got.shape == want.shape == (batch, 39, 8)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert runner.delegate == "xnnpack"


def test_dynamic_model_follows_new_shapes_and_float64_input() -> None:
    runner = tflkit.Runner(AUDIO)
    rng = np.random.default_rng(7)
    for shape in [(1, 1280), (2, 640), (1, 1280), (1, 2000)]:
        x = rng.standard_normal(shape)  # float64: cast as the runtime's float32
        np.testing.assert_allclose(runner.predict(x), _hand_resize_loop(x), rtol=1e-5, atol=1e-6)


class _XnnpackRefuses:
    """An interpreter whose default-delegate allocation fails the way XNNPACK does."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def allocate_tensors(self) -> None:
        raise RuntimeError(
            "XNNPack delegate failed to reshape runtimeNode number 4 (TfLiteXNNPackDelegate) "
            "failed to prepare."
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def test_xnnpack_failure_at_the_real_shape_falls_back_to_builtin_kernels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    def make(**kwargs: Any) -> Any:
        real = Interpreter(**kwargs)
        builtin = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        if kwargs.get("experimental_op_resolver_type") == builtin:
            return real
        return _XnnpackRefuses(real)

    make.__module__ = Interpreter.__module__  # where the Runner looks up OpResolverType
    import tflkit._interpreter

    monkeypatch.setattr(tflkit._interpreter, "interpreter_class", lambda: make)
    x = np.random.default_rng(1).standard_normal((3, 1280)).astype(np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runner = tflkit.Runner(AUDIO)
        first = runner.predict(x)
        second = runner.predict(x[:1])
    delegate_warnings = [w for w in caught if issubclass(w.category, DelegateWarning)]
    assert len(delegate_warnings) == 1  # said once
    message = str(delegate_warnings[0].message)
    assert "XNNPack delegate failed to reshape runtime" in message and "builtin kernels" in message
    assert delegate_warnings[0].filename == __file__  # points at the user's call
    assert runner.delegate is None
    want = _hand_resize_loop(x, builtin=True)
    np.testing.assert_allclose(first, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(second, want[:1], rtol=1e-5, atol=1e-6)


def test_a_shape_no_kernel_can_prepare_is_an_unsupported_model_error_naming_it() -> None:
    data = edited(
        "audio_frontend_dynamic.tflite", lambda m: _set_conv_stride(m, 0)
    )  # stride 0: CONV_2D's Prepare refuses it on every resolver
    runner = tflkit.Runner(data)
    with pytest.raises(
        UnsupportedModelError, match=r"cannot prepare the model for input shape \(1, 1280\)"
    ):
        runner.predict(np.zeros((1, 1280), np.float32))


def _set_conv_stride(model: Any, stride: int) -> None:
    from ai_edge_litert import schema_py_generated as schema

    for sg in model.subgraphs:
        for op in sg.operators:
            code = model.operatorCodes[op.opcodeIndex]
            if max(code.builtinCode, code.deprecatedBuiltinCode) == schema.BuiltinOperator.CONV_2D:
                op.builtinOptions.strideW = stride


# ------------------------------------------------------------------ float I/O, int8 inside


def test_float_io_model_warns_when_its_quantize_op_clips() -> None:
    path = FIXTURES / "mlp_int8_float_io.tflite"
    interp = _interp(path, builtin=True)
    details = {d["index"]: d for d in interp.get_tensor_details()}
    quantize_out = next(
        details[op["outputs"][0]] for op in interp._get_ops_details() if op["op_name"] == "QUANTIZE"
    )
    scale, zp = quantize_out["quantization"]
    x = np.random.default_rng(2).uniform(0, 255, (40, 32)).astype(np.float32)  # pixels, not [0, 1)
    # By hand: QUANTIZE saturates above (127 - zp + 0.5) * scale (no exact ties in this data)
    high = int(np.count_nonzero(x / np.float32(scale) + zp > 127.5))
    assert high > 0.5 * x.size
    runner = tflkit.Runner(path)
    with pytest.warns(SaturationWarning, match=r"QUANTIZE op inside the model.*\[0, 0\.99"):
        runner.predict(x)
    stats = runner.saturation[runner.input_names[0]]
    assert (stats.total, stats.saturated_high, stats.saturated_low) == (x.size, high, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        runner.predict(x[:1] / 255)  # in range: no warning; the one-sample path counts too
    assert runner.saturation[runner.input_names[0]].saturated == 0


def test_float_io_one_sample_path_warns_too() -> None:
    runner = tflkit.Runner(FIXTURES / "mlp_int8_float_io.tflite")
    with pytest.warns(SaturationWarning, match="QUANTIZE op inside the model"):
        runner.predict(np.full((1, 32), 200.0, np.float32))


# ------------------------------------------------------------------ broken files


def _uint8_input_zero_point(model: Any, zp: int) -> None:
    sg = model.subgraphs[0]
    sg.tensors[sg.inputs[0]].quantization.zeroPoint = [zp]


def test_out_of_range_zero_point_is_refused_before_the_runtime_crashes(tmp_path: Path) -> None:
    data = edited("cnn_uint8_io.tflite", lambda m: _uint8_input_zero_point(m, 654311424))
    path = tmp_path / "bad_zp.tflite"
    path.write_bytes(data)
    # The truth: LiteRT itself dies on this file (SIGSEGV in allocate_tensors)
    code = (
        "from ai_edge_litert.interpreter import Interpreter; "
        f"Interpreter(model_path={str(path)!r}).allocate_tensors()"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert proc.returncode < 0, proc.returncode  # killed by a signal
    with pytest.raises(
        InvalidModelError, match=r"zero point 654311424 is outside uint8's range 0\.\.255"
    ):
        tflkit.Runner(path)
    tflkit.load(path)  # still inspectable


def _bad_utf8_name(model: Any) -> None:
    sg = model.subgraphs[0]
    sg.tensors[sg.inputs[0]].name = b"serving_default_\xf5x:0"


def test_a_name_that_is_not_utf8_is_an_invalid_model_error() -> None:
    data = edited("mlp_float32.tflite", _bad_utf8_name)
    with pytest.raises(UnicodeDecodeError):  # the truth: the runtime's Python layer
        _interp(data).get_input_details()
    with pytest.raises(InvalidModelError, match="not valid UTF-8"):
        tflkit.Runner(data)
    assert "\ufffd" in tflkit.load(data).inputs[0].name  # load() still reads it


# ------------------------------------------------------------------ the one-sample path


@pytest.mark.parametrize(
    "name", ["mlp_int8.tflite", "mlp_float16.tflite", "mlp_int16x8.tflite", "cnn_uint8_io.tflite"]
)
def test_one_sample_inputs_of_every_kind_equal_the_hand_loop(name: str) -> None:
    path = FIXTURES / name
    runner = tflkit.Runner(path)
    interp = _interp(path)
    interp.allocate_tensors()
    i, o = interp.get_input_details()[0], interp.get_output_details()[0]
    shape = tuple(i["shape"])
    rng = np.random.default_rng(4)
    base = rng.random(shape)
    scale, zp = i["quantization"]
    for x in (base, base.astype(np.float32), np.asfortranarray(base[0:1].astype(np.float32))):
        if scale:  # by hand: float32 division, ties away from zero (none in random data)
            info = np.iinfo(i["dtype"])
            q = np.floor(np.abs(x.astype(np.float32) / np.float32(scale)) + 0.5)
            q = np.sign(x) * q + zp
            feed = np.clip(q, info.min, info.max).astype(i["dtype"])
        else:
            feed = x.astype(i["dtype"])
        interp.set_tensor(i["index"], np.ascontiguousarray(feed))
        interp.invoke()
        want = interp.get_tensor(o["index"])
        oscale, ozp = o["quantization"]
        if oscale:
            want = ((want.astype(np.float64) - ozp) * oscale).astype(np.float32)
        got = runner.predict(x)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want.astype(np.float32))


# ------------------------------------------------------------------ benchmarking dynamic inputs


def test_benchmark_takes_a_sample_shape_for_dynamic_inputs() -> None:
    runner = tflkit.Runner(AUDIO)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DelegateWarning)  # [1, 16000] needs no fallback
        b = tflkit.benchmark(runner, seconds=0.05, warmup=1, shapes=[16000])
    assert b.inputs == ("samples: uniform float32 in [-1, 1], shape [1, 16000]",)
    assert runner.delegate == "xnnpack"
    with pytest.raises(tflkit.InputError, match=r"a sample of shape \[-1\] .*got \[3, 4\]"):
        tflkit.benchmark(runner, seconds=0.05, shapes={"samples": [3, 4]})
    with pytest.raises(tflkit.InputError, match="unknown input 'x'"):
        tflkit.benchmark(runner, seconds=0.05, shapes={"x": [3]})


def test_bench_cli_shape_option(cli: Cli) -> None:
    ok = cli.invoke("bench", str(AUDIO), "-s", "0.05", "--shape", "samples=800", "--json")
    assert ok.exit_code == 0, ok.stderr
    assert json.loads(ok.stdout)["inputs"] == [
        "samples: uniform float32 in [-1, 1], shape [1, 800]"
    ]
    guessed = cli.invoke("bench", str(AUDIO), "-s", "0.05", "--json")
    # the JSON keeps the library's words (Python: shapes=), the human output the CLI's flag
    assert "dynamic dimensions drawn as 1; pass shapes=" in json.loads(guessed.stdout)["inputs"][0]
    human = cli.invoke("bench", str(AUDIO), "-s", "0.05", width=200)
    assert "dynamic dimensions drawn as 1; pass --shape" in human.stdout
    for bad in ("a", "x=3", "3,4"):  # as a user runs it: one line on stderr, exit 2
        proc = cli.invoke("bench", AUDIO, "-s", "0.05", "--shape", bad, entry="-m", timeout=60)
        assert proc.exit_code == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_one_sample_dict_takes_the_same_names_as_the_general_path() -> None:
    path = FIXTURES / "mlp_int8.tflite"
    runner = tflkit.Runner(path)
    x = np.random.default_rng(5).random((1, 32), dtype=np.float32)
    by_signature = runner.predict({"keras_tensor": x})
    by_tensor = runner.predict({runner.inputs[0].name: x})
    np.testing.assert_array_equal(by_signature, by_tensor)
    np.testing.assert_array_equal(by_signature, runner.predict(x[None][0]))
    with pytest.raises(
        tflkit.InputError, match="unknown input 'nope'; the model's inputs are 'keras_tensor'"
    ):
        runner.predict({"nope": x})


def test_run_cli_on_the_dynamic_model(tmp_path: Path, cli: Cli) -> None:
    from importlib import resources

    import jsonschema

    x = np.random.default_rng(8).standard_normal((3, 1280)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    result = cli.invoke("run", str(AUDIO), "-i", str(tmp_path / "x.npy"), "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    schema = json.loads(resources.files("tflkit").joinpath("schemas/run.schema.json").read_text())
    jsonschema.validate(summary, schema)
    assert summary["delegate"] == "xnnpack"
    assert summary["outputs"] == [{"name": "features", "dtype": "float32", "shape": [3, 39, 8]}]


def _softmax_to_custom(m: Any) -> None:
    code = m.operatorCodes[m.subgraphs[0].operators[2].opcodeIndex]
    code.builtinCode = code.deprecatedBuiltinCode = 32  # CUSTOM
    code.customCode = b"MySoftmax"


def test_an_unregistered_custom_op_is_named_as_the_runtime_names_it() -> None:
    data = edited("mlp_float32.tflite", _softmax_to_custom)
    interp = _interp(data)
    with pytest.raises(RuntimeError, match=r"(?s)unresolved custom op: MySoftmax.*Node number 2"):
        interp.allocate_tensors()  # the truth: the runtime's own words, op 2
    with pytest.raises(
        UnsupportedModelError,
        match=r"subgraph 0 operator 2 \(CUSTOM 'MySoftmax'\): custom op not registered",
    ):
        tflkit.Runner(data)
