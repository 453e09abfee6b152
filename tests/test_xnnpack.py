"""tflkit.targets.xnnpack against what the XNNPACK delegate does on every fixture.

The truth is the interpreter (ai-edge-litert): after ``allocate_tensors()`` with the default
resolver, ``_get_ops_details()`` lists the model's nodes and then one DELEGATE node per
partition XNNPACK took, with that partition's input and output tensors. The nodes inside a
partition are those reached from its outputs without crossing its inputs, and then the nodes
no output is reached from (an ASSIGN_VARIABLE and what feeds it; a partition can have no
outputs): the largest set that reads only the partition's inputs (constants among them) and
itself, and whose outputs are read only inside or are the partition's. The builtin-only resolver
(``BUILTIN_WITHOUT_DEFAULT_DELEGATES``) gives the same nodes without DELEGATE ones: the check
that the node list is the model's operator list. The interpreter only reports subgraph 0.

The interpreter runs in one subprocess: fixtures the manifest marks ``aborts_at_allocate``
would take the test process down, so they are not given to it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _graphs import Op, T, build
from conftest import ALL_FIXTURES, MODELS, edited, fixture_path

import tflkit
from tflkit.targets import xnnpack
from tflkit.targets._partition import partitions

# The runtime's DELEGATE partitions, read in a child (the runtime may abort on a model)
TRUTH = Path(__file__).with_name("_truth.py")


@pytest.fixture(scope="module")
def observed() -> dict[str, dict[str, Any]]:
    names = [n for n in ALL_FIXTURES if not MODELS[n].get("aborts_at_allocate")]
    paths = [str(fixture_path(n)) for n in names]
    by_path = _observe(paths)
    return {n: by_path[p] for n, p in zip(names, paths, strict=True)}


def _observe(paths: list[str]) -> dict[str, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, str(TRUTH), *paths],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    found: dict[str, dict[str, Any]] = json.loads(done.stdout)
    return found


def _seen(observed: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    if name not in observed:
        pytest.skip(f"{name}: the interpreter aborts at allocate_tensors() (MANIFEST.json)")
    seen = observed[name]
    if "error" in seen:
        pytest.skip(f"{name}: the interpreter does not open it: {seen['error'][:80]}")
    return seen


def _sg0(model: tflkit.Model) -> tuple[Any, ...]:
    return tuple(p for p in xnnpack.place(model, "xnnpack") if p.subgraph == 0)


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_operators_on_xnnpack_are_those_the_delegate_took(
    observed: dict[str, dict[str, Any]], name: str
) -> None:
    seen = _seen(observed, name)
    model = tflkit.load(fixture_path(name))
    assert seen["ops"] == seen["default_ops"] == [op.op for op in model.primary.operators]
    assert set(seen["extra"]) <= {"DELEGATE"}
    took = {i for part in seen["partitions"] for i in part}
    placed = {p.operator for p in _sg0(model) if p.on == "target"}
    assert placed == took, [(p.operator, p.op, p.rule, p.reason) for p in _sg0(model)]


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_segments_are_the_delegate_nodes(observed: dict[str, dict[str, Any]], name: str) -> None:
    seen = _seen(observed, name)
    model = tflkit.load(fixture_path(name))
    assert xnnpack.segments(model, _sg0(model)) == len(seen["partitions"])


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_partitioning_matches_the_runtime_on_the_observed_ops(
    observed: dict[str, dict[str, Any]], name: str
) -> None:
    # The partition algorithm alone: fed the ops XNNPACK took, it finds the same partitions.
    seen = _seen(observed, name)
    sg = tflkit.load(fixture_path(name)).primary
    took = {i for part in seen["partitions"] for i in part}
    mine = partitions(sg, [i in took for i in range(len(sg.operators))])
    assert sorted(mine) == sorted(seen["partitions"])


def test_int8_softmax_is_what_cuts_the_graph() -> None:
    # The question the module answers: QUANTIZE, FC, FC together; SOFTMAX outside; 2 partitions.
    model = tflkit.load(fixture_path("mlp_int8_float_io.tflite"))
    placement = tuple(xnnpack.place(model, "xnnpack"))
    off = [(p.op, p.rule) for p in placement if p.on == "cpu"]
    assert off == [("SOFTMAX", "xnnpack-dtype")]
    assert xnnpack.segments(model, placement) == 2


def test_the_module_follows_the_interface() -> None:
    assert xnnpack.TARGETS == ("xnnpack",) and xnnpack.FALLBACK == "cpu"
    assert "2.3" in xnnpack.SOURCE
    model = tflkit.load(fixture_path("while_loop.tflite"))
    placement = xnnpack.place(model, "xnnpack")
    assert len(placement) == sum(len(sg.operators) for sg in model.subgraphs)
    for p in placement:
        assert (p.on == "target") == (p.rule == "") and (p.rule in xnnpack.RULES or not p.rule)


# ------------------------------------------------- one operator swapped, against the runtime

# The last operator of mlp_float32 / mlp_int8 (SOFTMAX, one input, one output of the same
# shape and type) replaced by another operator without builtin options (options stripped:
# an operator that has them, such as LEAKY_RELU, would be read with none), or by a binary
# operator on that input twice. Each edited file is observed like a fixture. Int8 SQUARE,
# LOG_SOFTMAX and L2_NORMALIZATION are left out: the reference kernels refuse them.
_UNARY = ["TANH", "LOGISTIC", "EXP", "ABS", "NEG", "RELU", "RELU6", "RELU_N1_TO_1", "ELU"]
_UNARY += ["HARD_SWISH", "SQRT", "RSQRT", "GELU", "RELU_0_TO_1", "SIGN", "CAST"]
_FLOAT_ONLY = ["SQUARE", "FLOOR", "CEIL", "ROUND", "LOG", "SIN", "COS", "L2_NORMALIZATION"]
_BINARY = ["ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE", "POW"]
_SWAPS = (
    [("mlp_float32.tflite", op, False) for op in _UNARY + _FLOAT_ONLY]
    + [("mlp_int8.tflite", op, False) for op in _UNARY]
    + [("mlp_float32.tflite", op, True) for op in _BINARY]
    + [("mlp_int8.tflite", op, True) for op in _BINARY]
)


def _swap(name: str, new: str, binary: bool) -> bytes:
    from ai_edge_litert import schema_py_generated as schema

    def edit(model: Any) -> None:
        op = model.subgraphs[0].operators[-1]
        code = schema.OperatorCodeT()
        code.builtinCode = getattr(schema.BuiltinOperator, new)
        code.deprecatedBuiltinCode = min(code.builtinCode, 127)
        code.version = 1
        model.operatorCodes.append(code)
        op.opcodeIndex = len(model.operatorCodes) - 1
        op.builtinOptionsType, op.builtinOptions = 0, None
        if binary:
            op.inputs = [op.inputs[0], op.inputs[0]]

    return edited(name, edit)


@pytest.fixture(scope="module")
def swapped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[bytes, dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("xnnpack_swaps")
    files = {}
    for name, new, binary in _SWAPS:
        path = folder / f"{new}_{'binary_' if binary else ''}{name}"
        path.write_bytes(_swap(name, new, binary))
        files[f"{name}:{new}:{binary}"] = str(path)
    seen = _observe(list(files.values()))
    return {key: (Path(p).read_bytes(), seen[p]) for key, p in files.items()}


@pytest.mark.parametrize(("name", "new", "binary"), _SWAPS)
def test_swapped_operator_placed_as_the_delegate_takes_it(
    swapped: dict[str, tuple[bytes, dict[str, Any]]], name: str, new: str, binary: bool
) -> None:
    data, seen = swapped[f"{name}:{new}:{binary}"]
    if "error" in seen:
        pytest.skip(f"the interpreter does not open it: {seen['error'][:80]}")
    model = tflkit.load(data)
    took = {i for part in seen["partitions"] for i in part}
    placed = {p.operator for p in _sg0(model) if p.on == "target"}
    assert placed == took
    assert xnnpack.segments(model, _sg0(model)) == len(seen["partitions"])


# ------------------------------------------------ float fixtures turned int8, against the runtime

# Every float32 tensor of subgraph 0 made int8 (activations scale 0.05; constants quantized
# per-tensor, the bias of CONV_2D / FULLY_CONNECTED int32): the int8 side of MEAN,
# CONCATENATION, STRIDED_SLICE, RESHAPE, TANH, BATCH_MATMUL, ... Files the reference kernels
# refuse (scale constraints of LOGISTIC, FULLY_CONNECTED) are skipped.
_INT8_OF = [
    "nb_add_reshape.tflite",
    "nb_broadcast.tflite",
    "nb_conformer_like.tflite",
    "nb_conv_fc.tflite",
    "nb_streaming_state.tflite",
    "nb_pad.tflite",
    "nb_unpack_2x10.tflite",
    "nb_gather_nd.tflite",
    "nb_scatter.tflite",
    "nb_tile.tflite",
    "keras_weight_only_int8.tflite",
]


def _int8(name: str) -> bytes:
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema

    weighted = {schema.BuiltinOperator.CONV_2D, schema.BuiltinOperator.FULLY_CONNECTED}

    def edit(model: Any) -> None:
        sg = model.subgraphs[0]
        bias = {
            op.inputs[2]
            for op in sg.operators
            if model.operatorCodes[op.opcodeIndex].builtinCode in weighted
            and len(op.inputs) > 2
            and op.inputs[2] >= 0
        }
        for i, t in enumerate(sg.tensors):
            if t.type != schema.TensorType.FLOAT32:
                continue
            buf = model.buffers[t.buffer]
            q = schema.QuantizationParametersT()
            q.zeroPoint, q.scale = [0], [0.05]
            if buf.data is not None and len(buf.data):
                x = np.frombuffer(bytes(buf.data), dtype=np.float32)
                if i in bias:
                    q.scale = [0.0025]
                    buf.data = np.round(x / 0.0025).astype(np.int32).tobytes()
                    t.type = schema.TensorType.INT32
                    t.quantization = q
                    continue
                q.scale = [float(max(np.abs(x).max(), 1e-3) / 127)]
                buf.data = np.clip(np.round(x / q.scale[0]), -127, 127).astype(np.int8).tobytes()
            t.type = schema.TensorType.INT8
            t.quantization = q

    return edited(name, edit)


@pytest.fixture(scope="module")
def int8_versions(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[bytes, dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("xnnpack_int8")
    files = {}
    for name in _INT8_OF:
        path = folder / name
        path.write_bytes(_int8(name))
        files[name] = str(path)
    seen = _observe(list(files.values()))
    return {name: (Path(p).read_bytes(), seen[p]) for name, p in files.items()}


@pytest.mark.parametrize("name", _INT8_OF)
def test_int8_version_placed_as_the_delegate_takes_it(
    int8_versions: dict[str, tuple[bytes, dict[str, Any]]], name: str
) -> None:
    data, seen = int8_versions[name]
    if "error" in seen:
        pytest.skip(f"the interpreter does not open it: {seen['error'][:80]}")
    model = tflkit.load(data)
    assert all(t.dtype != "float32" for t in model.primary.tensors)
    took = {i for part in seen["partitions"] for i in part}
    placed = {p.operator for p in _sg0(model) if p.on == "target"}
    assert placed == took
    assert xnnpack.segments(model, _sg0(model)) == len(seen["partitions"])


# ------------------------------------ rules from the delegate source, worked out and observed

# xnnpack_delegate.cc (google-ai-edge/LiteRT f67457790c9c): VisitAveragePool2DNode takes
# float only, VisitReduceNode takes SUM / REDUCE_MAX / REDUCE_MIN / MEAN on float32, int8
# and uint8 with constant int32 axes, VisitUnaryNode takes ELU on float32 and int8 only.
# Each swap replaces one operator of a fixture by another with the same options type;
# ``expected`` is worked out by hand and then checked against the runtime.
_SOURCE_SWAPS = [
    # cnn_uint8_io: QUANTIZE, CONV_2D, DEPTHWISE_CONV_2D, MAX_POOL_2D, CONV_2D, MEAN, FC,
    # SOFTMAX, QUANTIZE (int8 inside, uint8 at the ends: the QUANTIZEs and SOFTMAX stay out)
    ("cnn_uint8_io.tflite", 5, "SUM", {1, 2, 3, 4, 5, 6}),
    ("cnn_uint8_io.tflite", 5, "REDUCE_MAX", {1, 2, 3, 4, 5, 6}),
    ("cnn_uint8_io.tflite", 5, "REDUCE_MIN", {1, 2, 3, 4, 5, 6}),
    ("cnn_uint8_io.tflite", 5, "REDUCE_PROD", {1, 2, 3, 4, 6}),
    ("cnn_uint8_io.tflite", 3, "AVERAGE_POOL_2D", {1, 2, 4, 5, 6}),
    # nb_conformer_like: MEAN, CONCATENATION in float32
    ("nb_conformer_like.tflite", 0, "REDUCE_MAX", {0, 1}),
    ("nb_conformer_like.tflite", 0, "REDUCE_MIN", {0, 1}),
]


def _swap_at(name: str, index: int, new: str) -> bytes:
    from ai_edge_litert import schema_py_generated as schema

    def edit(model: Any) -> None:
        code = schema.OperatorCodeT()
        code.builtinCode = getattr(schema.BuiltinOperator, new)
        code.deprecatedBuiltinCode = min(code.builtinCode, 127)
        code.version = 1
        model.operatorCodes.append(code)
        model.subgraphs[0].operators[index].opcodeIndex = len(model.operatorCodes) - 1

    return edited(name, edit)


@pytest.fixture(scope="module")
def source_swaps(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[bytes, dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("xnnpack_source")
    files = {}
    for name, index, new, _ in _SOURCE_SWAPS:
        path = folder / f"{new}_{index}_{name}"
        path.write_bytes(_swap_at(name, index, new))
        files[f"{name}:{index}:{new}"] = str(path)
    seen = _observe(list(files.values()))
    return {key: (Path(p).read_bytes(), seen[p]) for key, p in files.items()}


@pytest.mark.parametrize(("name", "index", "new", "expected"), _SOURCE_SWAPS)
def test_source_rules_worked_out_and_observed(
    source_swaps: dict[str, tuple[bytes, dict[str, Any]]],
    name: str,
    index: int,
    new: str,
    expected: set[int],
) -> None:
    data, seen = source_swaps[f"{name}:{index}:{new}"]
    model = tflkit.load(data)
    assert model.primary.operators[index].op == new
    placed = {p.operator for p in _sg0(model) if p.on == "target"}
    assert placed == expected
    if "error" in seen:
        pytest.skip(f"the interpreter does not open it: {seen['error'][:80]}")
    assert {i for part in seen["partitions"] for i in part} == expected


def test_quantized_average_pool_is_left_out_whatever_the_padding() -> None:
    # int8 AVERAGE_POOL_2D, VALID or SAME alike: the delegate checks float tensors only.
    x, y = T("int8", (1, 8, 8, 4)), T("int8", (1, 4, 4, 4))
    model = build(Op("AVERAGE_POOL_2D", [x], [y]))
    [p] = xnnpack.place(model, "xnnpack")
    assert (p.on, p.rule) == ("cpu", "xnnpack-dtype")
    xf, yf = T("float32", (1, 8, 8, 4)), T("float32", (1, 4, 4, 4))
    [p] = xnnpack.place(build(Op("AVERAGE_POOL_2D", [xf], [yf])), "xnnpack")
    assert p.on == "target"


def test_elu_takes_int8_but_not_uint8() -> None:
    # CheckTensorFloatOrQInt8Type: float32 and int8 per-tensor; uint8 is refused.
    found = {}
    for kind in ("float32", "int8", "uint8"):
        model = build(Op("ELU", [T(kind, (1, 16))], [T(kind, (1, 16))]))
        [p] = xnnpack.place(model, "xnnpack")
        found[kind] = (p.on, p.rule)
    assert found == {
        "float32": ("target", ""),
        "int8": ("target", ""),
        "uint8": ("cpu", "xnnpack-dtype"),
    }


@pytest.mark.parametrize("op", ["SUM", "REDUCE_MAX", "REDUCE_MIN"])
def test_reductions_take_quantized_tensors_and_need_constant_axes(op: str) -> None:
    x, y = T("uint8", (1, 4, 4, 8)), T("uint8", (1, 8))
    axes = T("int32", (2,), const=True, values=[1, 2], scales=0)
    [p] = xnnpack.place(build(Op(op, [x, axes], [y])), "xnnpack")
    assert (p.on, p.rule) == ("target", "")
    x, y = T("int8", (1, 4, 4, 8)), T("int8", (1, 8))
    runtime = T("int32", (2,), scales=0)
    [p] = xnnpack.place(build(Op(op, [x, runtime], [y])), "xnnpack")
    assert (p.on, p.rule) == ("cpu", "xnnpack-static")
