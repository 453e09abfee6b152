"""``gpu``: the LiteRT GPU delegate (OpenCL / OpenGL ES / Metal), and what it leaves to the CPU.

Rules from ``tflite/tools/versioning/gpu_compatibility.cc`` in google-ai-edge/LiteRT (the
per-operator ``CheckGpuDelegateCompatibility`` switch), the parsers of
``tflite/delegates/gpu/common/model_builder.cc`` (``NewOperationParser``: which operators have
a parser; each ``IsSupported``: ``CheckMaxSupportedOpVersion``; ``GetOpsToReplace``: tensor
types and ranks) and the default ``max_delegated_partitions = 1`` of
``tflite/delegates/gpu/delegate_options.cc``. Checked against these files at LiteRT commit
f67457790c9c2ab67347d6fe53270e8d3df20868 (gpu_compatibility.cc last changed in 297707cb): the
rule ids below name each check, and ``tests/test_gpu.py`` works cases by hand from them. The
Analyzer's ``gpu_compatibility`` flag is not used (it reports every model compatible).

An operator needs both a case in the switch and a parser: ATAN2, BITCAST, CEIL,
DYNAMIC_UPDATE_SLICE, EMBEDDING_LOOKUP, LOGICAL_NOT, LOGICAL_OR, REDUCE_ALL, REDUCE_ANY,
REVERSE_V2, RIGHT_SHIFT, ROUND, TOPK_V2 and the STABLEHLO_* cases have no parser in
``NewOperationParser`` and stay on the CPU; UNPACK, PRELU and the RELU family have a parser
whose ``IsSupported`` does not call the switch.

Operator builtin options (fused activation SIGN_BIT, FULLY_CONNECTED weights format,
STRIDED_SLICE masks) are not read: the checks that need them are left out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tflkit.targets._base import Placement, output_name
from tflkit.targets._partition import partitions

if TYPE_CHECKING:
    from tflkit.model import Model, Operator, Subgraph, Tensor

__all__ = ["TARGETS", "SOURCE", "RULES", "FALLBACK", "place", "segments"]

TARGETS = ("gpu",)
SOURCE = (
    "LiteRT GPU delegate: tflite/tools/versioning/gpu_compatibility.cc, "
    "delegates/gpu/common/model_builder.cc, delegate_options.cc (checked against "
    "google-ai-edge/LiteRT@f67457790c9c2ab67347d6fe53270e8d3df20868)"
)
FALLBACK = "cpu"

RULES: dict[str, str] = {
    "gpu-op": "no case in gpu_compatibility.cc or no parser in model_builder.cc",
    "gpu-op-version": "the operator version is above the highest the GPU parser reads",
    "gpu-dtype": "a tensor type the delegate does not take (int16, int64, or int32 / bool "
    "computed at run time outside CAST, GATHER, comparisons, ...)",
    "gpu-rank": "a tensor of more than 4 dimensions (BHWC)",
    "gpu-dynamic-shape": "a dimension other than the batch is unknown until run time",
    "gpu-inputs": "the operator's runtime / constant inputs are not the ones the check allows",
    "gpu-partition": "outside the largest partition: the delegate takes one by default",
}

#: Element-wise operators with one runtime input and no constants
#: (``CheckInputsConstsOutputs(op_sig, 1, 0, 1)``).
ONE_ARG = frozenset(
    {
        "ABS",
        "COS",
        "ELU",
        "EXP",
        "FLOOR",
        "GELU",
        "HARD_SWISH",
        "LEAKY_RELU",
        "LOG",
        "LOGISTIC",
        "NEG",
        "RELU",
        "RELU6",
        "RELU_0_TO_1",
        "RELU_N1_TO_1",
        "RSQRT",
        "SIGN",
        "SIN",
        "SQRT",
        "SQUARE",
        "TANH",
    }
)

#: Element-wise operators with two inputs, at most one of them constant.
TWO_ARG = frozenset(
    {
        "ADD",
        "DIV",
        "EQUAL",
        "FLOOR_DIV",
        "FLOOR_MOD",
        "GREATER",
        "GREATER_EQUAL",
        "LESS",
        "LESS_EQUAL",
        "LOGICAL_AND",
        "MAXIMUM",
        "MINIMUM",
        "MUL",
        "NOT_EQUAL",
        "POW",
        "SQUARED_DIFFERENCE",
        "SUB",
    }
)

#: operator -> input positions that must be constants (weights, axes, paddings, ...).
CONSTANT_INPUTS: dict[str, tuple[int, ...]] = {
    "TRANSPOSE_CONV": (0, 1),
    "MEAN": (1,),
    "SUM": (1,),
    "REDUCE_MAX": (1,),
    "REDUCE_MIN": (1,),
    "REDUCE_PROD": (1,),
    "PAD": (1,),
    "PADV2": (1, 2),
    "MIRROR_PAD": (1,),
    "TRANSPOSE": (1,),
    "SPLIT": (0,),
    "SPLIT_V": (1, 2),
    "SLICE": (1, 2),
    "STRIDED_SLICE": (1, 2, 3),
    "PRELU": (1,),
}

#: Other operators with a case in the switch.
OTHER = frozenset(
    {
        "ADD_N",
        "AVERAGE_POOL_2D",
        "BATCH_MATMUL",
        "CAST",
        "CONCATENATION",
        "CONV_2D",
        "CUMSUM",
        "DENSIFY",
        "DEPTHWISE_CONV_2D",
        "DEPTH_TO_SPACE",
        "DEQUANTIZE",
        "FULLY_CONNECTED",
        "GATHER",
        "LSTM",
        "MAX_POOL_2D",
        "ONE_HOT",
        "PACK",
        "QUANTIZE",
        "RESHAPE",
        "RESIZE_BILINEAR",
        "RESIZE_NEAREST_NEIGHBOR",
        "SELECT",
        "SELECT_V2",
        "SOFTMAX",
        "SPACE_TO_DEPTH",
        "TILE",
        "UNPACK",
    }
)

#: ``ReLUOperationParser``: no input check of gpu_compatibility.cc, version 2 at most.
RELUS = frozenset({"LEAKY_RELU", "RELU", "RELU6", "RELU_0_TO_1", "RELU_N1_TO_1"})

SUPPORTED = ONE_ARG | TWO_ARG | frozenset(CONSTANT_INPUTS) | OTHER

#: Custom operators the switch accepts by name (MediaPipe's).
CUSTOM_OPS = frozenset(
    {"Convolution2DTransposeBias", "MaxPoolingWithArgmax2D", "MaxUnpooling2D", "Resampler"}
)

#: ``CheckMaxSupportedOpVersion``: the highest version the GPU parser reads, called by the
#: ``IsSupported`` of each parser in model_builder.cc (not in gpu_compatibility.cc). Higher
#: versions add int16 or other types the delegate does not take. The operators of
#: ``ElementwiseOperationParser`` take version 2, MUL 3; BATCH_MATMUL, CAST, DEPTH_TO_SPACE,
#: HARD_SWISH, MEAN, PACK, SUM, REDUCE_*, SPLIT, SPLIT_V, TILE and UNPACK are not checked.
MAX_VERSION: dict[str, int] = {
    **dict.fromkeys((ONE_ARG | TWO_ARG | {"ADD_N"}) - {"HARD_SWISH"} - RELUS, 2),
    "MUL": 3,
    **dict.fromkeys(RELUS, 2),
    "AVERAGE_POOL_2D": 2,
    "CONCATENATION": 2,
    "CONV_2D": 6,
    "CUMSUM": 1,
    "DENSIFY": 1,
    "DEPTHWISE_CONV_2D": 6,
    "DEQUANTIZE": 3,
    "FULLY_CONNECTED": 9,
    "GATHER": 1,
    "LSTM": 4,
    "MAX_POOL_2D": 2,
    "MIRROR_PAD": 2,
    "ONE_HOT": 1,
    "PAD": 2,
    "PADV2": 2,
    "PRELU": 1,
    "QUANTIZE": 2,
    "RESHAPE": 1,
    "RESIZE_BILINEAR": 3,
    "RESIZE_NEAREST_NEIGHBOR": 3,
    "SELECT": 1,
    "SELECT_V2": 1,
    "SLICE": 2,
    "SOFTMAX": 2,
    "SPACE_TO_DEPTH": 2,
    "STRIDED_SLICE": 4,
    "TRANSPOSE": 4,
    "TRANSPOSE_CONV": 3,
}

#: ``model_builder.cc``: tensor types the delegate reads (int8/uint8: quantized inference,
#: on by default, dequantized inside the GPU graph).
DTYPES = frozenset({"float32", "float16", "int32", "int8", "uint8", "bool"})

#: ``GetOpsToReplace`` (model_builder.cc): the types of the tensors computed at run time
#: (``kTfLiteArenaRw``; constants are not checked), int8/uint8 with quantized inference.
RUNTIME_TYPES = frozenset({"float32", "float16", "int8", "uint8"})
#: operator -> (extra input types, extra output types) of ``GetOpsToReplace``.
RUNTIME_EXTRA: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    **dict.fromkeys(
        ("EQUAL", "GREATER", "GREATER_EQUAL", "LESS", "LESS_EQUAL", "NOT_EQUAL"),
        (frozenset(), frozenset({"bool"})),
    ),
    "LOGICAL_AND": (frozenset({"bool"}), frozenset({"bool"})),
    "CAST": (frozenset({"bool", "int32"}), frozenset({"bool", "int32"})),
    "ONE_HOT": (frozenset({"int32"}), frozenset()),
    "SELECT": (frozenset({"bool"}), frozenset()),
    "SELECT_V2": (frozenset({"bool"}), frozenset()),
    "GATHER": (frozenset({"int32"}), frozenset()),
}

_MAX_RANK = 4


def _tensors(sg: Subgraph, indices: tuple[int, ...]) -> list[tuple[int, Tensor]]:
    return [(pos, t) for pos, i in enumerate(indices) if (t := sg.tensor(i)) is not None]


def _why_not(sg: Subgraph, op: Operator) -> tuple[str, str]:
    """(rule, reason) when gpu_compatibility.cc rejects ``op``; ("", "") when it takes it."""
    if op.is_custom:
        if op.custom_code in CUSTOM_OPS:
            return "", ""
        return "gpu-op", f"{op.display_name}: not a custom op the delegate knows"
    if op.op not in SUPPORTED:
        return "gpu-op", f"Not supported op {op.op}"
    top = MAX_VERSION.get(op.op)
    if top is not None and op.version > top:
        return "gpu-op-version", f"{op.op}: max version supported {top}, requested {op.version}"
    ins = _tensors(sg, op.inputs)
    outs = [t for _, t in _tensors(sg, op.outputs)]
    for t in [t for _, t in ins] + outs:
        if t.dtype not in DTYPES:
            return "gpu-dtype", f"{op.op}: tensor {t.name!r} is {t.dtype}"
        if t.quantization is not None and t.quantization.is_blockwise:
            # Not a check of the file: the delegate reads per-tensor / per-channel scales only.
            return "gpu-dtype", f"{op.op}: tensor {t.name!r} is quantized blockwise"
        if len(t.shape_signature) > _MAX_RANK:
            return "gpu-rank", f"{op.op}: tensor {t.name!r} has {len(t.shape_signature)} dims"
        if any(d < 0 for d in t.shape_signature[1:]):
            return "gpu-dynamic-shape", f"{op.op}: tensor {t.name!r} is {list(t.shape_signature)}"
    runtime = [pos for pos, t in ins if not t.is_constant]
    consts = [pos for pos, t in ins if t.is_constant]
    if op.op in ONE_ARG and (len(runtime) != 1 or consts):
        return "gpu-inputs", f"{op.op}: expects 1 runtime input and no constant"
    if op.op in TWO_ARG and (len(ins) != 2 or not runtime):
        return "gpu-inputs", f"{op.op}: expects 2 inputs, at least one at run time"
    for pos in CONSTANT_INPUTS.get(op.op, ()):
        if pos < len(op.inputs) and op.inputs[pos] >= 0 and pos not in consts:
            return "gpu-inputs", f"{op.op}: input {pos} must be a constant"
    if op.op == "ADD_N" and len(ins) != 2:
        return "gpu-inputs", "ADD_N only supports 2 inputs"
    if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D") and len(runtime) > 2:
        return "gpu-inputs", f"{op.op}: expected 1 or 2 runtime inputs, got {len(runtime)}"
    if op.op == "GATHER":
        if len(ins) != 2 or not runtime:
            return "gpu-inputs", "GATHER: expects 2 inputs, at least one at run time"
        if len(ins[1][1].shape) != 1 or ins[1][1].dtype != "int32":
            return "gpu-inputs", "GATHER: only 1D int32 indices"
    if op.op == "FULLY_CONNECTED":
        if 0 in consts:
            return "gpu-inputs", "FULLY_CONNECTED doesn't support constant input"
        if len(runtime) > 2:
            return "gpu-inputs", "FULLY_CONNECTED doesn't support more than 2 runtime inputs"
    if op.op == "DEQUANTIZE" and ins and ins[0][1].dtype == "int16":
        return "gpu-dtype", "DEQUANTIZE: unsupported dequantization type int16"
    # GetOpsToReplace checks the types after the operator's IsSupported.
    extra_in, extra_out = RUNTIME_EXTRA.get(op.op, (frozenset(), frozenset()))
    for t, allowed in [(t, RUNTIME_TYPES | extra_in) for _, t in ins] + [
        (t, RUNTIME_TYPES | extra_out) for t in outs
    ]:
        if not t.is_constant and t.dtype not in allowed:
            return "gpu-dtype", f"{op.op}: runtime tensor {t.name!r} is {t.dtype}"
    return "", ""


def place(model: Model, target: str) -> list[Placement]:
    """Where each operator runs with the GPU delegate's default options: ``target`` or ``cpu``.

    An operator the checks accept still runs on the CPU when it falls outside the largest
    partition (``gpu-partition``): the delegate takes ``max_delegated_partitions = 1``.

    Args:
        model: the model, as ``tflkit.load`` reads it.
        target: ``"gpu"``.

    Returns:
        One Placement per operator of every subgraph, in order.

    Example:
        >>> [p.op for p in place(tflkit.load("nb_gather_nd.tflite"), "gpu") if p.on == "cpu"]
        ['GATHER_ND']
    """
    found = []
    for sg in model.subgraphs:
        verdicts = [_why_not(sg, op) for op in sg.operators]
        parts = partitions(sg, [not rule for rule, _ in verdicts])
        # GetFirstNLargestPartitions: by node count; the earlier one on a tie (tflkit's choice).
        kept: set[int] = set()
        for nodes in parts:
            if len(nodes) > len(kept):
                kept = set(nodes)
        for op, (rule, why) in zip(sg.operators, verdicts, strict=True):
            if not rule and op.index not in kept:
                rule = "gpu-partition"
                why = f"{op.op}: supported, but outside the largest of {len(parts)} partitions"
            on = "cpu" if rule else "target"
            found.append(
                Placement(sg.index, op.index, op.display_name, output_name(sg, op), on, why, rule)
            )
    return found


def segments(model: Model, placement: tuple[Placement, ...]) -> int:
    """Partitions the delegate takes: at most one per subgraph."""
    return len({p.subgraph for p in placement if p.on == "target"})
