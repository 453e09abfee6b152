"""Weight-only int8 made by Keras 3: int8 kernels without scales that the graph dequantizes
itself (CAST, BATCH_MATMUL, MUL by the scale), checked against the LiteRT interpreter's op
list, tensor details and tensor values, and the manifest's object-API reading of the file."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pytest
from conftest import MODELS, ROOT, Cli, edited, need_fixture
from rich.console import Console

import tflkit
from tflkit import check
from tflkit.kinds import QUANTIZATION_KINDS
from tflkit.model import cast_dequantized
from tflkit.render import inspect_renderables

NAME = "keras_weight_only_int8.tflite"


def _interpreter(source: Any) -> Any:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kw: dict[str, Any] = {
        # every intermediate readable, no XNNPACK node replacing the ops
        "experimental_preserve_all_tensors": True,
        "experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    }
    if isinstance(source, bytes):
        return Interpreter(model_content=source, **kw)
    return Interpreter(model_path=str(source), **kw)


def _facts() -> list[dict[str, Any]]:
    return list(MODELS[NAME]["cast_dequantized"])


def test_found_weights_are_the_int8_tensors_the_interpreter_casts() -> None:
    path = need_fixture(NAME)
    it = _interpreter(path)
    details = {d["index"]: d for d in it.get_tensor_details()}
    ops = it._get_ops_details()
    # Truth: the interpreter's CASTs whose input is int8 without scales.
    casts = {
        int(op["inputs"][0]): op["index"]
        for op in ops
        if op["op_name"] == "CAST"
        and details[int(op["inputs"][0])]["dtype"] == np.int8
        and details[int(op["inputs"][0])]["quantization"] == (0.0, 0)
        and not len(details[int(op["inputs"][0])]["quantization_parameters"]["scales"])
    }
    assert len(casts) == 2  # the two Dense kernels
    found = cast_dequantized(tflkit.load(path).primary)
    assert {i: c.cast_operator for i, c in found.items()} == casts
    for c in found.values():
        mul = ops[c.mul_operator]
        assert mul["op_name"] == "MUL" and c.scale_tensor in mul["inputs"]
        assert details[c.scale_tensor]["dtype"] == np.float32
    # and what build.py read with the object API
    assert {
        f["tensor"]: (f["cast_operator"], f["mul_operator"], f["scale_tensor"]) for f in _facts()
    } == {i: (c.cast_operator, c.mul_operator, c.scale_tensor) for i, c in found.items()}


def test_the_int8_tensor_times_the_scale_is_the_kernel_the_model_runs() -> None:
    """A hand forward pass from what cast_dequantized names (int8 kernel x MUL constant, plus
    the ADD's bias) gives the interpreter's output: those constants are the weights and their
    scales, not some other integer table."""
    path = need_fixture(NAME)
    it = _interpreter(path)
    it.allocate_tensors()
    x = np.random.default_rng(0).random((1, 32), dtype=np.float32)
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    found = cast_dequantized(tflkit.load(path).primary)
    ops = it._get_ops_details()
    by_rows = {it.get_tensor(i).shape[0]: c for i, c in found.items()}
    h = x
    for rows in (32, 256):  # layer 1 kernel [32, 256], layer 2 kernel [256, 10]
        c = by_rows[rows]
        w = it.get_tensor(c.tensor).astype(np.float32) * it.get_tensor(c.scale_tensor)
        # the ADD after the MUL adds the bias (its other input)
        add = next(op for op in ops if ops[c.mul_operator]["outputs"][0] in op["inputs"])
        assert add["op_name"] == "ADD"
        bias = next(i for i in add["inputs"] if i != ops[c.mul_operator]["outputs"][0])
        h = h @ w + it.get_tensor(bias)
        if rows == 32:
            h = np.maximum(h, 0)
    out = it.get_tensor(it.get_output_details()[0]["index"])
    np.testing.assert_allclose(out, h, rtol=1e-4, atol=1e-5)


def test_kind_is_weight_only_int8() -> None:
    model = tflkit.load(need_fixture(NAME))
    assert tflkit.quantization_kind(model) == MODELS[NAME]["quantization_kind"]
    assert MODELS[NAME]["quantization_kind"] == "weight-only-int8"
    assert "weight-only-int8" in QUANTIZATION_KINDS
    # 0.34x of the same model converted without quantization (build.py measured both)
    assert MODELS[NAME]["size_bytes"] < 0.5 * MODELS[NAME]["float32_size_bytes"]


def _without_mul(m: Any) -> None:
    """Every MUL made an ADD: the CASTs are no longer followed by a scale."""
    from ai_edge_litert import schema_py_generated as schema

    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in m.operatorCodes]
    add = codes.index(schema.BuiltinOperator.ADD)
    for op in m.subgraphs[0].operators:
        if codes[op.opcodeIndex] == schema.BuiltinOperator.MUL:
            op.opcodeIndex = add


def _with_scales(m: Any) -> None:
    """The int8 kernels given a scale: then they are dynamic-range weights, not cast ones."""
    from ai_edge_litert import schema_py_generated as schema

    for f in _facts():
        q = schema.QuantizationParametersT()
        q.scale, q.zeroPoint = [0.5], [0]
        m.subgraphs[0].tensors[f["tensor"]].quantization = q


def test_a_cast_without_a_scale_or_of_a_quantized_tensor_is_not_weight_only() -> None:
    need_fixture(NAME)
    plain = tflkit.load(edited(NAME, _without_mul))
    assert cast_dequantized(plain.primary) == {}
    assert tflkit.quantization_kind(plain) == "float32"
    scaled = tflkit.load(edited(NAME, _with_scales))
    assert cast_dequantized(scaled.primary) == {}
    assert tflkit.quantization_kind(scaled) == "dynamic-range"


def test_int8_profile_summary_names_weight_only_int8() -> None:
    report = check(tflkit.load(need_fixture(NAME)), "int8")
    assert not report.passed and report.quantization_kind == "weight-only-int8"
    assert report.summary == (
        "weight-only-int8 model: int8 weights dequantized in the graph (CAST, MUL), float32 "
        "activations; convert the float model with full-integer quantization (a "
        "representative dataset, TFLITE_BUILTINS_INT8)"
    )


def test_float16_profile_says_the_int8_constants_are_not_float16() -> None:
    report = check(tflkit.load(need_fixture(NAME)), "float16")
    named = {f.tensor: f.message for f in report.violations if f.rule == "no-int8-weights"}
    assert set(named) == {f["tensor"] for f in _facts()}
    for f in _facts():
        assert named[f["tensor"]].endswith(
            f"int8 weight-only quantized weights, dequantized in the graph (CAST operator "
            f"{f['cast_operator']}, MUL operator {f['mul_operator']} by tensor "
            f"{f['scale_tensor']}), expected float16 weights"
        )
    assert report.summary is not None and report.summary.startswith("weight-only-int8 model: ")


def test_inspect_marks_the_weights(cli: Cli) -> None:
    path = need_fixture(NAME)
    doc = json.loads(cli.invoke("inspect", str(path), "--json").stdout)
    assert doc["quantization_kind"] == "weight-only-int8"
    marked = {
        t["index"]: t["dequantized_in_graph"]
        for t in doc["subgraphs"][0]["tensors"]
        if t["dequantized_in_graph"] is not None
    }
    assert marked == {
        f["tensor"]: {k: f[k] for k in ("cast_operator", "mul_operator", "scale_tensor")}
        for f in _facts()
    }
    console = Console(file=io.StringIO(), width=200, color_system=None)
    for r in inspect_renderables(tflkit.load(path), tensors=True):
        console.print(r)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    rows = [line for line in out.splitlines() if "weight-only, MUL by tensor" in line]
    assert sorted(int(r.split("│")[1]) for r in rows) == sorted(f["tensor"] for f in _facts())
    for f in _facts():
        row = next(r for r in rows if int(r.split("│")[1]) == f["tensor"])
        assert f"MUL by tensor {f['scale_tensor']} " in row and " int8 " in row
    assert "quantization  weight-only-int8" in out


@pytest.mark.parametrize("name", ["mlp_float32.tflite", "mlp_dynamic_range.tflite"])
def test_other_models_have_no_cast_dequantized_weights(name: str) -> None:
    model = tflkit.load(need_fixture(name))
    assert all(cast_dequantized(sg) == {} for sg in model.subgraphs)


# ---------------------------------------------------------------- the weight-only routes of
# `tflkit convert`: from a float .tflite (litert-quantizer) and from a Keras 3 weight-only model


def _weight_feeds(data: bytes) -> list[tuple[str, str, int]]:
    """Per FULLY_CONNECTED, read with LiteRT's object API: what feeds its weight input (an
    op's name, or ``constant``), the weight constant's TensorType and its number of scales."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    types = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    ops = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    m = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    sg = m.subgraphs[0]
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in m.operatorCodes]
    producer = {o: op for op in sg.operators for o in op.outputs}
    found = []
    for op in sg.operators:
        if codes[op.opcodeIndex] != schema.BuiltinOperator.FULLY_CONNECTED:
            continue
        w, feed = op.inputs[1], "constant"
        if w in producer:
            feed = ops[codes[producer[w].opcodeIndex]]
            w = producer[w].inputs[0]
        q = sg.tensors[w].quantization
        scales = 0 if q is None or q.scale is None else len(q.scale)
        found.append((feed, types[sg.tensors[w].type], scales))
    return found


