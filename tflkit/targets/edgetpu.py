"""``edgetpu``: the Coral Edge TPU compiler, which maps the first supported part of a model.

The Edge TPU compiler is an x86 Debian package from Coral's apt repository and cannot be run
here, so the rules follow its documentation, coral.ai/docs/edgetpu/models-intro ("Model
requirements" and "Supported operations"), read on 2026-12-02 where it could be read:

- the page itself (stored copies of coral.ai/docs/edgetpu/models-intro): the requirements
  quoted below; the stored copies stop before the table;
- the current table, rows Add to ResizeBilinear: the copy Axis publishes for its ARTPEC-7
  chips, which carry the Edge TPU (developer.axis.com/computer-vision/on-device/
  system-on-chip/artpec-7/supported-ops/, read 2026-12-02): the notes for Conv2d and
  DepthwiseConv2d (same dilation in x and y), Mean (z-reduction), PReLU (1-D alpha), Pack and
  Pad (not in the batch dimension), ReduceMax/Min, LSTM, ExpandDims, Quantize;
- the older table, every row (compiler 1.x/2.0): github.com/dgist-datalab/Datalab_Intern
  @6b78cf3fa7a87a239f365386846c1059a4ed9227, Edge_TPU/convert_model_for_Edge_TPU.md: the
  notes for Softmax, Squeeze, StridedSlice, FullyConnected, Concatenation and the pools;
- github.com/google-coral/edgetpu@3b625cddfe8886f15978221a02cda2e52044b24c, CHANGES.md,
  runtime v13: "Added support for ops: ExpandDims, Pack, Quantize, Sum, and TransposeConv".

The rows of the current table after ResizeBilinear that the older table lacks (HardSwish,
Rsqrt, SquaredDifference, Transpose, and the notes of Sum and Split) could not be read and stay
as first written, marked in ``UNVERIFIED``. The requirements, as the page puts them:

- "Tensor parameters are quantized (8-bit fixed-point numbers; int8 or uint8)."
- "Tensor sizes are constant at compile-time (no dynamic sizes)."
- "Model parameters (such as bias tensors) are constant at compile-time."
- "Tensors are either 1-, 2-, or 3-dimensional. If a tensor has more than 3 dimensions, then
  only the 3 innermost dimensions may have a size greater than 1."
- "The model uses only the operations supported by the Edge TPU."

and on partitioning: "the compiler cannot partition the model more than once, so as soon as an
unsupported operation occurs, that operation and everything after it executes on the CPU, even
if supported operations occur later."

What the documentation leaves to the compiler and tflkit cannot know: "Depending on
input/output size, this operation might not be mapped to the Edge TPU to avoid loss in
precision" (ResizeBilinear, ResizeNearestNeighbor), "Certain reshapes might not be mapped for
large tensor sizes" (Reshape), and the highest operator version the compiler reads (its log
says "Operation version not supported"). Notes that need options (FullyConnected weights
format, StridedSlice masks, Pack axis) read them as ``tflkit.load`` gives them; an operator
without an options table is assumed to pass.

Two decisions of tflkit's, not the page's: the QUANTIZE of a float graph input and the
DEQUANTIZE of a float graph output run on the CPU without ending the mapped part (the
compiler leaves these edges to the CPU in full-integer models with float I/O:
``edgetpu-float-io``); and the compiler maps subgraph 0 only (``edgetpu-subgraph``; its log
says "More than one subgraph is not supported").
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from tflkit.targets._base import Placement, output_name

if TYPE_CHECKING:
    from tflkit.model import Model, Operator, Subgraph, Tensor

__all__ = ["TARGETS", "SOURCE", "RULES", "FALLBACK", "OPS", "UNVERIFIED", "place"]

TARGETS = ("edgetpu",)
SOURCE = (
    "Coral Edge TPU compiler: coral.ai/docs/edgetpu/models-intro 'Model requirements' and "
    "'Supported operations' (read 2026-12-02: rows Add-ResizeBilinear from Axis's ARTPEC-7 "
    "copy, the rest from the older table in dgist-datalab/Datalab_Intern@6b78cf3f), "
    "google-coral/edgetpu@3b625cdd CHANGES.md (runtime v13 ops); see UNVERIFIED"
)
FALLBACK = "cpu"

RULES: dict[str, str] = {
    "edgetpu-op": "not in the 'Supported operations' table",
    "edgetpu-dtype": "tensor parameters are quantized int8 or uint8 (bias int32)",
    "edgetpu-dynamic-shape": "tensor sizes are constant at compile-time (no dynamic sizes)",
    "edgetpu-constant": "model parameters (weights, bias) are constant at compile-time",
    "edgetpu-rank": "more than 3 dimensions: only the 3 innermost may be greater than 1",
    "edgetpu-op-limit": "an operator's note in the table (batch dimension, 1-D softmax, ...)",
    "edgetpu-after-unsupported": "after the first unsupported operation: everything runs on CPU",
    "edgetpu-float-io": "QUANTIZE of a float input / DEQUANTIZE to a float output: on the CPU",
    "edgetpu-subgraph": "the compiler maps subgraph 0 only",
}

#: The "Supported operations" table: operator -> its note ("" when none), as the sources in
#: the module docstring word it.
OPS: dict[str, str] = {
    "ADD": "",
    "AVERAGE_POOL_2D": "no fused activation function",
    "CONCATENATION": (
        "no fused activation function; if any input is a compile-time constant tensor, there "
        "must be only 2 inputs, and this constant tensor must be all zeros (effectively, a "
        "zero-padding op)"
    ),
    "CONV_2D": "must use the same dilation in x and y dimensions",
    "DEPTHWISE_CONV_2D": "must use the same dilation in x and y dimensions",
    "EXPAND_DIMS": "",
    "FULLY_CONNECTED": (
        "only the default format is supported for fully-connected weights; "
        "output tensor is one-dimensional"
    ),
    "HARD_SWISH": "",
    "L2_NORMALIZATION": "",
    "LOGISTIC": "",
    "LSTM": "unidirectional LSTM only",
    "MAXIMUM": "",
    "MAX_POOL_2D": "no fused activation function",
    "MEAN": (
        "no reduction in batch dimension; if a z-reduction, the z-dimension must be multiple of 4"
    ),
    "MINIMUM": "",
    "MUL": "",
    "PACK": "no packing in batch dimension",
    "PAD": "no padding in batch dimension",
    "PRELU": "alpha must be 1-dimensional (only the innermost dimension can be >1 size)",
    "QUANTIZE": "",
    "REDUCE_MAX": "cannot operate on the batch dimension",
    "REDUCE_MIN": "cannot operate on the batch dimension",
    "RELU": "",
    "RELU6": "",
    "RELU_N1_TO_1": "",
    "RESHAPE": "certain reshapes might not be mapped for large tensor sizes",
    "RESIZE_BILINEAR": (
        "input/output is a 3-dimensional tensor; depending on input/output size, it might not "
        "be mapped to the Edge TPU to avoid loss in precision"
    ),
    "RESIZE_NEAREST_NEIGHBOR": (
        "input/output is a 3-dimensional tensor; depending on input/output size, it might not "
        "be mapped to the Edge TPU to avoid loss in precision"
    ),
    "RSQRT": "",
    "SLICE": "",
    "SOFTMAX": "supports only 1D input tensor with a max of 16,000 elements",
    "SPACE_TO_DEPTH": "",
    "SPLIT": "no splitting in batch dimension",
    "SQUARED_DIFFERENCE": "",
    "SQUEEZE": (
        "supported only when input tensor dimensions that have leading 1s (that is, no "
        "relayout needed)"
    ),
    "STRIDED_SLICE": (
        "supported only when all strides are equal to 1, with ellipsis-axis-mask == 0 and "
        "new-axis-mask == 0"
    ),
    "SUB": "",
    "SUM": "cannot operate on the batch dimension",
    "TANH": "",
    "TRANSPOSE": "",
    "TRANSPOSE_CONV": "",
}

#: Rows and notes no source read on 2026-12-02 confirms (the current table's rows after
#: ResizeBilinear that the older table lacks): kept as first written.
UNVERIFIED = frozenset({"HARD_SWISH", "RSQRT", "SQUARED_DIFFERENCE", "TRANSPOSE", "SPLIT", "SUM"})

#: Constant int32 parameters that are not tensor data (shapes, axes, paddings, indices).
_PARAMS: dict[str, tuple[int, ...]] = {
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
    "RESIZE_NEAREST_NEIGHBOR": (1,),
    "TRANSPOSE_CONV": (0,),
}

#: operator -> (weights position, bias position): "model parameters are constant".
_WEIGHTS: dict[str, tuple[int, int]] = {
    "CONV_2D": (1, 2),
    "DEPTHWISE_CONV_2D": (1, 2),
    "FULLY_CONNECTED": (1, 2),
    "TRANSPOSE_CONV": (1, 3),
}

#: Reductions whose axes must leave the batch dimension alone.
_NO_BATCH_AXES = frozenset({"MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN"})

_SOFTMAX_MAX = 16_000


def _axes(t: Tensor) -> list[int] | None:
    try:
        return [int(a) for a in t.numpy().reshape(-1)]
    except Exception:  # noqa: BLE001 - no readable constant: the note cannot be checked
        return None


def _all_zero(t: Tensor) -> bool:
    """Whether constant ``t`` holds only real zeroes (``q == zero_point``); True if unreadable."""
    zps = set(t.quantization.zero_points) if t.quantization is not None else {0}
    if len(zps) != 1:
        return True  # one zero point per channel: not a zero-padding constant worth judging
    try:
        q = t.numpy()
    except Exception:  # noqa: BLE001 - no readable constant: the note cannot be checked
        return True
    return bool((q.astype("int64") == zps.pop()).all())


def _why_not(sg: Subgraph, op: Operator) -> tuple[str, str]:
    """(rule, reason) when the compiler cannot map ``op``; ("", "") when it can."""
    if op.op not in OPS:
        return "edgetpu-op", f"{op.display_name}: not in the supported operations"
    params = _PARAMS.get(op.op, ())
    weights = _WEIGHTS.get(op.op)
    for pos, i in enumerate(op.inputs):
        t = sg.tensor(i)
        if t is None:
            continue
        if weights and pos in weights and not t.is_constant:
            return "edgetpu-constant", f"{op.op}: input {pos} ({t.name!r}) is not a constant"
        if pos in params:
            if not t.is_constant:
                return "edgetpu-constant", f"{op.op}: parameter {pos} ({t.name!r}) not constant"
            continue
        if weights and pos == weights[1]:
            if t.dtype != "int32":
                return "edgetpu-dtype", f"{op.op}: bias {t.name!r} is {t.dtype}, not int32"
            continue
    data = [
        t
        for pos, i in enumerate(op.inputs)
        if (t := sg.tensor(i)) is not None
        and pos not in params
        and not (weights and pos == weights[1])
    ]
    data += [t for i in op.outputs if (t := sg.tensor(i)) is not None]
    for t in data:
        if t.quantization is not None and t.quantization.is_blockwise:
            # 8-bit fixed point: one scale per tensor or per channel, not per block.
            return "edgetpu-dtype", f"{op.op}: tensor {t.name!r} is quantized blockwise"
        if t.dtype not in ("int8", "uint8") or t.quantization is None:
            what = t.dtype if t.dtype not in ("int8", "uint8") else f"{t.dtype} without scales"
            return "edgetpu-dtype", f"{op.op}: tensor {t.name!r} is {what}"
        # A dynamic batch alone (-1 first, 1 stored: what every Keras conversion keeps) is
        # compiled at the stored batch of 1; a dynamic size elsewhere cannot be.
        dynamic = [k for k, d in enumerate(t.shape_signature) if d < 0]
        if dynamic and (dynamic != [0] or t.shape[:1] != (1,)):
            return "edgetpu-dynamic-shape", f"{op.op}: {t.name!r} is {list(t.shape_signature)}"
        # Activations only: a Conv2d's filter is [O, H, W, I], and the compiler maps Conv2d
        # (its 14.1 log: "CONV_2D 11 Mapped to Edge TPU", github.com/rajansaini691/
        # retinanet-model-tflite, tiny_yolo_edgetpu.log).
        if not t.is_constant and len(t.shape) > 3 and any(d > 1 for d in t.shape[:-3]):
            return "edgetpu-rank", f"{op.op}: {t.name!r} is {list(t.shape)}"
    return _note(sg, op)


def _shape(t: Tensor | None) -> tuple[int, ...]:
    return t.shape if t is not None else ()


def _leading_ones_only(before: tuple[int, ...], after: tuple[int, ...]) -> bool:
    """Squeeze without relayout: the two shapes agree once their leading 1s are dropped."""

    def strip(shape: tuple[int, ...]) -> tuple[int, ...]:
        k = next((i for i, d in enumerate(shape) if d != 1), len(shape))
        return shape[k:]

    return strip(before) == strip(after)


def _note(sg: Subgraph, op: Operator) -> tuple[str, str]:
    """The operator's own note in the table, where the file tells enough to check it."""
    first = sg.tensor(op.inputs[0]) if op.inputs else None
    out = sg.tensor(op.outputs[0]) if op.outputs else None
    # "No fused activation function." (schema ActivationFunctionType: 0 is NONE)
    pooled = op.op in ("AVERAGE_POOL_2D", "MAX_POOL_2D", "CONCATENATION")
    if pooled and op.option("fused_activation_function", 0):
        return "edgetpu-op-limit", f"{op.op}: a fused activation function"
    if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        # "Must use the same dilation in x and y dimensions."
        h, w = op.option("dilation_h_factor", 1), op.option("dilation_w_factor", 1)
        if h != w:
            return "edgetpu-op-limit", f"{op.op}: dilation {h} in y, {w} in x"
    if op.op in _NO_BATCH_AXES and len(op.inputs) > 1 and first is not None:
        axes_t = sg.tensor(op.inputs[1])
        axes = _axes(axes_t) if axes_t is not None else None
        rank = len(first.shape)
        if axes is not None and rank:
            norm = {a % rank for a in axes}
            if 0 in norm and rank > 1:
                return "edgetpu-op-limit", f"{op.op}: reduces the batch dimension"
            # Mean: "If a z-reduction, the z-dimension must be multiple of 4."
            if op.op == "MEAN" and rank - 1 in norm and rank > 1 and first.shape[-1] % 4:
                return "edgetpu-op-limit", f"MEAN: z-reduction of {first.shape[-1]}, not 4k"
    if op.op == "PRELU" and len(op.inputs) > 1:
        alpha = sg.tensor(op.inputs[1])
        if alpha is not None and not alpha.is_constant:
            # "Model parameters ... are constant at compile-time."
            return "edgetpu-constant", f"PRELU: alpha {alpha.name!r} is not a constant"
        if alpha is not None and any(d > 1 for d in alpha.shape[:-1]):
            return "edgetpu-op-limit", f"PRELU: alpha {list(alpha.shape)} is not 1-dimensional"
    if op.op == "PACK" and op.option("axis") == 0:
        return "edgetpu-op-limit", "PACK: packs in the batch dimension"
    if op.op == "SOFTMAX" and first is not None:
        if sum(d > 1 for d in first.shape) > 1:
            return "edgetpu-op-limit", f"SOFTMAX: input {list(first.shape)} is not 1-D"
        if math.prod(first.shape) > _SOFTMAX_MAX:
            return "edgetpu-op-limit", f"SOFTMAX: more than {_SOFTMAX_MAX:,} elements"
    if op.op == "FULLY_CONNECTED":
        if op.option("weights_format", 0):
            return "edgetpu-op-limit", "FULLY_CONNECTED: weights not in the default format"
        if out is not None and sum(d > 1 for d in out.shape) > 1:
            return "edgetpu-op-limit", f"FULLY_CONNECTED: output {list(out.shape)} is not 1-D"
    before, after = _shape(first), _shape(out)
    if op.op == "SQUEEZE" and not _leading_ones_only(before, after):
        return "edgetpu-op-limit", f"SQUEEZE: {list(before)} -> {list(after)} needs a relayout"
    if op.op == "STRIDED_SLICE" and len(op.inputs) > 3:
        for mask in ("ellipsis_mask", "new_axis_mask"):
            if op.option(mask):
                return "edgetpu-op-limit", f"STRIDED_SLICE: {mask} is not 0"
        strides_t = sg.tensor(op.inputs[3])
        strides = _axes(strides_t) if strides_t is not None else None
        if strides and any(s != 1 for s in strides):
            return "edgetpu-op-limit", f"STRIDED_SLICE: strides {strides}, not all 1"
    if op.op == "CONCATENATION":
        consts = [t for i in op.inputs if (t := sg.tensor(i)) is not None and t.is_constant]
        if consts and len(op.inputs) != 2:
            return "edgetpu-op-limit", f"CONCATENATION: a constant among {len(op.inputs)} inputs"
        for t in consts:
            if not _all_zero(t):
                return "edgetpu-op-limit", f"CONCATENATION: constant {t.name!r} is not all zeroes"
    if op.op == "PAD" and len(op.inputs) > 1:
        pads_t = sg.tensor(op.inputs[1])
        pads = _axes(pads_t) if pads_t is not None else None
        if pads and any(pads[:2]):
            return "edgetpu-op-limit", "PAD: no padding in batch dimension"
    return "", ""


