"""tflkit._quantizer.quantize_tflite against litert-quantizer called directly with the same recipe,
the LiteRT interpreter on the result, and the file as LiteRT's object API reads it."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, edited, litert_interpreter, need_fixture

import tflkit
from tflkit.errors import ConversionError, InputError

lq = pytest.importorskip("litert_quantizer")
from litert_quantizer import qtyping  # noqa: E402
from litert_quantizer import quantizer as lq_quantizer  # noqa: E402
from litert_quantizer import recipe as lq_recipe  # noqa: E402

from tflkit._quantizer import TARGETS, quantize_tflite  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    # the library's calibration keeps every tensor on purpose, when the tests call it directly
    "ignore:.*experimental_preserve_all_tensors:UserWarning"
)

MLP = "mlp_float32.tflite"
SIGNATURE = "serving_default"  # the fixture's one signature; input 'keras_tensor' (-1, 32)


def _float16_recipe() -> Any:
    # written out here as the library's own mnist test writes float16 weight-only
    # (float casting to 16 bits, float compute), with an explicit DEQUANTIZE after each weight
    q = lq_quantizer.Quantizer(bytes((FIXTURES / MLP).read_bytes()))
    q.update_quantization_recipe(
        regex=".*",
        operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
        op_config=qtyping.OpQuantizationConfig(
            weight_tensor_config=qtyping.TensorQuantizationConfig(
                num_bits=16, dtype=qtyping.TensorDataType.FLOAT
            ),
            compute_precision=qtyping.ComputePrecision.FLOAT,
            explicit_dequantize=True,
        ),
        algorithm_key=lq_quantizer.AlgorithmName.FLOAT_CASTING,
    )
    return q.get_quantization_recipe()


# to -> (the library's recipe, written independently of tflkit._quantizer,
#        quantization_kind, I/O dtype, dtype of the weights in the file, op that consumes them)
CASES: dict[str, tuple[Callable[[], Any], str, str, str, str]] = {
    "int8": (lq_recipe.static_wi8_ai8, "int8", "int8", "INT8", "FULLY_CONNECTED"),
    "dynamic-range": (
        lq_recipe.dynamic_wi8_afp32,
        "dynamic-range",
        "float32",
        "INT8",
        "FULLY_CONNECTED",
    ),
    "float16": (_float16_recipe, "float16", "float32", "FLOAT16", "DEQUANTIZE"),
    # per-channel int8/int4 weights that only a DEQUANTIZE reads: weight-only (the
    # interpreter's op list below shows the DEQUANTIZE); read directly: dynamic-range
    "weight-only-int8": (
        lq_recipe.weight_only_wi8_afp32,
        "weight-only-int8",
        "float32",
        "INT8",
        "DEQUANTIZE",
    ),
    "weight-only-int4": (
        lq_recipe.weight_only_wi4_afp32,
        "weight-only-int4",
        "float32",
        "INT4",
        "DEQUANTIZE",
    ),
}


@pytest.fixture(scope="module")
def float_model() -> bytes:
    return need_fixture(MLP).read_bytes()


@pytest.fixture(scope="module")
def eval_x() -> np.ndarray:
    return np.load(FIXTURES / "mlp_eval_x.npy")


@pytest.fixture(scope="module")
def calibration(eval_x: np.ndarray) -> list[dict[str, np.ndarray]]:
    return [{"keras_tensor": eval_x[i : i + 1]} for i in range(len(eval_x))]


def _direct(model: bytes, recipe: Any, calibration: Any) -> bytes:
    """What litert-quantizer gives when called directly, as its README shows."""
    q = lq_quantizer.Quantizer(model, recipe)
    result = q.calibrate({SIGNATURE: calibration}) if q.need_calibration else None
    return bytes(q.quantize(result, enable_progress_report=False).quantized_model)


def _ops(model: bytes) -> list[dict[str, Any]]:
    """The interpreter's operators, without XNNPACK folding them into one DELEGATE node."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(
        model_content=model,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    return list(interp._get_ops_details())


