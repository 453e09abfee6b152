"""``xnnpack``: the XNNPACK delegate, LiteRT's default CPU delegate.

The interpreter applies it by default: ops it takes run in XNNPACK's kernels, the rest on
LiteRT's reference (builtin) kernels, and each run of taken ops is one DELEGATE node. This is
the usual answer to "why is my int8 model slower than float32": an int8 SOFTMAX stays outside
and cuts the graph in two (fixtures/mlp_int8_float_io.tflite: QUANTIZE and both
FULLY_CONNECTEDs in one partition, SOFTMAX on the reference kernel, DEQUANTIZE in a second).

The rules are the op and dtype checks of the delegate's ``Subgraph::VisitNode`` and its
``Visit...Node`` functions, checked against ``tflite/delegates/xnnpack/xnnpack_delegate.cc`` of
github.com/google-ai-edge/LiteRT at commit f67457790c9c2ab67347d6fe53270e8d3df20868, and
calibrated against what ai-edge-litert 2.3.0 does on every fixture (``tests/test_xnnpack.py``
compares them with the DELEGATE nodes the interpreter reports after ``allocate_tensors()``).
``Delegate::PrepareOpsToDelegate`` is followed too: DEQUANTIZE / DENSIFY nodes that unpack
constant weights are the delegate's own unless an operator it leaves out reads them, and
resource variables are taken per variable, in execution order (``_subgraph``). Line numbers
(``xnnpack_delegate.cc:NNNN``) are of that commit. Builtin options read: STRIDED_SLICE's masks
and a STABLEHLO_COMPOSITE's name; fused activations and pooling padding are not (the delegate
accepts the common values and the fixtures do not exercise the others). Left out: the
quantized scale limits of ADD, MUL, SUB and LEAKY_RELU, the shape checks of the attention
composite (VisitDotAttentionNode: head sizes and mask length), and blockwise int8 weights
through DEQUANTIZE (unpacked as the source reads them; not observed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tflkit.errors import TflkitError
from tflkit.targets._base import Placement, output_name
from tflkit.targets._partition import partitions

if TYPE_CHECKING:
    from tflkit.model import Model, Operator, Subgraph, Tensor

__all__ = ["TARGETS", "SOURCE", "RULES", "FALLBACK", "place", "segments"]

TARGETS = ("xnnpack",)
SOURCE = (
    "LiteRT XNNPACK delegate, google-ai-edge/LiteRT tflite/delegates/xnnpack/xnnpack_delegate.cc "
    "(commit f67457790c9c), calibrated on ai-edge-litert 2.3.0"
)
FALLBACK = "cpu"

RULES: dict[str, str] = {
    "xnnpack-op": "the operator, or this form of it (masks, strides, composite name), is not "
    "one the delegate takes (custom ops: four by name)",
    "xnnpack-dtype": "the delegate takes float32 for this operator, int8/uint8 only where listed",
    "xnnpack-quantization": "int8/uint8 tensors: per-tensor activations, symmetric int8 weights",
    "xnnpack-static": "weights and shape parameters must be constants in the file (or unpacked "
    "by the delegate); an unpacking node read by an operator left out",
    "xnnpack-sparse": "sparse constants are read only through a DENSIFY of constant weights",
    "xnnpack-rank": "tensors of more than 6 dimensions (XNN_MAX_TENSOR_DIMS), a dimension of "
    "size 0, a scalar READ_VARIABLE",
}

_F = frozenset({"float32"})
_FQ = frozenset({"float32", "int8", "uint8"})
_FI = frozenset({"float32", "int8"})

#: operator -> the dtypes of its data tensors the delegate takes.
#: Float only where XNNPACK has no quantized operator or the delegate does not wire it:
#: an int8 SOFTMAX stays on the reference kernel [observed: mlp_int8.tflite, 2.3.0], and so
#: do int8 RELU, RELU6, HARD_SWISH, EXP, ... (tests/test_xnnpack.py swaps the SOFTMAX of
#: mlp_float32 / mlp_int8 for each of them). RELU_0_TO_1 is not taken in 2.3.0. The int8
#: side of the data-movement ops, MEAN, TANH and BATCH_MATMUL is observed on fixtures whose
#: float tensors are turned int8 (tests/test_xnnpack.py). From the source: AVERAGE_POOL_2D
#: is float only (VisitAveragePool2DNode: CheckTensorFloatType), ELU int8 but not uint8
#: (CheckTensorFloatOrQInt8Type), SUM, REDUCE_MAX and REDUCE_MIN float / int8 / uint8 like MEAN
#: (VisitReduceNode) [all but uint8 ELU also observed, tests/test_xnnpack.py].
OPS: dict[str, frozenset[str]] = {
    **{
        op: _F
        for op in (
            "ABS",
            "AVERAGE_POOL_2D",
            "CEIL",
            "COS",
            "DIV",
            "EXP",
            "FLOOR",
            "GELU",
            "HARD_SWISH",
            "LOG",
            "MAXIMUM",
            "MINIMUM",
            "NEG",
            "PRELU",
            "RELU",
            "RELU6",
            "RELU_N1_TO_1",
            "ROUND",
            "RSQRT",
            "SIN",
            "SOFTMAX",
            "SQRT",
            "SQUARE",
            "SQUARED_DIFFERENCE",
        )
    },
    **{
        op: _FQ
        for op in (
            "ADD",
            "BATCH_MATMUL",
            "CONCATENATION",
            "CONV_2D",
            "DEPTH_TO_SPACE",
            "DEPTHWISE_CONV_2D",
            "FULLY_CONNECTED",
            "LEAKY_RELU",
            "LOGISTIC",
            "MAX_POOL_2D",
            "MEAN",
            "MUL",
            "PAD",
            "REDUCE_MAX",
            "REDUCE_MIN",
            "RESHAPE",
            "RESIZE_BILINEAR",
            "SLICE",
            "SPACE_TO_DEPTH",
            "SPLIT",
            "STRIDED_SLICE",
            "SUB",
            "SUM",
            "TANH",
            "TRANSPOSE",
            "TRANSPOSE_CONV",
        )
    },
    "ELU": _FI,
    # Checked by their own rules below.
    "QUANTIZE": _FQ,
    "DEQUANTIZE": _FQ,
    # Resource variables: checked by _variables (Delegate::support_variable_ops() is true
    # whatever the options); CALL_ONCE is not in VisitNode's switch and stays outside.
    "VAR_HANDLE": _FQ,
    "READ_VARIABLE": _FQ,
    "ASSIGN_VARIABLE": _FQ,
    # Only the ``odml.scaled_dot_product_attention`` composite (checked by _composite).
    "STABLEHLO_COMPOSITE": _F,
}

#: Operators VisitNode dispatches whose Visit function refuses them whatever they hold.
REFUSED: dict[str, str] = {
    # VisitExpandDimsNode starts with `return kTfLiteError;` (xnnpack_delegate.cc:4865,
    # before its own checks) [observed: a float EXPAND_DIMS stays outside, 2.3.0]
    "EXPAND_DIMS": "the delegate's VisitExpandDimsNode refuses every EXPAND_DIMS",
}

#: The attention composite the delegate lowers to its own SDPA (kOdmlSDPA,
#: xnnpack_delegate.cc:85 and :3404 for STABLEHLO_COMPOSITE, :3443 for the custom op).
SDPA = "odml.scaled_dot_product_attention"

#: Custom operators the delegate recognises by custom code (MediaPipe's).
CUSTOM_OPS = frozenset(
    {"Convolution2DTransposeBias", "MaxPoolingWithArgmax2D", "MaxUnpooling2D", SDPA}
)

#: operator -> input positions that must be constant (weights, bias, shape parameters).
#: BATCH_MATMUL takes runtime weights in float32 [observed: keras_weight_only_int8.tflite, a
#: BATCH_MATMUL on a CAST output]. FULLY_CONNECTED takes them only with
#: TFLITE_XNNPACK_DELEGATE_FLAG_DYNAMIC_FULLY_CONNECTED (VisitFullyConnectedNode,
#: xnnpack_delegate.cc: "Dynamic filter is supported, but only for FP32" under
#: support_dynamic_fully_connected_operator()), which TfLiteXNNPackDelegateOptionsDefault
#: (:7857) sets only in builds defining XNNPACK_DELEGATE_ENABLE_DYNAMIC_FULLY_CONNECTED: not
#: the ai-edge-litert wheel [observed: a FULLY_CONNECTED on a TRANSPOSE of a variable, and one
#: whose weights are a model input, stay outside, 2.3.0].
STATIC_INPUTS: dict[str, tuple[int, ...]] = {
    "CONV_2D": (1, 2),
    "FULLY_CONNECTED": (1, 2),
    "DEPTHWISE_CONV_2D": (1, 2),
    "TRANSPOSE_CONV": (0, 1, 3),
    "PRELU": (1,),
    "RESHAPE": (1,),
    "MEAN": (1,),
    "SUM": (1,),
    "REDUCE_MAX": (1,),
    "REDUCE_MIN": (1,),
    "PAD": (1,),
    "SLICE": (1, 2),
    "STRIDED_SLICE": (1, 2, 3),
    "TRANSPOSE": (1,),
    "SPLIT": (0,),
    "EXPAND_DIMS": (1,),
    "RESIZE_BILINEAR": (1,),
}

#: Operators with a weights input (position 1) that may be int8 under a float32 input and
#: output: dynamic-range ("hybrid") quantization, computed by XNNPACK's qd8 kernels
#: [observed for FULLY_CONNECTED: mlp_dynamic_range.tflite; CONV_2D from memory].
HYBRID_OPS = frozenset({"FULLY_CONNECTED", "CONV_2D"})

#: Weight positions read per channel (int8 only, zero point 0); other inputs per-tensor.
_WEIGHT_INPUTS: dict[str, tuple[int, ...]] = {
    "CONV_2D": (1, 2),
    "DEPTHWISE_CONV_2D": (1, 2),
    "FULLY_CONNECTED": (1, 2),
    "TRANSPOSE_CONV": (1, 3),
}

_MAX_RANK = 6

#: Operators whose Visit function runs CheckTensorShape on its data inputs, which refuses a
#: dimension of size 0 ("invalid num of elements", xnnpack_delegate.cc:2873): VisitUnaryNode
#: (the ops of its case list, :3173-3196), VisitBinaryNode (both inputs), the convolutions,
#: FULLY_CONNECTED, PAD, RESHAPE, RESIZE_BILINEAR, TRANSPOSE [observed on LiteRT's
#: tflite/testdata/test_min_runtime.bin: an ADD of a [0] tensor stays outside].
_BINARY = ("ADD", "DIV", "MAXIMUM", "MINIMUM", "MUL", "PRELU", "SQUARED_DIFFERENCE", "SUB")
_SHAPE_CHECKED = frozenset(
    (
        *("ABS", "CEIL", "COS", "DEQUANTIZE", "ELU", "EXP", "FLOOR", "GELU", "HARD_SWISH"),
        *("LEAKY_RELU", "LOGISTIC", "LOG", "NEG", "QUANTIZE", "RELU", "RELU6", "RELU_N1_TO_1"),
        *("ROUND", "RSQRT", "SIN", "SQRT", "SQUARE", "TANH", *_BINARY),
        *("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "PAD"),
        *("RESHAPE", "RESIZE_BILINEAR", "TRANSPOSE"),
    )
)


def _unpacks(sg: Subgraph, op: Operator, quasi: dict[int, int]) -> bool:
    """True when ``op`` unpacks static data that the delegate unpacks itself, once, at
    initialisation (Delegate::PrepareOpsToDelegate, xnnpack_delegate.cc:7299-7373):

    - DEQUANTIZE of a dense float16 constant, or of an int8 one with quantization (per
      channel too: a weight-only int8 model's weights), to float32 ("Prepare to unpack
      FP16/INT8 tensors");
    - DENSIFY of a sparse float32 / float16 / int8 constant to the same type ("Prepare to
      unpack sparse tensors").

    Its input may itself be the output of such a node (``quasi``: tensor -> unpacking node).
    """
    if len(op.inputs) != 1 or len(op.outputs) != 1:
        return False
    src, dst = sg.tensor(op.inputs[0]), sg.tensor(op.outputs[0])
    if src is None or dst is None:
        return False
    if op.op == "DEQUANTIZE":
        static = src.is_constant or op.inputs[0] in quasi
        kind = src.dtype == "float16" or (src.dtype == "int8" and src.quantization is not None)
        return not src.is_sparse and static and kind and dst.dtype == "float32"
    if op.op == "DENSIFY":
        kind = src.dtype in ("float32", "float16", "int8")
        return src.is_constant and src.is_sparse and kind and dst.dtype == src.dtype
    return False


def _static(sg: Subgraph, i: int, quasi: dict[int, int]) -> bool:
    """A constant, or the output of a node the delegate unpacks at initialisation."""
    t = sg.tensor(i)
    return t is None or t.is_constant or i in quasi


def _why_not(sg: Subgraph, op: Operator, quasi: dict[int, int]) -> tuple[str, str]:
    """(rule, reason) when the delegate leaves ``op`` to the reference kernels; ("", "")."""
    name = op.display_name
    if op.is_custom:
        if op.custom_code == SDPA:
            return _composite(sg, op)
        if op.custom_code in CUSTOM_OPS:
            return "", ""
        return "xnnpack-op", f"{name}: not an operator the delegate knows"
    if op.op in REFUSED:
        return "xnnpack-op", f"{op.op}: {REFUSED[op.op]}"
    if op.op == "FULLY_CONNECTED" and op.version == 8:
        # VisitNode: "FullyConnected with sparse weight has version 8, which cannot be
        # delegated to XNNPack" (xnnpack_delegate.cc:3272)
        return "xnnpack-sparse", "FULLY_CONNECTED version 8 (sparse weights in the operator)"
    allowed = OPS.get(op.op)
    if allowed is None:
        return "xnnpack-op", f"{op.op}: not in the delegate's operator table"
    if op.op == "STABLEHLO_COMPOSITE":
        return _composite(sg, op)
    ins = [(pos, t) for pos, i in enumerate(op.inputs) if (t := sg.tensor(i)) is not None]
    outs = [t for i in op.outputs if (t := sg.tensor(i)) is not None]
    for t in [t for _, t in ins] + outs:
        if len(t.shape_signature) > _MAX_RANK:
            return "xnnpack-rank", f"{op.op}: tensor {t.name!r} has {len(t.shape_signature)} dims"
        if t.is_sparse:
            return "xnnpack-sparse", f"{op.op}: tensor {t.name!r} is stored sparse"
    if op.op in _SHAPE_CHECKED:
        for pos, t in ins[: 2 if op.op in _BINARY else 1]:
            if 0 in t.shape:
                return "xnnpack-rank", f"{op.op}: input {pos} ({t.name!r}) has a dimension of 0"
    for pos in STATIC_INPUTS.get(op.op, ()):
        if pos < len(op.inputs) and not _static(sg, op.inputs[pos], quasi):
            t = sg.tensors[op.inputs[pos]]
            return "xnnpack-static", f"{op.op}: input {pos} ({t.name!r}) is computed at run time"
    if op.op == "STRIDED_SLICE":
        rule, why = _strided_slice(sg, op)
        if rule:
            return rule, why
    if op.op == "QUANTIZE":
        return _quantize(op, ins, outs)
    if op.op == "DEQUANTIZE":
        return _dequantize(op, ins, outs)
    return _data(sg, op, allowed, ins, outs)


def _composite(sg: Subgraph, op: Operator) -> tuple[str, str]:
    # VisitNode takes a STABLEHLO_COMPOSITE by its name only (strcmp with kOdmlSDPA,
    # xnnpack_delegate.cc:3404); VisitDotAttentionNode (:6404) then wants every input (query,
    # key, value, optional mask) and the output float32 (CheckTensorFloat32Type).
    name = op.custom_code if op.is_custom else op.option("name", "")
    if name != SDPA:
        return "xnnpack-op", f"{op.op} {name!r}: the delegate takes only the {SDPA!r} composite"
    for i in [*op.inputs, *op.outputs]:
        t = sg.tensor(i)
        if t is not None and t.dtype != "float32":
            return (
                "xnnpack-dtype",
                f"{SDPA}: {t.dtype} tensor {t.name!r}, the delegate takes float32",
            )
    return "", ""


def _strided_slice(sg: Subgraph, op: Operator) -> tuple[str, str]:
    # VisitStridedSliceNode (xnnpack_delegate.cc:6245): no ellipsis, new-axis or shrink-axis
    # mask (:6252); begin, end and strides constant int32 vectors as long as the input's rank
    # (:6258-6335); every stride 1 (:6280). begin_mask, end_mask and offset are taken.
    for mask in ("ellipsis_mask", "new_axis_mask", "shrink_axis_mask"):
        if op.option(mask, 0):
            return "xnnpack-op", f"STRIDED_SLICE: {mask} {op.option(mask)}, the delegate takes 0"
    if len(op.inputs) < 4:
        return "xnnpack-op", "STRIDED_SLICE: without begin, end and strides"
    x = sg.tensor(op.inputs[0])
    rank = len(x.shape) if x is not None else -1
    for pos, what in ((1, "begin"), (2, "end"), (3, "strides")):
        t = sg.tensor(op.inputs[pos])
        if t is None or t.dtype != "int32" or t.shape != (rank,):
            got = "none" if t is None else f"{t.dtype} {list(t.shape)}"
            return (
                "xnnpack-op",
                f"STRIDED_SLICE: {what} is {got}, the delegate takes int32 [{rank}]",
            )
    strides = sg.tensors[op.inputs[3]]
    try:
        values = [int(v) for v in strides.numpy().reshape(-1)]
    except TflkitError:
        return "xnnpack-static", "STRIDED_SLICE: strides without readable constant data"
    if any(v != 1 for v in values):
        return "xnnpack-op", f"STRIDED_SLICE: strides {values}, the delegate takes 1 only"
    return "", ""


def _variables(sg: Subgraph) -> dict[int, tuple[str, str]]:
    """(rule, reason) of the resource-variable operators of ``sg``, by operator index.

    Follows VisitVarHandleNode (xnnpack_delegate.cc:7116), VisitReadVariableNode (:5698),
    VisitAssignVariableNode (:3468) and ResourceInfo::AddProxyValue (:506), in execution
    order: a READ_VARIABLE or ASSIGN_VARIABLE is taken when a VAR_HANDLE of its resource
    came before it in this subgraph, its value is float32 / float16 or per-tensor int8 /
    uint8 (CheckTensorFloatOrQUInt8Type), a READ_VARIABLE's value is not a scalar (:5715),
    and the value has the type and shape of the first one taken for that resource. A
    VAR_HANDLE is taken when one of its reads or assignments is (PrepareOpsToDelegate,
    "Record which resource variables can be delegated", :7433).
    """
    found: dict[int, tuple[str, str]] = {}
    handles: dict[int, list[int]] = {}  # resource tensor -> its VAR_HANDLE operators
    proxy: dict[int, tuple[str, tuple[int, ...]]] = {}  # resource -> value dtype and shape
    for op in sg.operators:
        if op.op == "VAR_HANDLE":
            handles.setdefault(op.outputs[0] if op.outputs else -1, []).append(op.index)
            continue
        if op.op not in ("READ_VARIABLE", "ASSIGN_VARIABLE") or not op.inputs:
            continue
        found[op.index] = _access(sg, op, handles, proxy)
    for res, ops in handles.items():
        taken = res in proxy
        for index in ops:
            found[index] = (
                ("", "")
                if taken
                else (
                    "xnnpack-op",
                    "VAR_HANDLE: the delegate takes none of its reads and assignments",
                )
            )
    return found


def _access(
    sg: Subgraph,
    op: Operator,
    handles: dict[int, list[int]],
    proxy: dict[int, tuple[str, tuple[int, ...]]],
) -> tuple[str, str]:
    reading = op.op == "READ_VARIABLE"
    res = op.inputs[0]
    if reading:
        value = sg.tensor(op.outputs[0]) if op.outputs else None
    else:
        value = sg.tensor(op.inputs[1]) if len(op.inputs) > 1 else None
    if value is None:
        return "xnnpack-op", f"{op.op}: without a value tensor"
    if reading and not value.shape:
        return "xnnpack-rank", f"{op.op}: the value {value.name!r} is a scalar"
    if value.dtype in ("int8", "uint8"):
        rule, why = _per_tensor(op, [value])
        if rule:
            return rule, why
    elif value.dtype not in ("float32", "float16"):
        return "xnnpack-dtype", f"{op.op}: a variable of {value.dtype}"
    if res not in handles:
        return "xnnpack-op", f"{op.op}: no VAR_HANDLE of its resource before it"
    key = (value.dtype, value.shape)
    first = proxy.setdefault(res, key)
    if first != key:
        return (
            "xnnpack-dtype",
            f"{op.op}: {value.dtype} {list(value.shape)}, the variable was "
            f"{first[0]} {list(first[1])}",
        )
    return "", ""


def _subgraph(sg: Subgraph) -> list[tuple[str, str]]:
    """(rule, reason) of every operator of ``sg``, in order, as PrepareOpsToDelegate decides."""
    variables = _variables(sg)
    quasi: dict[int, int] = {}  # tensor -> the operator that unpacks it (static data)
    found: list[tuple[str, str]] = []
    for op in sg.operators:
        if _unpacks(sg, op, quasi):
            quasi[op.outputs[0]] = op.index
            found.append(("", ""))
            continue
        found.append(variables[op.index] if op.index in variables else _why_not(sg, op, quasi))
        if found[-1][0]:
            # "If a non-delegated node consumes output of a node that unpacks static data,
            # that node shouldn't be delegated" (xnnpack_delegate.cc:7410)
            for i in op.inputs:
                if i in quasi and not found[quasi[i]][0]:
                    found[quasi[i]] = (
                        "xnnpack-static",
                        f"{sg.operators[quasi[i]].op}: its output feeds {op.display_name} "
                        f"(operator {op.index}), which the delegate leaves out",
                    )
    return found


def _quantize(op: Operator, ins: list[tuple[int, Tensor]], outs: list[Tensor]) -> tuple[str, str]:
    # float32 -> int8/uint8 (quantize) or int8 -> int8, uint8 -> uint8 (requantize); not
    # int8 <-> uint8 [observed: cnn_uint8_io.tflite] and not int16 [quantize_int16.tflite].
    if not ins or not outs:
        return "xnnpack-op", f"{op.op}: without input or output"
    src, dst = ins[0][1].dtype, outs[0].dtype
    if dst not in ("int8", "uint8") or src not in ("float32", dst):
        return "xnnpack-dtype", f"QUANTIZE {src} -> {dst}: the delegate takes float32 -> int8/uint8"
    return _per_tensor(op, [outs[0]] + ([ins[0][1]] if src == dst else []))


def _dequantize(op: Operator, ins: list[tuple[int, Tensor]], outs: list[Tensor]) -> tuple[str, str]:
    # int8/uint8 -> float32, and float16 constants (weights) -> float32 [mlp_float16.tflite].
    if not ins or not outs:
        return "xnnpack-op", f"{op.op}: without input or output"
    src, dst = ins[0][1], outs[0].dtype
    if dst == "float32" and src.dtype == "float16" and src.is_constant:
        return "", ""
    if dst != "float32" or src.dtype not in ("int8", "uint8"):
        return (
            "xnnpack-dtype",
            f"DEQUANTIZE {src.dtype} -> {dst}: the delegate takes int8/uint8 or a float16 "
            "constant to float32",
        )
    return _per_tensor(op, [src])


def _per_tensor(op: Operator, tensors: list[Tensor]) -> tuple[str, str]:
    for t in tensors:
        q = t.quantization
        if q is None or len(q.scales) != 1:
            kind = "no scale" if q is None else f"{len(q.scales)} scales"
            return "xnnpack-quantization", f"{op.op}: {t.dtype} {t.name!r} has {kind}, needs one"
    return "", ""


def _data(
    sg: Subgraph,
    op: Operator,
    allowed: frozenset[str],
    ins: list[tuple[int, Tensor]],
    outs: list[Tensor],
) -> tuple[str, str]:
    weights = _WEIGHT_INPUTS.get(op.op, ())
    static = STATIC_INPUTS.get(op.op, ())
    # The activations fix the operator's type: float32, or int8 / uint8 quantized.
    data = [t for pos, t in ins if pos not in weights and pos not in static] + outs
    kinds = {t.dtype for t in data}
    if not data:
        return "", ""
    if len(kinds) != 1:
        return "xnnpack-dtype", f"{op.op}: mixes {' and '.join(sorted(kinds))}"
    kind = kinds.pop()
    if kind not in allowed:
        takes = " / ".join(sorted(allowed))
        return "xnnpack-dtype", f"{op.op}: {kind}, the delegate takes {takes} here"
    if kind == "float32":
        for pos, t in ins:
            if pos not in weights or t.dtype == "float32":
                continue
            if op.op not in HYBRID_OPS or pos != 1 or t.dtype not in ("int8", "int4"):
                return "xnnpack-dtype", f"{op.op}: {t.dtype} weights under float32"
            q = t.quantization
            if t.dtype == "int8" and q is not None and q.is_blockwise:
                # [observed: fc_blockwise_int8.tflite: allocate_tensors() fails in the delegate]
                return (
                    "xnnpack-quantization",
                    f"{op.op}: blockwise int8 weights (the delegate fails to prepare them)",
                )
        return "", ""
    rule, why = _per_tensor(op, data)
    if rule:
        return rule, why
    for pos, t in ins:
        if pos not in weights or t.dtype == "int32":
            continue
        q = t.quantization
        if q is None:
            return "xnnpack-quantization", f"{op.op}: {t.dtype} weights {t.name!r} without scales"
        if len(q.scales) > 1 and (kind != "int8" or any(q.zero_points)):
            return (
                "xnnpack-quantization",
                f"{op.op}: per-channel weights {t.name!r} need int8 with zero point 0",
            )
    return "", ""


def place(model: Model, target: str) -> list[Placement]:
    """Where each operator runs with the XNNPACK delegate: ``target`` or ``cpu``.

    Args:
        model: the model, as ``tflkit.load`` reads it.
        target: ``"xnnpack"``.

    Returns:
        One Placement per operator of every subgraph, in order; ``cpu`` ones carry the rule id
        and the reason the delegate leaves them to the reference kernels.

    Example:
        >>> [p.op for p in place(tflkit.load("mlp_int8.tflite"), "xnnpack") if p.on == "cpu"]
        ['SOFTMAX']
    """
    found = []
    for sg in model.subgraphs:
        reasons = _subgraph(sg)
        for op in sg.operators:
            rule, why = reasons[op.index]
            on = "cpu" if rule else "target"
            out = output_name(sg, op)
            found.append(Placement(sg.index, op.index, op.display_name, out, on, why, rule))
    return found


def segments(model: Model, placement: tuple[Placement, ...]) -> int:
    """DELEGATE nodes: the partitions LiteRT makes of the ops the delegate takes."""
    total = 0
    for sg in model.subgraphs:
        mine = [p for p in placement if p.subgraph == sg.index]
        if len(mine) != len(sg.operators):
            continue
        total += len(partitions(sg, [p.on == "target" for p in mine]))
    return total