@pytest.mark.parametrize("to", ["weight-only-int8", "weight-only-int4"])
def test_weight_only_from_a_float_tflite_passes_with_the_kind_named(
    cli: Cli, tmp_path: Any, to: str
) -> None:
    pytest.importorskip("litert_quantizer")
    out = tmp_path / "wo.tflite"
    result = cli.invoke("convert", str(need_fixture("mlp_float32.tflite")), "-o", str(out),
                        "--to", to, "--json")  # fmt: skip
    assert result.exit_code == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["passed"] and doc["kind_ok"] and doc["quantization_kind"] == to
    # the truth: every FULLY_CONNECTED computes in float on a DEQUANTIZE of a per-channel
    # int8 (int4) constant, 64 and 10 output channels
    dtype = to.rsplit("-", 1)[1].upper()
    feeds = _weight_feeds(out.read_bytes())
    assert sorted(feeds) == [("DEQUANTIZE", dtype, 10), ("DEQUANTIZE", dtype, 64)]
    it = _interpreter(out)
    assert {op["op_name"] for op in it._get_ops_details()} >= {"DEQUANTIZE", "FULLY_CONNECTED"}
    human = cli.invoke("convert", str(need_fixture("mlp_float32.tflite")), "-o", str(out),
                       "--to", to, "--force")  # fmt: skip
    assert human.exit_code == 0 and f"PASS  the result is {to}" in human.stdout


