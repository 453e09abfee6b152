"""tflkit.targets.xnnpack on the kinds of model the published-model corpus found it wrong on
(issue 22): the attention composite, resource variables, STRIDED_SLICE, EXPAND_DIMS, sparse
weights through DENSIFY, int8 weights through DEQUANTIZE (a weight-only int8 CNN).

Each model is built here with LiteRT's flatbuffer object API, small, one kind each, and the
truth is the interpreter's DELEGATE partitions after ``allocate_tensors()`` (``_observe`` of
tests/test_xnnpack.py, one subprocess for all). ``expected`` is worked out by hand from
xnnpack_delegate.cc (google-ai-edge/LiteRT f67457790c9c, the function named beside each case)
and checked twice: against tflkit and against the runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import edited
from test_xnnpack import _observe

import tflkit
from tflkit.targets import xnnpack


class _Net:
    """One model, subgraph by subgraph: ``tensor`` and ``op`` add to the current subgraph."""

    def __init__(self) -> None:
        from ai_edge_litert import schema_py_generated as schema

        self.s = schema
        self.m = schema.ModelT()
        self.m.version = 3
        self.m.buffers = [schema.BufferT()]
        self.m.operatorCodes = []
        self.m.subgraphs = []
        self.codes: dict[tuple[str, int], int] = {}
        self.subgraph("main")

    def subgraph(self, name: str) -> int:
        sg = self.s.SubGraphT()
        sg.name = name.encode()
        sg.tensors, sg.operators, sg.inputs, sg.outputs = [], [], [], []
        self.m.subgraphs.append(sg)
        self.sg = sg
        return len(self.m.subgraphs) - 1

    def tensor(
        self,
        dtype: str,
        shape: list[int],
        data: Any = None,
        q: tuple[list[float], list[int], int] | None = None,
        sig: list[int] | None = None,
        role: str = "",
    ) -> int:
        s = self.s
        t = s.TensorT()
        t.name = f"t{len(self.sg.tensors)}".encode()
        t.type = getattr(s.TensorType, dtype.upper())
        t.shape = list(shape)
        if sig is not None:
            t.shapeSignature = list(sig)
        t.buffer = 0
        if data is not None:
            b = s.BufferT()
            b.data = np.frombuffer(np.asarray(data).tobytes(), dtype=np.uint8)
            self.m.buffers.append(b)
            t.buffer = len(self.m.buffers) - 1
        if q is not None:
            qp = s.QuantizationParametersT()
            qp.scale, qp.zeroPoint, qp.quantizedDimension = q
            t.quantization = qp
        self.sg.tensors.append(t)
        i = len(self.sg.tensors) - 1
        if role == "in":
            self.sg.inputs.append(i)
        elif role == "out":
            self.sg.outputs.append(i)
        return i

    def op(
        self,
        name: str,
        ins: list[int],
        outs: list[int],
        options: Any = None,
        options2: Any = None,
        version: int = 1,
    ) -> None:
        s = self.s
        code = getattr(s.BuiltinOperator, name)
        if (name, version) not in self.codes:
            c = s.OperatorCodeT()
            c.builtinCode = code
            c.deprecatedBuiltinCode = min(code, 127)
            c.version = version
            self.m.operatorCodes.append(c)
            self.codes[(name, version)] = len(self.m.operatorCodes) - 1
        o = s.OperatorT()
        o.opcodeIndex = self.codes[(name, version)]
        o.inputs, o.outputs = list(ins), list(outs)
        if options is not None:
            cls = type(options).__name__[:-1]  # Conv2DOptionsT -> Conv2DOptions
            o.builtinOptionsType = getattr(s.BuiltinOptions, cls)
            o.builtinOptions = options
        if options2 is not None:
            o.builtinOptions2Type = getattr(s.BuiltinOptions2, type(options2).__name__[:-1])
            o.builtinOptions2 = options2
        self.sg.operators.append(o)

    def bytes(self) -> bytes:
        from ai_edge_litert.tools import flatbuffer_utils

        return bytes(flatbuffer_utils.convert_object_to_bytearray(self.m))


def _i32(values: list[int]) -> Any:
    return np.asarray(values, dtype=np.int32)


# ------------------------------------------------------------------------ the models


def _sdpa(name: str = xnnpack.SDPA, dtype: str = "float32") -> bytes:
    # q, k, v [1, 4, 2, 8] -> composite -> ADD: VisitNode's kTfLiteBuiltinStablehloComposite
    # case (strcmp with kOdmlSDPA), VisitDotAttentionNode (float32 only). The decomposition
    # (subgraph 1) is a stand-in: q + k.
    from flatbuffers import flexbuffers

    n = _Net()
    s = n.s
    q = (0.05, 0) if dtype == "int8" else None
    qp = ([q[0]], [q[1]], 0) if q else None
    q_, k_, v_ = (n.tensor(dtype, [1, 4, 2, 8], q=qp, role="in") for _ in range(3))
    att = n.tensor(dtype, [1, 4, 2, 8], q=qp)
    out = n.tensor(dtype, [1, 4, 2, 8], q=qp, role="out")
    opts = s.StableHLOCompositeOptionsT()
    opts.name = name.encode()
    opts.decompositionSubgraphIndex = 1
    opts.compositeAttributes = np.frombuffer(bytes(flexbuffers.Dumps({"scale": 0.35})), np.uint8)
    opts.compositeAttributesFormat = 0
    n.op("STABLEHLO_COMPOSITE", [q_, k_, v_], [att], options2=opts)
    add = s.AddOptionsT()
    n.op("ADD", [att, q_], [out], options=add)
    n.subgraph(name + ".impl")
    a, b, c = (n.tensor(dtype, [1, 4, 2, 8], q=qp, role="in") for _ in range(3))
    y = n.tensor(dtype, [1, 4, 2, 8], q=qp, role="out")
    n.op("ADD", [a, b], [y], options=s.AddOptionsT())
    return n.bytes()


def _variable(
    dtype: str = "float32",
    read_shape: list[int] | None = None,
    write_shape: list[int] | None = None,
) -> bytes:
    # VAR_HANDLE -> READ_VARIABLE -> ADD x -> ASSIGN_VARIABLE, then READ_VARIABLE out:
    # VisitVarHandleNode / VisitReadVariableNode / VisitAssignVariableNode.
    n = _Net()
    s = n.s
    shape = read_shape if read_shape is not None else [1, 4]
    qp = ([0.05], [0], 0) if dtype in ("int8", "uint8") else None
    x = n.tensor(dtype, shape, q=qp, role="in")
    res = n.tensor("resource", [])
    old = n.tensor(dtype, shape, q=qp)
    new = n.tensor(dtype, write_shape if write_shape is not None else shape, q=qp)
    out = n.tensor(dtype, shape, q=qp, role="out")
    vh = s.VarHandleOptionsT()
    vh.container, vh.sharedName = b"", b"total"
    n.op("VAR_HANDLE", [], [res], options=vh)
    n.op("READ_VARIABLE", [res], [old], options=s.ReadVariableOptionsT())
    n.op("ADD", [old, x], [new], options=s.AddOptionsT())
    n.op("ASSIGN_VARIABLE", [res, new], [], options=s.AssignVariableOptionsT())
    n.op("READ_VARIABLE", [res], [out], options=s.ReadVariableOptionsT())
    return n.bytes()


def _strided_slice(
    strides: list[int] | None = None,
    *,
    dtype: str = "float32",
    runtime_begin: bool = False,
    sig: list[int] | None = None,
    **masks: int,
) -> bytes:
    # x [1, 8, 8, 4] -> STRIDED_SLICE -> [1, 4, 4, 4] (masks change what it is, not what the
    # file says the output is; the runtime recomputes it) -> ADD of itself: VisitStridedSliceNode.
    n = _Net()
    s = n.s
    qp = ([0.05], [0], 0) if dtype == "int8" else None
    x = n.tensor(dtype, [1, 8, 8, 4], q=qp, sig=sig, role="in")
    if runtime_begin:
        begin = n.tensor("int32", [4], role="in")
    else:
        begin = n.tensor("int32", [4], data=_i32([0, 2, 2, 0]))
    end = n.tensor("int32", [4], data=_i32([1, 6, 6, 4]))
    st = n.tensor("int32", [4], data=_i32(strides or [1, 1, 1, 1]))
    y = n.tensor(dtype, [1, 4, 4, 4], q=qp)
    out = n.tensor(dtype, [1, 4, 4, 4], q=qp, role="out")
    o = s.StridedSliceOptionsT()
    for k, v in masks.items():
        setattr(o, k, v)
    n.op("STRIDED_SLICE", [x, begin, end, st], [y], options=o)
    n.op("ADD", [y, y], [out], options=s.AddOptionsT())
    return n.bytes()


def _expand_dims(dtype: str = "float32") -> bytes:
    # x [4, 8] -> ADD -> EXPAND_DIMS axis 0 -> ADD: VisitExpandDimsNode returns at once.
    n = _Net()
    s = n.s
    qp = ([0.05], [0], 0) if dtype == "int8" else None
    x = n.tensor(dtype, [4, 8], q=qp, role="in")
    a = n.tensor(dtype, [4, 8], q=qp)
    axis = n.tensor("int32", [1], data=_i32([0]))
    e = n.tensor(dtype, [1, 4, 8], q=qp)
    out = n.tensor(dtype, [1, 4, 8], q=qp, role="out")
    n.op("ADD", [x, x], [a], options=s.AddOptionsT())
    n.op("EXPAND_DIMS", [a, axis], [e], options=s.ExpandDimsOptionsT())
    n.op("ADD", [e, e], [out], options=s.AddOptionsT())
    return n.bytes()


def _int8_weights(per_channel: bool = True, also_cpu: bool = False) -> bytes:
    # Weight-only int8 CONV_2D: int8 weights [4, 3, 3, 3] -> DEQUANTIZE -> CONV_2D (float
    # input and bias). PrepareOpsToDelegate unpacks the constant itself ("Prepare to unpack
    # FP16/INT8 tensors"), per channel too. ``also_cpu``: the dequantized weights also feed a
    # GATHER, which stays out: the DEQUANTIZE then runs outside, the CONV_2D inside.
    n = _Net()
    s = n.s
    rng = np.random.default_rng(22)
    x = n.tensor("float32", [1, 8, 8, 3], role="in")
    w8 = rng.integers(-127, 128, size=(4, 3, 3, 3)).astype(np.int8)
    q = ([0.01, 0.02, 0.03, 0.04], [0, 0, 0, 0], 0) if per_channel else ([0.02], [0], 0)
    w = n.tensor("int8", [4, 3, 3, 3], data=w8, q=q)
    wf = n.tensor("float32", [4, 3, 3, 3])
    b = n.tensor("float32", [4], data=np.zeros(4, np.float32))
    y = n.tensor("float32", [1, 6, 6, 4], role="out")
    n.op("DEQUANTIZE", [w], [wf], options=s.DequantizeOptionsT())
    c = s.Conv2DOptionsT()
    c.padding, c.strideW, c.strideH = s.Padding.VALID, 1, 1
    c.dilationWFactor = c.dilationHFactor = 1
    n.op("CONV_2D", [x, wf, b], [y], options=c, version=3)
    if also_cpu:
        idx = n.tensor("int32", [1], data=_i32([0]))
        g = n.tensor("float32", [1, 3, 3, 3], role="out")
        go = s.GatherOptionsT()
        n.op("GATHER", [wf, idx], [g], options=go)
    return n.bytes()


def _sparse_float16() -> bytes:
    # tflm_densify_conv (sparse float32 weights -> DENSIFY -> CONV_2D) with the weights stored
    # float16: sparse float16 -> DENSIFY -> DEQUANTIZE -> CONV_2D, a float model converted
    # with sparsity and float16 weights. Both unpacking nodes are the delegate's own.
    from ai_edge_litert import schema_py_generated as schema

    def edit(model: Any) -> None:
        sg = model.subgraphs[0]
        codes = [c.builtinCode for c in model.operatorCodes]
        [dens] = [o for o in sg.operators if codes[o.opcodeIndex] == schema.BuiltinOperator.DENSIFY]
        sparse, dense = sg.tensors[dens.inputs[0]], sg.tensors[dens.outputs[0]]
        buf = model.buffers[sparse.buffer]
        values = np.frombuffer(bytes(buf.data), np.float32).astype(np.float16)
        buf.data = np.frombuffer(values.tobytes(), np.uint8)
        sparse.type = dense.type = schema.TensorType.FLOAT16
        f32 = schema.TensorT()
        f32.name, f32.type, f32.shape, f32.buffer = (
            b"w_f32",
            schema.TensorType.FLOAT32,
            list(dense.shape),
            0,
        )
        sg.tensors.append(f32)
        new = len(sg.tensors) - 1
        code = schema.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.DEQUANTIZE
        code.version = 1
        model.operatorCodes.append(code)
        deq = schema.OperatorT()
        deq.opcodeIndex = len(model.operatorCodes) - 1
        deq.inputs, deq.outputs = [dens.outputs[0]], [new]
        at = sg.operators.index(dens) + 1
        for o in sg.operators[at:]:
            o.inputs = [new if i == dens.outputs[0] else i for i in o.inputs]
        sg.operators.insert(at, deq)

    return edited("tflm_densify_conv.tflite", edit)


def _fc_runtime_weights() -> bytes:
    # FULLY_CONNECTED whose float32 weights are a model input -> ADD: VisitFullyConnectedNode
    # takes a dynamic filter only with TFLITE_XNNPACK_DELEGATE_FLAG_DYNAMIC_FULLY_CONNECTED,
    # off in TfLiteXNNPackDelegateOptionsDefault unless the build defines it.
    n = _Net()
    s = n.s
    x = n.tensor("float32", [1, 5], role="in")
    w = n.tensor("float32", [5, 5], role="in")
    b = n.tensor("float32", [5], data=np.zeros(5, np.float32))
    y = n.tensor("float32", [1, 5])
    out = n.tensor("float32", [1, 5], role="out")
    n.op("FULLY_CONNECTED", [x, w, b], [y], options=s.FullyConnectedOptionsT())
    n.op("ADD", [y, y], [out], options=s.AddOptionsT())
    return n.bytes()


def _zero_size(a: list[int], b: list[int]) -> bytes:
    # ADD of tensors a and b -> ADD of itself: CheckTensorShape refuses a dimension of 0.
    n = _Net()
    s = n.s
    out_shape = [max(x, y) if 0 not in (x, y) else 0 for x, y in zip(a, b, strict=True)]
    x, y = n.tensor("float32", a, role="in"), n.tensor("float32", b, role="in")
    z, w = n.tensor("float32", out_shape), n.tensor("float32", out_shape, role="out")
    n.op("ADD", [x, y], [z], options=s.AddOptionsT())
    n.op("ADD", [z, z], [w], options=s.AddOptionsT())
    return n.bytes()


# name -> (builder, operators the delegate takes, worked out from the source)
_CASES: dict[str, tuple[Callable[[], bytes], set[int]]] = {
    # STABLEHLO_COMPOSITE "odml.scaled_dot_product_attention", float32: taken with the ADD
    "sdpa_float32": (_sdpa, {0, 1}),
    # another composite name: VisitNode logs "unsupported stablehlo.composite" and refuses
    "composite_other": (lambda: _sdpa("odml.rms_norm"), {1}),
    # int8 attention: CheckTensorFloat32Type refuses it; the int8 ADD is taken
    "sdpa_int8": (lambda: _sdpa(dtype="int8"), {1}),
    # float32 variable [1, 4]: VAR_HANDLE, READ, ADD, ASSIGN, READ all taken
    "variable_float32": (_variable, {0, 1, 2, 3, 4}),
    # per-tensor int8 variable: CheckTensorFloatOrQUInt8Type takes it
    "variable_int8": (lambda: _variable("int8"), {0, 1, 2, 3, 4}),
    # int32 variable: refused everywhere (the int32 ADD too), so the VAR_HANDLE stays out
    "variable_int32": (lambda: _variable("int32"), set()),
    # scalar variable: READ_VARIABLE refuses dims->size == 0; ADD and ASSIGN taken, and with
    # the ASSIGN the VAR_HANDLE
    "variable_scalar": (lambda: _variable(read_shape=[]), {0, 2, 3}),
    # STRIDED_SLICE with strides 1 and no mask: taken
    "strided_slice": (_strided_slice, {0, 1}),
    # begin_mask / end_mask / offset are parameters of the slice: taken
    "strided_slice_begin_end_masks": (lambda: _strided_slice(beginMask=1, endMask=9), {0, 1}),
    "strided_slice_offset": (lambda: _strided_slice(offset=True), {0, 1}),
    # a stride of 2: "stride ... must be 1"
    "strided_slice_stride2": (lambda: _strided_slice([1, 2, 2, 1]), {1}),
    # shrink / new-axis / ellipsis masks: refused first thing
    "strided_slice_shrink": (lambda: _strided_slice(shrinkAxisMask=1), {1}),
    "strided_slice_new_axis": (lambda: _strided_slice(newAxisMask=1), {1}),
    "strided_slice_ellipsis": (lambda: _strided_slice(ellipsisMask=1), {1}),
    # begin computed at run time: CheckTensorStaticAllocation
    "strided_slice_runtime_begin": (lambda: _strided_slice(runtime_begin=True), {1}),
    # a dynamic batch (shape_signature -1) does not matter
    "strided_slice_dynamic": (lambda: _strided_slice(sig=[-1, 8, 8, 4]), {0, 1}),
    # int8 per-tensor: taken
    "strided_slice_int8": (lambda: _strided_slice(dtype="int8"), {0, 1}),
    # EXPAND_DIMS: never taken, float or int8; the ADDs around it are two partitions
    "expand_dims_float32": (_expand_dims, {0, 2}),
    "expand_dims_int8": (lambda: _expand_dims("int8"), {0, 2}),
    # int8 weights per channel -> DEQUANTIZE -> float CONV_2D: both taken
    "int8_weights_per_channel": (_int8_weights, {0, 1}),
    "int8_weights_per_tensor": (lambda: _int8_weights(per_channel=False), {0, 1}),
    # the dequantized weights also feed a GATHER: DEQUANTIZE and GATHER outside
    "int8_weights_also_gathered": (lambda: _int8_weights(also_cpu=True), {1}),
    # float32 weights computed at run time: the FULLY_CONNECTED stays out (this build)
    "fc_runtime_weights": (_fc_runtime_weights, {1}),
    # a tensor with a dimension of 0 (LiteRT's test_min_runtime.bin): both ADDs outside
    "zero_size": (lambda: _zero_size([0], [1]), set()),
    "zero_size_2d": (lambda: _zero_size([2, 0], [2, 0]), set()),
    "nonzero_size": (lambda: _zero_size([2, 3], [2, 3]), {0, 1}),
    # sparse float16 -> DENSIFY -> DEQUANTIZE -> CONV_2D: all three taken
    "sparse_float16": (_sparse_float16, {0, 1, 2}),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[bytes, dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("xnnpack_kinds")
    files = {}
    for name, (make, _) in _CASES.items():
        path = folder / f"{name}.tflite"
        path.write_bytes(make())
        files[name] = str(path)
    seen = _observe(list(files.values()))
    return {name: (Path(p).read_bytes(), seen[p]) for name, p in files.items()}


@pytest.mark.parametrize("name", list(_CASES))
def test_kind_placed_as_worked_out_and_as_the_delegate_takes_it(
    built: dict[str, tuple[bytes, dict[str, Any]]], name: str
) -> None:
    data, seen = built[name]
    expected = _CASES[name][1]
    model = tflkit.load(data)
    placement = [p for p in xnnpack.place(model, "xnnpack") if p.subgraph == 0]
    placed = {p.operator for p in placement if p.on == "target"}
    assert placed == expected, [(p.operator, p.op, p.rule, p.reason) for p in placement]
    assert "error" not in seen, seen.get("error")
    assert seen["ops"] == [op.op for op in model.primary.operators]
    took = {i for part in seen["partitions"] for i in part}
    assert took == expected
    assert xnnpack.segments(model, tuple(placement)) == len(seen["partitions"])


def test_every_left_out_operator_names_a_rule(
    built: dict[str, tuple[bytes, dict[str, Any]]],
) -> None:
    for name, (data, _) in built.items():
        for p in xnnpack.place(tflkit.load(data), "xnnpack"):
            assert (p.on == "target") == (p.rule == ""), (name, p)
            assert p.rule in xnnpack.RULES or not p.rule, (name, p)
            assert p.on == "target" or p.reason, (name, p)


def test_the_options_the_rules_read_are_those_written() -> None:
    # The truth: the values given to the object API when building the file.
    op = tflkit.load(_strided_slice(beginMask=5, endMask=9, shrinkAxisMask=2)).primary.operators[0]
    assert (op.option("begin_mask"), op.option("end_mask")) == (5, 9)
    assert (op.option("shrink_axis_mask"), op.option("ellipsis_mask")) == (2, 0)
    assert (op.option("new_axis_mask"), op.option("offset")) == (0, False)
    op = tflkit.load(_sdpa("odml.rms_norm")).primary.operators[0]
    assert op.option("name") == "odml.rms_norm"
    assert op.option("decomposition_subgraph_index") == 1
