"""``gpu``: the LiteRT GPU delegate (OpenCL / OpenGL ES / Metal), and what it leaves to the CPU.

Every rule follows google-ai-edge/LiteRT at commit f67457790c9c2ab67347d6fe53270e8d3df20868
(fetched 2026-12-02), file by file; line numbers below are at that commit:

- ``tflite/delegates/gpu/common/model_builder.cc`` (last changed in 2bd0c6fab):
  ``NewOperationParser`` (L3080-3286) picks a parser per operator, none means CPU; each
  parser's ``IsSupported`` checks ``CheckMaxSupportedOpVersion`` and then, for most parsers,
  calls ``CheckGpuDelegateCompatibility``; ``GetOpsToReplace`` (L3291-3372) then checks the
  types of the tensors computed at run time (``kTfLiteArenaRw``) and, for every tensor, fewer
  than 5 dimensions (``IsAllAllowedTensors``, L3055-3077), and keeps the largest partitions.
- ``tflite/tools/versioning/gpu_compatibility.cc`` (last changed in 297707cbe):
  ``CheckGpuDelegateCompatibility``'s switch (L534-1275), one case an operator.
- ``tflite/delegates/utils.cc`` (last changed in 73dccbb24): ``FP16GraphPartitionHelper``
  (L200-275), which checks an operator reading a DEQUANTIZE of float16 constants as if it
  read the constants, and delegates those DEQUANTIZEs only when it delegates everything.
- ``tflite/delegates/gpu/delegate_options.cc`` (last changed in 7d88950ea): the default
  options, ``experimental_flags = TFLITE_GPU_EXPERIMENTAL_FLAGS_ENABLE_QUANT`` (quantized
  models run; QUANTIZE / DEQUANTIZE have a parser) and ``max_delegated_partitions = 1``.

What the file cannot tell: the parsers read tensor shapes at delegation time, which are the
stored shapes unless the caller resizes an input, and resizing an input undoes every delegate
(``tflite/core/subgraph.cc`` ``ResizeInputTensor``: ``UndoAllDelegates()``); a graph with a
tensor made dynamic by an operator's ``Prepare`` refuses the delegate as a whole
(``ModifyGraphWithDelegate``: "Attempting to use a delegate that only supports static-sized
tensors"). The custom operators' options live in their custom data, which tflkit does not
parse. The builtin options the checks read (FULLY_CONNECTED ``weights_format`` and
``keep_num_dims``, STRIDED_SLICE masks, SOFTMAX ``beta``, DEPTH_TO_SPACE / SPACE_TO_DEPTH
``block_size``, DEPTHWISE_CONV_2D ``depth_multiplier``, MIRROR_PAD ``mode``, LSTM
``kernel_type``, ONE_HOT ``axis``) come with ``tflkit.load``; an operator that stores no
options table (or options tflkit does not load, such as LSTM clips) is assumed to pass.
The Analyzer's ``gpu_compatibility`` flag is not used (it
reports every model compatible).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tflkit.targets._base import Placement, output_name
from tflkit.targets._partition import partitions

if TYPE_CHECKING:
    from tflkit.model import Model, Operator, Subgraph, Tensor

__all__ = ["TARGETS", "SOURCE", "RULES", "FALLBACK", "place", "segments"]

TARGETS = ("gpu",)
SOURCE = (
    "LiteRT GPU delegate at google-ai-edge/LiteRT@f67457790c9c2ab67347d6fe53270e8d3df20868: "
    "delegates/gpu/common/model_builder.cc (NewOperationParser, IsSupported, GetOpsToReplace), "
    "tools/versioning/gpu_compatibility.cc (CheckGpuDelegateCompatibility), "
    "delegates/gpu/delegate_options.cc (defaults)"
)
FALLBACK = "cpu"

RULES: dict[str, str] = {
    "gpu-op": "no parser in model_builder.cc NewOperationParser (or no case in the "
    "gpu_compatibility.cc switch): 'Not supported op'",
    "gpu-op-version": "the operator version is above the parser's CheckMaxSupportedOpVersion",
    "gpu-inputs": "the numbers of runtime inputs, constant inputs and outputs are not the ones "
    "the check asks for (CheckInputsOutputs, CheckInputsConstsOutputs, ...)",
    "gpu-shape": "a rank or shape the check refuses (depthwise 4-D tensors, SLICE input of 3 or "
    "4 dims, paddings 3x2 or 4x2, 1-D GATHER indices, broadcasting, ...)",
    "gpu-dtype": "a type the check refuses, or a tensor computed at run time of a type "
    "GetOpsToReplace does not allow (float32/float16, int8/uint8, bool or int32 for a few)",
    "gpu-options": "a builtin option the check refuses (fused SIGN_BIT activation, zero "
    "strides, align_corners with half_pixel_centers, ...); an operator without an options "
    "table is assumed to pass",
    "gpu-consumer": "a comparison not feeding one CAST / SELECT to float, or a bool CAST that "
    "is not between one producer and one consumer (model_builder.cc parsers)",
    "gpu-rank": "a tensor of 5 or more dimensions (IsAllAllowedTensors)",
    "gpu-dynamic-shape": "tflkit's assumption: a dimension other than the batch is unknown "
    "until run time, so the caller resizes the input, which undoes the delegate",
    "gpu-partition": "outside the largest partition: the delegate takes one by default",
    "gpu-fp16-dequantize": "a DEQUANTIZE of float16 constants stays on the CPU unless the "
    "delegate takes every other operator (FP16GraphPartitionHelper, delegates/utils.cc)",
}

#: model_builder.cc NewOperationParser: the operators with a parser.
PARSERS = frozenset(
    """ABS ADD ADD_N AVERAGE_POOL_2D BATCH_MATMUL CAST CONCATENATION CONV_2D COS CUMSUM DENSIFY
    DEPTHWISE_CONV_2D DEPTH_TO_SPACE DEQUANTIZE DIV EQUAL ELU EXP FLOOR FLOOR_DIV FLOOR_MOD
    FULLY_CONNECTED GATHER GELU GREATER GREATER_EQUAL HARD_SWISH LESS LESS_EQUAL LOGISTIC
    LOG LOGICAL_AND LSTM MAXIMUM MAX_POOL_2D MEAN MINIMUM MIRROR_PAD MUL NEG NOT_EQUAL
    ONE_HOT PACK PAD PADV2 POW REDUCE_MAX REDUCE_MIN REDUCE_PROD QUANTIZE RELU RELU6
    RELU_0_TO_1 RELU_N1_TO_1 LEAKY_RELU PRELU RESHAPE RESIZE_BILINEAR
    RESIZE_NEAREST_NEIGHBOR RSQRT SELECT SELECT_V2 SIGN SIN SLICE SOFTMAX SPACE_TO_DEPTH
    SPLIT SPLIT_V SQRT SQUARE SQUARED_DIFFERENCE STRIDED_SLICE SUB SUM TANH TILE TRANSPOSE
    TRANSPOSE_CONV UNPACK""".split()  # noqa: SIM905 - a table, as the source lists it
)

#: Custom operators NewOperationParser names (MediaPipe's); the default build has no others.
CUSTOM_OPS = frozenset(
    {"Convolution2DTransposeBias", "MaxPoolingWithArgmax2D", "MaxUnpooling2D", "Resampler"}
)

#: Parsers whose IsSupported does not call the switch: ReLUOperationParser (version 2 at
#: most), PReLUOperationParser (version 1), UnpackOperationParser (anything).
NO_SWITCH = frozenset(
    {"RELU", "RELU6", "RELU_0_TO_1", "RELU_N1_TO_1", "LEAKY_RELU", "PRELU", "UNPACK"}
)

#: gpu_compatibility.cc "One argument elementwise operations" (L1143-1164):
#: CheckInputsConstsOutputs(op_sig, 1, 0, 1). CEIL, LOGICAL_NOT and ROUND have no parser.
ONE_ARG = frozenset(
    """ABS COS ELU EXP FLOOR GELU LOG LOGISTIC NEG RSQRT SIGN SIN SQRT SQUARE
    TANH""".split()  # noqa: SIM905 - a table, as the source lists it
)

#: "Two arguments elementwise operations" (L1166-1209): 2 runtime inputs, or 1 runtime and 1
#: constant. ATAN2, LOGICAL_OR, RIGHT_SHIFT and the STABLEHLO ones have no parser.
TWO_ARG = frozenset(
    """DIV EQUAL FLOOR_DIV FLOOR_MOD GREATER GREATER_EQUAL LOGICAL_AND LESS LESS_EQUAL MAXIMUM
    MINIMUM NOT_EQUAL POW SQUARED_DIFFERENCE SUB""".split()  # noqa: SIM905 - a table, as the source lists it
)

#: model_builder.cc IsLogicalCode / IsLogicalOp (L302-318): the comparisons.
COMPARISONS = frozenset({"EQUAL", "GREATER", "GREATER_EQUAL", "LESS", "LESS_EQUAL", "NOT_EQUAL"})

#: CheckMaxSupportedOpVersion in each parser's IsSupported. ElementwiseOperationParser:
#: ``operation_type_ == OperationType::MUL ? 3 : 2`` (L1069); parsers without the call
#: (BATCH_MATMUL, CAST, DEPTH_TO_SPACE, HARD_SWISH, MEAN, PACK, REDUCE_*, SUM, SPLIT, SPLIT_V,
#: TILE, UNPACK, the custom ones) take any version.
MAX_VERSION: dict[str, int] = {
    **dict.fromkeys(ONE_ARG | TWO_ARG | {"ADD", "ADD_N"}, 2),
    "MUL": 3,
    **dict.fromkeys(("RELU", "RELU6", "RELU_0_TO_1", "RELU_N1_TO_1", "LEAKY_RELU"), 2),
    "AVERAGE_POOL_2D": 2,
    "MAX_POOL_2D": 2,
    "CONCATENATION": 2,
    "CONV_2D": 6,
    "CUMSUM": 1,
    "DENSIFY": 1,
    "DEPTHWISE_CONV_2D": 6,
    "DEQUANTIZE": 3,
    "FULLY_CONNECTED": 9,
    "GATHER": 1,
    "LSTM": 4,
    "MIRROR_PAD": 2,
    "PAD": 2,
    "PADV2": 2,
    "ONE_HOT": 1,
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

#: GetOpsToReplace (L3308-3342): types of the tensors computed at run time, with
#: ``allow_quant_ops`` (the default): "Since we only check non-constant tensors, type cannot
#: be Int32". Operator -> (extra input types, extra output types).
RUNTIME_TYPES = frozenset({"float32", "float16", "int8", "uint8"})
RUNTIME_EXTRA: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    **dict.fromkeys(COMPARISONS, (frozenset(), frozenset({"bool"}))),
    "CAST": (frozenset({"bool", "int32"}), frozenset({"bool", "int32"})),
    "ONE_HOT": (frozenset({"int32"}), frozenset()),
    "SELECT": (frozenset({"bool"}), frozenset()),
    "SELECT_V2": (frozenset({"bool"}), frozenset()),
    "LOGICAL_AND": (frozenset({"bool"}), frozenset({"bool"})),
    "GATHER": (frozenset({"int32"}), frozenset()),
}

_FLOATS = ("float32", "float16")
_SIGN_BIT = 5  # schema ActivationFunctionType SIGN_BIT: IsActivationSupported refuses it
_TANH = 4

Why = tuple[str, str]
_OK: Why = ("", "")


def _runtime(ins: Sequence[Tensor | None]) -> int:
    """GetNumberOfRuntimeInputs: inputs neither constant nor absent."""
    return sum(t is not None and not t.is_constant for t in ins)


def _consts(ins: Sequence[Tensor | None]) -> int:
    return sum(t is not None and t.is_constant for t in ins)


def _io(op: str, ins: Sequence[Tensor | None], outs: int, runtime: int, out: int) -> Why:
    """CheckInputsOutputs(op_sig, runtime, out)."""
    if _runtime(ins) != runtime:
        return "gpu-inputs", f"{op}: expected {runtime} runtime input(s), got {_runtime(ins)}"
    if outs != out:
        return "gpu-inputs", f"{op}: expected {out} output(s), got {outs}"
    return _OK


def _ico(
    op: str, ins: Sequence[Tensor | None], outs: int, runtime: int, const: int, out: int
) -> Why:
    """CheckInputsConstsOutputs(op_sig, runtime, const, out)."""
    if _consts(ins) != const:
        return "gpu-inputs", f"{op}: expected {const} constant input(s), got {_consts(ins)}"
    return _io(op, ins, outs, runtime, out)


def _conv_io(op: str, ins: Sequence[Tensor | None], outs: int) -> Why:
    """CheckConvolutionInputOutput: 1 or 2 runtime inputs, one output, input 1 present."""
    n = _runtime(ins)
    if not 1 <= n <= 2:
        return "gpu-inputs", f"{op}: expected 1 or 2 runtime inputs, got {n}"
    if outs != 1:
        return "gpu-inputs", f"{op}: expected 1 output, got {outs}"
    if n == 1 and len(ins) < 2:
        return "gpu-inputs", f"{op}: no input 1"
    return _OK


def _activation(op: Operator) -> Why:
    """IsActivationSupported: every fused activation but SIGN_BIT."""
    if op.option("fused_activation_function", 0) == _SIGN_BIT:
        return "gpu-options", f"{op.op}: fused activation SIGN_BIT"
    return _OK


def _positive(op: Operator, *names: str) -> Why:
    """CheckStrides / CheckDilation / CheckKernels: each value above 0."""
    for name in names:
        value = op.option(name)
        if value is not None and value <= 0:
            return "gpu-options", f"{op.op}: {name} = {value}"
    return _OK


def _shape(t: Tensor | None) -> tuple[int, ...]:
    return t.shape if t is not None else ()


def _broadcastable(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """CheckAddMulBroadcastCompatibility with kStandard flags (model_builder.cc passes none)."""
    if len(a) <= 1 or len(b) <= 1 or len(a) == len(b):
        return True
    long, short = (a, b) if len(a) >= len(b) else (b, a)
    if len(long) != 4:
        return False
    if len(short) == 3:
        return long[0] == 1  # "Broadcasting 3D to 4D with batch 1 works."
    return len(short) == 2 and (
        (long[0] == 1 and short == (1, 1)) or (long[0] == short[0] and long[3] == short[1])
    )


def _first(*checks: Why) -> Why:
    return next((c for c in checks if c[0]), _OK)


def _select(op: str, ins: Sequence[Tensor | None], outs: list[Tensor]) -> Why:
    """CheckSelectV2GpuDelegateCompatibility (L371-418)."""
    if len(ins) != 3 or len(outs) != 1:
        return "gpu-inputs", f"{op}: expected 3 inputs and 1 output"
    cond, out = ins[0], outs[0].shape
    if cond is None or cond.dtype not in ("bool", *_FLOATS):
        return "gpu-dtype", f"{op}: condition must be bool or float"
    c = cond.shape
    if c and (
        len(out) < len(c) or any(d not in (o, 1) for d, o in zip(c, out[-len(c) :], strict=True))
    ):
        return "gpu-shape", f"{op}: condition {list(c)} does not broadcast to {list(out)}"
    for t, what in ((ins[1], "if"), (ins[2], "else")):
        s = _shape(t)
        if s and s != out and (len(s) > 1 or s[0] > 1):
            return "gpu-shape", f"{op}: {what} tensor {list(s)} is neither {list(out)} nor scalar"
        if t is not None and not t.is_constant and len(s) == 2:
            return "gpu-shape", f"{op}: 2-D {what} tensor only supported if constant"
    return _OK


def _one_hot(op: Operator, ins: Sequence[Tensor | None], outs: int) -> Why:
    """CheckOneHotGpuDelegateCompatibility (L324-369)."""
    if len(ins) != 4 or outs != 1:
        return "gpu-inputs", "ONE_HOT: expects 4 inputs and 1 output"
    idx, on, off = ins[0], ins[2], ins[3]
    if idx is None or idx.dtype != "int32":
        return "gpu-dtype", "ONE_HOT: indices must be int32"
    dims = idx.shape
    axis = op.option("axis")
    if axis is not None and axis != -1 and (not dims or axis != dims[-1]):
        return "gpu-options", f"ONE_HOT: axis {axis}, not -1 or the last dimension's size"
    for i in range(len(dims) - 1):
        if not (len(dims) > 3 and i == 0) and dims[i] != 1:
            return "gpu-shape", f"ONE_HOT: unsupported non-singleton dim at {i}"
    for t in (on, off):
        if t is None or t.dtype != "float32":
            return "gpu-dtype", "ONE_HOT: on/off values must be float32"
        if not t.is_constant or len(t.shape) > 1 or (t.shape and t.shape[0] > 1):
            return "gpu-inputs", "ONE_HOT: on/off values must be constant scalars"
    return _OK


def _depthwise(op: Operator, ins: Sequence[Tensor | None], outs: list[Tensor]) -> Why:
    """CheckDepthwiseConvGpuDelegateCompatibility (L266-300)."""
    found = _first(
        _conv_io(op.op, ins, len(outs)),
        _positive(op, "stride_h", "stride_w", "dilation_h_factor", "dilation_w_factor"),
        _activation(op),
    )
    if found[0]:
        return found
    x, w, out = _shape(ins[0]), _shape(ins[1] if len(ins) > 1 else None), outs[0].shape
    for name, s in (("input", x), ("filter", w), ("output", out)):
        if len(s) != 4:
            return "gpu-shape", f"DEPTHWISE_CONV_2D: {name} has {len(s)} dims, not 4"
    if x[0] != out[0]:
        return "gpu-shape", "DEPTHWISE_CONV_2D: input.b != output.b"
    if w[3] != out[3]:
        return "gpu-shape", "DEPTHWISE_CONV_2D: filter.i != output.c"
    multiplier = op.option("depth_multiplier")
    if multiplier is not None and out[3] != x[3] * multiplier:
        return "gpu-shape", "DEPTHWISE_CONV_2D: output.c != input.c * depth_multiplier"
    bias = ins[2] if len(ins) > 2 else None
    if len(ins) > 2 and math.prod(_shape(bias)) != out[3]:
        return "gpu-shape", "DEPTHWISE_CONV_2D: bias.size != output.c"
    return _OK


def _lstm(op: Operator, ins: Sequence[Tensor | None], outs: list[Tensor]) -> Why:
    """The LSTM case (L856-904): the full kernel (20 or 24 inputs, 1 output) or the basic one
    (3 runtime, 2 constant inputs, 4 outputs), both with TANH (the schema has no SIGMOID)."""
    kind = op.option("kernel_type")  # 0 FULL, 1 BASIC; None when not loaded: either shape
    full = len(ins) in (20, 24) and len(outs) == 1
    basic = not _ico("LSTM", ins, len(outs), 3, 2, 4)[0]
    if kind == 1 or (kind is None and basic and not full):
        if not basic:
            return "gpu-inputs", "LSTM (basic kernel): 3 runtime and 2 constant inputs, 4 outputs"
        depth = outs[3].shape
        if depth and depth[-1] % 4:
            return "gpu-shape", "LSTM: BasicLSTM activation depth must be a multiple of 4"
    elif not full:
        return "gpu-inputs", f"LSTM: expected 20 or 24 inputs and 1 output, got {len(ins)}"
    act = op.option("fused_activation_function")
    if act is not None and act != _TANH:
        return "gpu-options", f"LSTM: activation {act}, only TANH (or sigmoid) is supported"
    return _OK


def _pad(op: Operator, ins: Sequence[Tensor | None], outs: int) -> Why:
    """The PAD / PADV2 / MIRROR_PAD case (L1103-1133)."""
    if op.op == "MIRROR_PAD" and op.option("mode") not in (None, 0):
        return "gpu-options", "MIRROR_PAD: only REFLECT padding is supported"
    found = _io(op.op, ins, outs, 1, 1)
    if found[0]:
        return found
    if len(ins) < 2:
        return "gpu-inputs", f"{op.op}: no paddings input"
    s = _shape(ins[1])
    if len(s) != 2 or s[0] not in (3, 4) or s[1] != 2:
        return "gpu-shape", f"{op.op}: paddings {list(s)}, expected 4x2 or 3x2"
    return _OK


def _axes(op: str, ins: Sequence[Tensor | None], outs: int) -> Why:
    """MEAN, SUM, REDUCE_*: CheckInputsConstsOutputs(1, 1, 1) and CheckAxesAreInt32Const."""
    found = _ico(op, ins, outs, 1, 1, 1)
    if found[0]:
        return found
    axes = ins[1] if len(ins) > 1 else None
    if axes is None or not axes.is_constant:
        return "gpu-inputs", f"{op} is only supported with constant axes"
    if axes.dtype != "int32":
        return "gpu-dtype", f"{op}: axes are {axes.dtype}, not int32"
    return _OK


def _custom(op: Operator, ins: Sequence[Tensor | None], outs: list[Tensor]) -> Why:
    """CheckCustomOpsGpuDelegateCompatibility (L421-462); custom data is not parsed."""
    name = op.custom_code or ""
    if name == "Convolution2DTransposeBias":
        return ("gpu-inputs", f"{name}: no input 1") if len(ins) < 2 else _OK
    if name == "MaxPoolingWithArgmax2D":
        return _io(name, ins, len(outs), 1, 2)
    if name == "MaxUnpooling2D":
        return _io(name, ins, len(outs), 2, 1)
    if name == "Resampler":
        found = _io(name, ins, len(outs), 2, 1)
        if found[0]:
            return found
        src, warp = _shape(ins[0]), _shape(ins[1])
        if len(src) != 4 or len(warp) != 4:
            return "gpu-shape", f"{name}: src or warp dims size != 4"
        if src[0] != warp[0]:
            return "gpu-shape", f"{name}: src.b != warp.b"
        if warp[3] < 2:
            return "gpu-shape", f"{name}: warp.c < 2"
        return _OK
    return "gpu-op", f"{op.display_name}: not a custom op the delegate knows"


def _switch(op: Operator, ins: Sequence[Tensor | None], outs: list[Tensor]) -> Why:
    """CheckGpuDelegateCompatibility: the case of ``op`` in gpu_compatibility.cc."""
    name, n_out = op.op, len(outs)
    if name in ("ADD", "MUL"):  # L538-551, L917-933
        if len(ins) != 2:
            return "gpu-inputs", f"{name} requires two input tensors"
        a, b = _shape(ins[0]), _shape(ins[1])
        if not _broadcastable(a, b):
            return "gpu-shape", f"{name}: doesn't support broadcasting {list(a)} with {list(b)}"
        return _activation(op) if name == "MUL" else _OK
    if name == "ADD_N":
        return _OK if len(ins) == 2 else ("gpu-inputs", "ADD_N only supports 2 inputs")
    if name in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):  # CheckPooling2DGpuDelegateCompatibility
        return _first(
            _io(name, ins, n_out, 1, 1),
            _positive(op, "filter_height", "filter_width", "stride_h", "stride_w"),
            _activation(op),
        )
    if name == "BATCH_MATMUL":
        ok = len(ins) == 2 and n_out == 1
        return _OK if ok else ("gpu-inputs", "BATCH_MATMUL: expected 2 inputs and 1 output")
    if name == "CAST":  # L633-655
        found = _io(name, ins, n_out, 1, 1)
        if found[0]:
            return found
        src, dst = ins[0].dtype if ins[0] is not None else "", outs[0].dtype
        if (
            (src == "bool" and dst in _FLOATS)
            or (src in _FLOATS and dst == "bool")
            or (src in ("float32", "int32") and dst in ("float32", "int32"))
        ):
            return _OK
        return "gpu-dtype", f"CAST: not supported from {src} to {dst}"
    if name == "CONCATENATION":
        return _OK
    if name in ("CONV_2D", "TRANSPOSE_CONV"):
        checks = ["stride_h", "stride_w"]
        if name == "CONV_2D":
            checks += ["dilation_h_factor", "dilation_w_factor"]
        return _first(
            _conv_io(name, ins, n_out),
            _positive(op, *checks),
            _activation(op) if name == "CONV_2D" else _OK,
        )
    if name == "CUMSUM":  # CheckCumsumGpuDelegateCompatibility
        if len(ins) != 2 or n_out != 1:
            return "gpu-inputs", "CUMSUM: expects 2 inputs and 1 output"
        x, axis = ins[0], ins[1]
        if x is None or x.dtype not in _FLOATS or outs[0].dtype != x.dtype:
            return "gpu-dtype", "CUMSUM: input/output must be float type"
        if axis is None or axis.dtype != "int32" or not axis.is_constant:
            return "gpu-inputs", "CUMSUM: axis must be a constant int32"
        return _OK
    if name == "DENSIFY":
        return _io(name, ins, n_out, 0, 1)
    if name == "DEPTHWISE_CONV_2D":
        return _depthwise(op, ins, outs)
    if name in ("DEPTH_TO_SPACE", "SPACE_TO_DEPTH"):
        found = _io(name, ins, n_out, 1, 1)
        block = op.option("block_size")
        if not found[0] and block is not None and block <= 1:
            return "gpu-options", f"{name}: block_size {block}, must be > 1"
        return found
    if name == "DEQUANTIZE":
        if len(ins) != 1 or n_out != 1:
            return "gpu-inputs", "DEQUANTIZE: expected 1 input and 1 output"
        if ins[0] is not None and ins[0].dtype == "int16":
            return "gpu-dtype", "DEQUANTIZE: unsupported dequantization type int16"
        return _OK
    if name == "FULLY_CONNECTED":  # L797-831
        if not ins:
            return "gpu-inputs", "FULLY_CONNECTED: expected at least 1 input"
        if op.option("weights_format") not in (None, 0):
            return "gpu-options", "FULLY_CONNECTED: unsupported weights format"
        if _runtime(ins) > 2:
            return "gpu-inputs", "FULLY_CONNECTED doesn't support more than 2 runtime inputs"
        if ins[0] is not None and ins[0].is_constant:
            return "gpu-inputs", "FULLY_CONNECTED doesn't support constant input"
        if op.option("keep_num_dims") and outs and len(_shape(ins[0])) != len(outs[0].shape):
            return "gpu-shape", "FULLY_CONNECTED: keep_num_dims with a different output rank"
        return _OK
    if name == "GATHER":  # L833-850
        if len(ins) != 2 or n_out != 1 or _runtime(ins) < 1:
            return "gpu-inputs", "GATHER: can only handle 1 or 2 operand(s)"
        if len(_shape(ins[1])) != 1:
            return "gpu-shape", "GATHER: only 1D indices"
        if ins[1] is None or ins[1].dtype != "int32":
            return "gpu-dtype", "GATHER: only int32 indices"
        return _OK
    if name == "HARD_SWISH":
        return _io(name, ins, n_out, 1, 1)
    if name == "LSTM":
        return _lstm(op, ins, outs)
    if name in ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD"):
        return _axes(name, ins, n_out)
    if name in ("PACK", "SPLIT", "SPLIT_V"):
        return _OK
    if name == "ONE_HOT":
        return _one_hot(op, ins, n_out)
    if name in ("QUANTIZE", "RESHAPE", "TILE", "TRANSPOSE", "RESIZE_NEAREST_NEIGHBOR"):
        return _io(name, ins, n_out, 1, 1)
    if name == "RESIZE_BILINEAR":
        found = _io(name, ins, n_out, 1, 1)
        if not found[0] and op.option("align_corners") and op.option("half_pixel_centers"):
            return "gpu-options", "RESIZE_BILINEAR: align_corners with half_pixel_centers"
        return found
    if name in ("SELECT", "SELECT_V2"):
        return _select(name, ins, outs)
    if name in ("SLICE", "STRIDED_SLICE"):  # L962-975, L1009-1034
        if name == "STRIDED_SLICE":
            for mask in ("ellipsis_mask", "new_axis_mask", "shrink_axis_mask"):
                if op.option(mask):
                    return "gpu-options", f"STRIDED_SLICE does not support {mask}"
        need = 3 if name == "SLICE" else 4
        if len(ins) < need:
            return "gpu-inputs", f"{name} requires {need} inputs"
        if len(_shape(ins[0])) not in (3, 4):
            return "gpu-shape", f"{name} supports 3 or 4 dimensional tensors only"
        return _OK
    if name == "SOFTMAX":
        beta = op.option("beta")
        if beta is not None and beta != 1:
            return "gpu-options", "SOFTMAX: beta != 1 is not supported"
        return _OK
    if name in ("PAD", "PADV2", "MIRROR_PAD"):
        return _pad(op, ins, n_out)
    if name in ONE_ARG:
        return _ico(name, ins, n_out, 1, 0, 1)
    if name in TWO_ARG:
        if _ico(name, ins, n_out, 2, 0, 1)[0] and _ico(name, ins, n_out, 1, 1, 1)[0]:
            return "gpu-inputs", f"{name}: can only handle 1 or 2 operand(s)"
        return _activation(op) if name in ("DIV", "SUB") else _OK
    if name == "CUSTOM":
        return _custom(op, ins, outs)
    return "gpu-op", f"Not supported op {name}"


def _readers(sg: Subgraph, tensor: int) -> list[Operator]:
    """GetTensorInfo's consumers: the operators that read ``tensor``."""
    return [o for o in sg.operators if tensor in o.inputs]