def _bypass_dequantize(m: Any) -> None:
    """The first FULLY_CONNECTED reads its int8 weight directly: a hybrid kernel."""
    from ai_edge_litert import schema_py_generated as schema

    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in m.operatorCodes]
    sg = m.subgraphs[0]
    producer = {o: op for op in sg.operators for o in op.outputs}
    fc = next(
        op for op in sg.operators if codes[op.opcodeIndex] == schema.BuiltinOperator.FULLY_CONNECTED
    )
    fc.inputs[1] = producer[fc.inputs[1]].inputs[0]


def test_weights_a_kernel_reads_directly_are_dynamic_range(tmp_path: Any) -> None:
    pytest.importorskip("litert_quantizer")
    from ai_edge_litert.tools import flatbuffer_utils

    c = tflkit.convert(need_fixture("mlp_float32.tflite"), "weight-only-int8")
    m = flatbuffer_utils.read_model_from_bytearray(bytearray(c.data))
    _bypass_dequantize(m)
    hybrid = bytes(flatbuffer_utils.convert_object_to_bytearray(m))
    assert sorted(f for f, _, _ in _weight_feeds(hybrid)) == ["DEQUANTIZE", "constant"]
    it = _interpreter(hybrid)  # the runtime takes it: a hybrid FULLY_CONNECTED
    it.allocate_tensors()
    it.invoke()
    assert tflkit.quantization_kind(hybrid) == "dynamic-range"