def _float_edge(sg: Subgraph, op: Operator) -> bool:
    """QUANTIZE of a float graph input, or DEQUANTIZE to a float graph output."""
    if op.op == "QUANTIZE" and op.inputs and op.inputs[0] in sg.inputs:
        t = sg.tensor(op.inputs[0])
        return t is not None and t.dtype == "float32"
    if op.op == "DEQUANTIZE" and op.outputs and op.outputs[0] in sg.outputs:
        t = sg.tensor(op.outputs[0])
        return t is not None and t.dtype == "float32"
    return False


def place(model: Model, target: str) -> list[Placement]:
    """Where each operator runs after the Edge TPU compiler: ``target`` or ``cpu``.

    Args:
        model: the model, as ``tflkit.load`` reads it.
        target: ``"edgetpu"``.

    Returns:
        One Placement per operator of every subgraph, in order. Operators after the first
        one the compiler cannot map are on the CPU with rule ``edgetpu-after-unsupported``.

    Example:
        >>> [p.rule for p in place(tflkit.load("mlp_fixed_batch1.tflite"), "edgetpu")][:2]
        ['edgetpu-dtype', 'edgetpu-after-unsupported']
    """
    found = []
    for sg in model.subgraphs:
        cut: Operator | None = None
        for op in sg.operators:
            if sg.index != 0:
                rule, why = "edgetpu-subgraph", f"{op.op}: in subgraph {sg.index}"
            elif _float_edge(sg, op):
                rule, why = "edgetpu-float-io", f"{op.op}: between float I/O and the Edge TPU"
            elif cut is not None:
                rule = "edgetpu-after-unsupported"
                why = f"after operator {cut.index} ({cut.display_name}), not mapped"
            else:
                rule, why = _why_not(sg, op)
                if rule:
                    cut = op
            on = "cpu" if rule else "target"
            found.append(
                Placement(sg.index, op.index, op.display_name, output_name(sg, op), on, why, rule)
            )
    return found