def _parser(
    sg: Subgraph, op: Operator, ins: Sequence[Tensor | None], outs: list[Tensor]
) -> Why | None:
    """The parser's own IsSupported ahead of the switch: None to go on to the switch, ("", "")
    when the parser accepts ``op`` without it."""
    if op.op in COMPARISONS:  # ElementwiseOperationParser, IsLogicalOp (L1073-1092)
        readers = _readers(sg, op.outputs[0])
        if len(readers) != 1:
            return "gpu-consumer", f"{op.op}: output read by {len(readers)} operators, not 1"
        nxt = readers[0]
        dst = sg.tensor(nxt.outputs[0]) if nxt.outputs else None
        if nxt.op in ("CAST", "SELECT", "SELECT_V2") and dst is not None and dst.dtype in _FLOATS:
            return _OK
        return "gpu-consumer", f"{op.op}: not followed by a CAST or SELECT to float"
    src = ins[0] if ins else None
    if op.op == "CAST" and src is not None and src.dtype == "bool" and outs[0].dtype in _FLOATS:
        # CastOperationParser (L378-409): logical_op -> bool tensor -> CAST -> float tensor.
        makers = [o for o in sg.operators if op.inputs[0] in o.outputs]
        if len(makers) != 1 or len(_readers(sg, op.inputs[0])) != 1:
            return "gpu-consumer", "CAST: bool input without one producer and one consumer"
        if len(_readers(sg, op.outputs[0])) != 1:
            return "gpu-consumer", "CAST: cast from bool not supported for outputs"
        if makers[0].op in COMPARISONS:
            return _OK
    return None


