"""``gpu``: the LiteRT GPU delegate (OpenCL / OpenGL ES / Metal), and what it leaves to the CPU.

Rules from ``tflite/tools/versioning/gpu_compatibility.cc`` in google-ai-edge/LiteRT (the
per-operator ``CheckGpuDelegateCompatibility`` switch; the file as carried since TensorFlow
2.12), the tensor checks of ``tflite/delegates/gpu/common/model_builder.cc`` and the default
``max_delegated_partitions = 1`` of ``tflite/delegates/gpu/delegate_options.cc``. Written from
memory, not read from the files: the rule ids below name each check, and
``tests/test_gpu.py`` works cases by hand from them. The Analyzer's ``gpu_compatibility`` flag
is not used (it reports every model compatible).

Operator builtin options (fused activation SIGN_BIT, FULLY_CONNECTED weights format,
STRIDED_SLICE masks) are not read: the checks that need them are left out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tflkit.targets import Placement, output_name
from tflkit.targets._partition import partitions

if TYPE_CHECKING:
    from tflkit.model import Model, Operator, Subgraph, Tensor

__all__ = ["TARGETS", "SOURCE", "RULES", "FALLBACK", "place", "segments"]

TARGETS = ("gpu",)
SOURCE = (
    "LiteRT GPU delegate: tflite/tools/versioning/gpu_compatibility.cc, "
    "delegates/gpu/common/model_builder.cc, delegate_options.cc (from memory, LiteRT 2025 / "
    "TF 2.12+)"
)
FALLBACK = "cpu"

RULES: dict[str, str] = {
    "gpu-op": "gpu_compatibility.cc has no case for the operator ('Not supported op')",
    "gpu-op-version": "the operator version is above the highest the GPU parser reads",
    "gpu-dtype": "a tensor type the delegate does not take (int16, int64, string, ...)",
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
    "DEPTHWISE_CONV_2D": (1,),
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
    "GATHER": (1,),
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
        "DEPTH_TO_SPACE",
        "DEQUANTIZE",
        "FULLY_CONNECTED",
        "LSTM",
        "MAX_POOL_2D",
        "ONE_HOT",
        "PACK",
        "QUANTIZE",
        "RESHAPE",
        "RESIZE_BILINEAR",
        "RESIZE_NEAREST_NEIGHBOR",
        "SELECT_V2",
        "SOFTMAX",
        "SPACE_TO_DEPTH",
        "TILE",
    }
)

SUPPORTED = ONE_ARG | TWO_ARG | frozenset(CONSTANT_INPUTS) | OTHER

#: Custom operators the switch accepts by name (MediaPipe's).
CUSTOM_OPS = frozenset(
    {"Convolution2DTransposeBias", "MaxPoolingWithArgmax2D", "MaxUnpooling2D", "Resampler"}
)

#: ``CheckMaxSupportedOpVersion``: the highest version the GPU parser reads. Higher versions
#: add int16 or other types the delegate does not take.
MAX_VERSION: dict[str, int] = {
    "ADD": 2,
    "AVERAGE_POOL_2D": 2,
    "CONCATENATION": 2,
    "CONV_2D": 6,
    "DEPTHWISE_CONV_2D": 6,
    "FULLY_CONNECTED": 9,
    "MAX_POOL_2D": 2,
    "MUL": 3,
    "SOFTMAX": 2,
}

#: ``model_builder.cc``: tensor types the delegate reads (int8/uint8: quantized inference,
#: on by default, dequantized inside the GPU graph).
DTYPES = frozenset({"float32", "float16", "int32", "int8", "uint8", "bool"})

_MAX_RANK = 4


def _tensors(sg: Subgraph, indices: tuple[int, ...]) -> list[tuple[int, Tensor]]:
    return [(pos, sg.tensors[i]) for pos, i in enumerate(indices) if 0 <= i < len(sg.tensors)]


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
    if op.op == "CONV_2D" and len(runtime) > 2:
        return "gpu-inputs", f"CONV_2D: expected 1 or 2 runtime inputs, got {len(runtime)}"
    if op.op == "FULLY_CONNECTED":
        if 0 in consts:
            return "gpu-inputs", "FULLY_CONNECTED doesn't support constant input"
        if len(runtime) > 2:
            return "gpu-inputs", "FULLY_CONNECTED doesn't support more than 2 runtime inputs"
    if op.op == "DEQUANTIZE" and ins and ins[0][1].dtype == "int16":
        return "gpu-dtype", "DEQUANTIZE: unsupported dequantization type int16"
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