def _keras_weight_only(path: Any, units: int, mode: str = "int8") -> Any:
    keras = pytest.importorskip("keras")
    pytest.importorskip("tensorflow")
    from keras import quantizers

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(shape=(32,)),
            keras.layers.Dense(units, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    config = {"int8": quantizers.Int8QuantizationConfig, "int4": quantizers.Int4QuantizationConfig}
    model.quantize(mode, config=config[mode](activation_quantizer=None))
    model.save(path)
    return path


def _int8_cast_constants(path: Any) -> list[int]:
    """The interpreter's int8 tensors without scales that a CAST reads (Keras's kernels)."""
    it = _interpreter(path)
    details = {d["index"]: d for d in it.get_tensor_details()}
    return sorted(
        int(op["inputs"][0])
        for op in it._get_ops_details()
        if op["op_name"] == "CAST"
        and details[int(op["inputs"][0])]["dtype"] == np.int8
        and not len(details[int(op["inputs"][0])]["quantization_parameters"]["scales"])
    )


def test_a_keras3_weight_only_model_converts_with_to_weight_only_int8(
    cli: Cli, tmp_path: Any
) -> None:
    src = _keras_weight_only(tmp_path / "wo256.keras", 256)
    out = tmp_path / "wo256.tflite"
    result = cli.invoke("convert", str(src), "-o", str(out), "--to", "weight-only-int8", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["quantization_kind"] == "weight-only-int8" and doc["passed"]
    jsonschema = pytest.importorskip("jsonschema")
    schema = (ROOT / "tflkit" / "schemas" / "convert.schema.json").read_text()
    jsonschema.validate(doc, json.loads(schema))
    assert doc["settings"].get("optimizations") is None  # converted as it is
    assert len(_int8_cast_constants(out)) == 2  # both kernels kept int8 (the interpreter's)
    # --to float32 fails (the file is not float32) and says which --to fits
    other = cli.invoke("convert", str(src), "-o", str(tmp_path / "f.tflite"), "--to", "float32")
    assert other.exit_code == 1
    assert "note: the result is weight-only-int8, not float32" in other.stdout
    assert "--to weight-only-int8 converts" in other.stdout.replace("\n", " ")


def test_a_small_keras3_weight_only_model_folded_to_float32_passes_with_a_note(
    cli: Cli, tmp_path: Any
) -> None:
    src = _keras_weight_only(tmp_path / "wo32.keras", 32)
    out = tmp_path / "wo32.tflite"
    result = cli.invoke("convert", str(src), "-o", str(out), "--to", "weight-only-int8", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    # the truth: the interpreter sees no int8 tensor at all, the converter folded them
    it = _interpreter(out)
    assert not [d for d in it.get_tensor_details() if d["dtype"] == np.int8]
    assert doc["quantization_kind"] == "float32" and doc["passed"]
    assert any("folded the int8 kernels of 2 Keras 3 weight-only" in n for n in doc["notes"])


def test_weight_only_from_keras_needs_a_keras3_int8_weight_only_model(
    cli: Cli, tmp_path: Any
) -> None:
    keras = pytest.importorskip("keras")
    pytest.importorskip("tensorflow")
    plain = tmp_path / "float.keras"
    keras.Sequential([keras.Input(shape=(32,)), keras.layers.Dense(10)]).save(plain)
    out = tmp_path / "out.tflite"
    result = cli.invoke("convert", str(plain), "-o", str(out), "--to", "weight-only-int8")
    assert result.exit_code == 2 and not out.exists()
    assert result.stderr.startswith("tflkit: error: 'weight-only-int8' from a Keras model needs")
    assert len(result.stderr.splitlines()) == 1
    int4 = _keras_weight_only(tmp_path / "int4.keras", 256, "int4")
    for to in ("weight-only-int4", "weight-only-int8"):
        result = cli.invoke("convert", str(int4), "-o", str(out), "--to", to)
        assert result.exit_code == 2 and not out.exists()
        assert "unpacks Keras 3 int4 kernels" in result.stderr