def _fp16_constants(sg: Subgraph) -> dict[int, int]:
    """FP16GraphPartitionHelper (delegates/utils.cc): DEQUANTIZE output -> its float16
    constant input, for every DEQUANTIZE of a float16 constant."""
    found = {}
    for op in sg.operators:
        if op.op == "DEQUANTIZE" and op.inputs and op.outputs:
            t = sg.tensor(op.inputs[0])
            if t is not None and t.dtype == "float16" and t.is_constant:
                found[op.outputs[0]] = op.inputs[0]
    return found


def _why_not(sg: Subgraph, op: Operator, fp16: dict[int, int] | None = None) -> Why:
    """(rule, reason) when the delegate leaves ``op`` to the CPU; ("", "") when it takes it."""
    if op.is_custom:
        if op.custom_code not in CUSTOM_OPS:
            return "gpu-op", f"{op.display_name}: not a custom op the delegate knows"
    elif op.op not in PARSERS:
        return "gpu-op", f"Not supported op {op.op}"
    top = MAX_VERSION.get(op.op)
    if top is not None and op.version > top:
        return "gpu-op-version", f"{op.op}: max version supported {top}, requested {op.version}"
    if fp16 and op.op == "DEQUANTIZE" and op.outputs and op.outputs[0] in fp16:
        # utils.cc IsNodeSupported: "We do not accept these ops right now" (taken back when
        # the delegate takes every other operator: place()).
        return "gpu-fp16-dequantize", "DEQUANTIZE of float16 constants: CPU unless all else is GPU"
    # RemapFp16InputTensors: the check sees the float16 constant, not the DEQUANTIZE output.
    remap = fp16 or {}
    ins = [sg.tensor(remap.get(i, i)) if i >= 0 else None for i in op.inputs]
    outs = [t for i in op.outputs if (t := sg.tensor(i)) is not None]
    if not outs:
        return "gpu-inputs", f"{op.op}: no output"
    found = _parser(sg, op, ins, outs)
    if found is None and op.op not in NO_SWITCH:
        found = _switch(op, ins, outs)
    if found is not None and found[0]:
        return found
    return _tensors(op, [t for t in ins if t is not None], outs)


