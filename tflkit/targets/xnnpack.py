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
Operator builtin options (fused activations, strided-slice masks, pooling padding) are not
read: the delegate accepts the common values and the fixtures do not exercise the others.
Left out: FULLY_CONNECTED version 8 (sparse weights, caught here by xnnpack-sparse), the
``odml.scaled_dot_product_attention`` composite / custom op, and the quantized scale limits of
ADD, MUL, SUB and LEAKY_RELU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    "xnnpack-op": "the operator is not in the delegate's table (custom ops: three by name)",
    "xnnpack-dtype": "the delegate takes float32 for this operator, int8/uint8 only where listed",
    "xnnpack-quantization": "int8/uint8 tensors: per-tensor activations, symmetric int8 weights",
    "xnnpack-static": "weights and shape parameters must be constants in the file",
    "xnnpack-sparse": "sparse constants are read only through a DENSIFY of constant weights",
    "xnnpack-rank": "tensors of more than 6 dimensions (XNN_MAX_TENSOR_DIMS)",
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
            "EXPAND_DIMS",
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
    # Resource variables: the interpreter's default XNNPACK delegate takes them
    # [observed: stateful_counter.tflite, 2.3.0; CALL_ONCE stays outside].
    "VAR_HANDLE": _FQ,
    "READ_VARIABLE": _FQ,
    "ASSIGN_VARIABLE": _FQ,
}

#: Custom operators the delegate recognises by custom code (MediaPipe's).
CUSTOM_OPS = frozenset({"Convolution2DTransposeBias", "MaxPoolingWithArgmax2D", "MaxUnpooling2D"})

#: operator -> input positions that must be constant (weights, bias, shape parameters).
#: FULLY_CONNECTED and BATCH_MATMUL take runtime weights in float32 [observed:
#: keras_weight_only_int8.tflite, a BATCH_MATMUL on a CAST output].
STATIC_INPUTS: dict[str, tuple[int, ...]] = {
    "CONV_2D": (1, 2),
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


def _static(sg: Subgraph, i: int) -> bool:
    """A constant, or a float16 constant widened by DEQUANTIZE (the delegate unpacks it)."""
    t = sg.tensor(i)
    if t is None or t.is_constant:
        return True
    for op in sg.operators:
        if i in op.outputs:
            src = sg.tensor(op.inputs[0]) if op.inputs else None
            if op.op == "DEQUANTIZE":
                return src is not None and src.is_constant and src.dtype == "float16"
            # a DENSIFY of constant sparse weights: the delegate densifies them once at
            # initialisation (observed on tflm_densify_conv: DENSIFY and its CONV_2D both taken)
            return op.op == "DENSIFY" and src is not None and src.is_constant
    return False


def _why_not(sg: Subgraph, op: Operator) -> tuple[str, str]:
    """(rule, reason) when the delegate leaves ``op`` to the reference kernels; ("", "")."""
    name = op.display_name
    if op.is_custom:
        if op.custom_code in CUSTOM_OPS:
            return "", ""
        return "xnnpack-op", f"{name}: not an operator the delegate knows"
    if op.op == "DENSIFY":  # static sparse weights are densified by the delegate itself
        src = sg.tensor(op.inputs[0]) if op.inputs else None
        if src is not None and src.is_constant and src.dtype in ("float32", "float16"):
            return "", ""
    allowed = OPS.get(op.op)
    if allowed is None:
        return "xnnpack-op", f"{op.op}: not in the delegate's operator table"
    ins = [(pos, t) for pos, i in enumerate(op.inputs) if (t := sg.tensor(i)) is not None]
    outs = [t for i in op.outputs if (t := sg.tensor(i)) is not None]
    for t in [t for _, t in ins] + outs:
        if len(t.shape_signature) > _MAX_RANK:
            return "xnnpack-rank", f"{op.op}: tensor {t.name!r} has {len(t.shape_signature)} dims"
        if t.is_sparse:
            return "xnnpack-sparse", f"{op.op}: tensor {t.name!r} is stored sparse"
    for pos in STATIC_INPUTS.get(op.op, ()):
        if pos < len(op.inputs) and not _static(sg, op.inputs[pos]):
            t = sg.tensors[op.inputs[pos]]
            return "xnnpack-static", f"{op.op}: input {pos} ({t.name!r}) is computed at run time"
    if op.op in ("VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE"):
        return _variable(op, ins, outs)
    if op.op == "QUANTIZE":
        return _quantize(op, ins, outs)
    if op.op == "DEQUANTIZE":
        return _dequantize(op, ins, outs)
    return _data(sg, op, allowed, ins, outs)


def _variable(op: Operator, ins: list[tuple[int, Tensor]], outs: list[Tensor]) -> tuple[str, str]:
    for t in [t for _, t in ins] + outs:
        if t.dtype not in ("resource", "float32"):
            return "xnnpack-dtype", f"{op.op}: variable of {t.dtype}, the delegate keeps float32"
    return "", ""


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
        for op in sg.operators:
            rule, why = _why_not(sg, op)
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