def _weights(model: bytes) -> list[tuple[int, str]]:
    """(index, TensorType name) of the FULLY_CONNECTED weights' source tensors, read with
    LiteRT's object API: the weight of each FC, or what the DEQUANTIZE feeding it reads."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    m = flatbuffer_utils.read_model_from_bytearray(bytearray(model))
    sg = m.subgraphs[0]
    codes = [max(oc.builtinCode, oc.deprecatedBuiltinCode) for oc in m.operatorCodes]
    producer = {o: op for op in sg.operators for o in op.outputs}
    found = []
    for op in sg.operators:
        if codes[op.opcodeIndex] != schema.BuiltinOperator.FULLY_CONNECTED:
            continue
        w = op.inputs[1]
        src = producer.get(w)
        if src is not None and codes[src.opcodeIndex] == schema.BuiltinOperator.DEQUANTIZE:
            w = src.inputs[0]
        found.append((w, names[sg.tensors[w].type]))
    return found


@pytest.mark.parametrize("to", TARGETS)
def test_bytes_equal_the_library_called_directly(
    to: str, float_model: bytes, calibration: list[dict[str, np.ndarray]]
) -> None:
    recipe, *_ = CASES[to]
    got, settings = quantize_tflite(float_model, to, calibration=calibration)
    want = _direct(float_model, recipe(), calibration)
    assert got == want  # deterministic: same recipe and data give the same bytes
    assert settings["recipe"] == json.loads(json.dumps(recipe()))
    assert settings["path"] == "litert-quantizer"
    assert settings["version"] == lq_version()
    assert settings["calibration_samples"] == (len(calibration) if to == "int8" else 0)
    assert settings["signature"] == (SIGNATURE if to == "int8" else None)
    json.dumps(settings, allow_nan=False)  # JSON-ready


def lq_version() -> str:
    import importlib.metadata

    return importlib.metadata.version("litert-quantizer")


@pytest.mark.parametrize("to", TARGETS)
def test_result_runs_and_is_what_to_implies(
    to: str, float_model: bytes, calibration: list[dict[str, np.ndarray]], eval_x: np.ndarray
) -> None:
    _, kind, io_dtype, weight_type, consumer = CASES[to]
    model, settings = quantize_tflite(float_model, to, calibration=calibration)
    assert tflkit.quantization_kind(model) == kind
    assert settings["io"] == io_dtype

    interp = litert_interpreter(model)
    assert interp is not None
    interp.allocate_tensors()
    (inp,) = interp.get_input_details()
    (out,) = interp.get_output_details()
    assert np.dtype(inp["dtype"]).name == io_dtype
    assert np.dtype(out["dtype"]).name == io_dtype
    x = eval_x[:1]
    if io_dtype == "int8":
        scale, zero_point = inp["quantization"]
        x = np.clip(np.round(x / scale) + zero_point, -128, 127).astype(np.int8)
    interp.set_tensor(inp["index"], x)
    interp.invoke()
    y = interp.get_tensor(out["index"])
    assert y.shape == (1, 10)

    weights = _weights(model)
    assert len(weights) == 2  # 32 -> 64 and 64 -> 10
    assert {t for _, t in weights} == {weight_type}
    ops = _ops(model)
    consumers = {op["op_name"] for op in ops for w, _ in weights if w in op["inputs"]}
    assert consumers == {consumer}


@pytest.mark.filterwarnings(
    # the library's ranges are a moving average (0.95) of per-sample min/max, not the data's
    # min/max: the int8 input holds [0, 0.97] and some of the eval inputs in [0, 1) clip
    "ignore::tflkit.errors.SaturationWarning"
)
def test_int8_agrees_with_float(
    float_model: bytes, calibration: list[dict[str, np.ndarray]], eval_x: np.ndarray
) -> None:
    # a sanity floor, not the figure: the figure is measured on the whole eval set and reported
    model, _ = quantize_tflite(float_model, "int8", calibration=calibration)
    c = tflkit.compare([float_model, model], eval_x, speed=False)
    (output,) = c.models[1].outputs
    assert output.top1_agreement is not None and output.top1_agreement >= 0.9


def test_ops_it_cannot_quantize_stay_float_between_dequantize_and_quantize() -> None:
    # TILE is not among the ops litert-quantizer quantizes: it runs on float32 between a
    # DEQUANTIZE of the int8 input and a QUANTIZE of its output; check names the float tensors
    model = need_fixture("nb_tile.tflite").read_bytes()
    rng = np.random.default_rng(0)
    data = [
        {"multiples": np.array([2, 1], np.int32), "x": rng.random((2, 3), dtype=np.float32)}
        for _ in range(16)
    ]
    q, _ = quantize_tflite(model, "int8", calibration=data)
    ops = _ops(q)
    assert [op["op_name"] for op in ops] == ["DEQUANTIZE", "TILE", "QUANTIZE"]
    interp = litert_interpreter(q)
    assert interp is not None
    dtypes = {d["index"]: np.dtype(d["dtype"]).name for d in interp.get_tensor_details()}
    tile = ops[1]
    assert dtypes[tile["inputs"][0]] == "float32" and dtypes[tile["outputs"][0]] == "float32"
    assert tflkit.quantization_kind(q) == "int8-float-islands"  # TILE in float, int8 I/O
    report = tflkit.check(q, "int8")
    flagged = {f.tensor for f in report.violations if f.rule == "no-float-tensors"}
    assert {int(tile["inputs"][0]), int(tile["outputs"][0])} <= flagged


def test_load_names_the_ops_the_quantizer_adds() -> None:
    model = need_fixture("nb_tile.tflite").read_bytes()
    data = [{"multiples": np.array([2, 1], np.int32), "x": np.ones((2, 3), np.float32)}]
    q, _ = quantize_tflite(model, "int8", calibration=data)
    want = [op["op_name"] for op in _ops(q)]
    assert [op.op for op in tflkit.load(q).subgraphs[0].operators] == want


# errors


@pytest.mark.parametrize("calibration", [None, []])
def test_int8_without_calibration_says_why(float_model: bytes, calibration: Any) -> None:
    with pytest.raises(ConversionError, match="calibration data.*never calibrates on random"):
        quantize_tflite(float_model, "int8", calibration=calibration)


def test_int8_with_float_io_names_what_it_supports(
    float_model: bytes, calibration: list[dict[str, np.ndarray]]
) -> None:
    with pytest.raises(ConversionError, match="supported io for int8: 'int8'"):
        quantize_tflite(float_model, "int8", calibration=calibration, io="float32")
    _, settings = quantize_tflite(float_model, "int8", calibration=calibration[:8], io="int8")
    assert settings["io"] == "int8"


def test_int8_io_needs_int8(float_model: bytes) -> None:
    with pytest.raises(ConversionError, match="supported io for float16: 'float32'"):
        quantize_tflite(float_model, "float16", calibration=None, io="int8")


def test_unknown_target(float_model: bytes) -> None:
    with pytest.raises(ConversionError, match="'int16'.*expected one of 'int8'"):
        quantize_tflite(float_model, "int16", calibration=None)


def test_quantized_model_is_refused(calibration: list[dict[str, np.ndarray]]) -> None:
    model = need_fixture("mlp_int8.tflite").read_bytes()
    with pytest.raises(ConversionError, match=r"already quantized \(int8\)"):
        quantize_tflite(model, "int8", calibration=calibration)


def test_int8_needs_one_signature(calibration: list[dict[str, np.ndarray]]) -> None:
    two = need_fixture("two_signatures.tflite").read_bytes()
    with pytest.raises(ConversionError, match="2 signatures \\('decode', 'encode'\\)"):
        quantize_tflite(two, "int8", calibration=calibration)

    def drop_signatures(m: Any) -> None:
        m.signatureDefs = []

    none = edited(MLP, drop_signatures)
    with pytest.raises(ConversionError, match="no signature"):
        quantize_tflite(none, "int8", calibration=calibration)
    # the targets without calibration do not need one
    q, _ = quantize_tflite(none, "dynamic-range", calibration=None)
    assert tflkit.quantization_kind(q) == "dynamic-range"


def test_calibration_that_does_not_fit(float_model: bytes, eval_x: np.ndarray) -> None:
    with pytest.raises(InputError, match=r"sample 1: expected inputs \['keras_tensor'\]"):
        quantize_tflite(
            float_model,
            "int8",
            calibration=[{"keras_tensor": eval_x[:1]}, {"x": eval_x[:1]}],
        )
    with pytest.raises(InputError, match=r"'keras_tensor': expected shape \(-1, 32\) float32"):
        quantize_tflite(
            float_model, "int8", calibration=[{"keras_tensor": eval_x[:1].astype(np.float64)}]
        )
    with pytest.raises(InputError, match=r"got \(32,\) float32"):
        quantize_tflite(float_model, "int8", calibration=[{"keras_tensor": eval_x[0]}])


def test_library_errors_are_one_line_conversion_errors() -> None:
    # litert-quantizer 0.11 cannot read sparse weights (it reshapes the stored values to dense)
    model = need_fixture("mlp_sparse.tflite").read_bytes()
    with pytest.raises(ConversionError, match="^litert-quantizer quantization failed: ") as info:
        quantize_tflite(model, "dynamic-range", calibration=None)
    assert "\n" not in str(info.value)
    assert info.value.__cause__ is not None  # the library's exception, chained


def test_a_multi_line_library_error_keeps_its_first_line(
    float_model: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("\n  tensor 'a' has no range\nTraceback-like detail\n  more\n")

    monkeypatch.setattr(lq_quantizer.Quantizer, "quantize", fail)
    with pytest.raises(ConversionError) as info:
        quantize_tflite(float_model, "dynamic-range", calibration=None)
    assert str(info.value) == "litert-quantizer quantization failed: tensor 'a' has no range"


def test_missing_library(float_model: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "litert_quantizer", None)  # import raises ImportError
    with pytest.raises(ConversionError) as info:
        quantize_tflite(float_model, "dynamic-range", calibration=None)
    assert str(info.value) == (
        "quantizing a .tflite needs litert-quantizer: pip install 'tflkit[quantize]'"
    )


def test_importing_the_module_does_not_import_the_library() -> None:
    from test_imports import _modules_after

    loaded = _modules_after("import tflkit._quantizer")
    assert "litert_quantizer" not in loaded
    assert "ai_edge_litert" not in loaded