def _tensors(op: Operator, ins: list[Tensor], outs: list[Tensor]) -> Why:
    """GetOpsToReplace's IsAllAllowedTensors, then tflkit's two decisions."""
    extra_in, extra_out = RUNTIME_EXTRA.get(op.op, (frozenset(), frozenset()))
    for t, allowed in [(t, RUNTIME_TYPES | extra_in) for t in ins] + [
        (t, RUNTIME_TYPES | extra_out) for t in outs
    ]:
        if len(t.shape) >= 5:
            return "gpu-rank", f"{op.op}: tensor {t.name!r} has {len(t.shape)} dims"
        # Only kTfLiteArenaRw tensors: constants (MmapRo) and variables (persistent) pass.
        if not t.is_constant and not t.is_variable and t.dtype not in allowed:
            return "gpu-dtype", f"{op.op}: runtime tensor {t.name!r} is {t.dtype}"
    for t in ins + outs:
        if t.quantization is not None and t.quantization.is_blockwise:
            # tflkit's decision: the delegate reads per-tensor / per-channel scales only.
            return "gpu-dtype", f"{op.op}: tensor {t.name!r} is quantized blockwise"
        if any(d < 0 for d in t.shape_signature[1:]):
            return "gpu-dynamic-shape", f"{op.op}: tensor {t.name!r} is {list(t.shape_signature)}"
    return _OK


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
        fp16 = _fp16_constants(sg)
        verdicts = [_why_not(sg, op, fp16) for op in sg.operators]
        if all(r in ("", "gpu-fp16-dequantize") for r, _ in verdicts):
            # GetNodesOfFirstNLargestPartitionsImpl, "Scenario 1: Full Delegation": every
            # node, the float16 DEQUANTIZEs included.
            verdicts = [_OK] * len(verdicts)
        parts = partitions(sg, [not rule for rule, _ in verdicts])
        # GetNodesOfFirstNLargestPartitions: by node count; the earlier one on a tie.
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
