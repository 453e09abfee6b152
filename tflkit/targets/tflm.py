"""TensorFlow Lite Micro: which operators its kernels take, the arena a model needs, the resolver.

TFLM has no fallback: an operator runs on one of its kernels or the model does not run. The
knowledge here is data read from tflite-micro's source (``SOURCE``):

- ``OPS``: the builtin operators its Python interpreter registers
  (``python/tflite_micro/python_ops_resolver.cc``), each with the ``MicroMutableOpResolver``
  method that adds it (``tensorflow/lite/micro/micro_mutable_op_resolver.h``) and the tensor
  types its kernel's Prepare/Eval accept (the ``case kTfLite...`` of each kernel's ``Eval`` and
  the type checks of its ``Prepare``, ``tensorflow/lite/micro/kernels/*.cc``);
- ``CUSTOM_OPS``: the custom codes it registers (signal ops, detection post-processing ...);
- the rules a kernel checks beyond one type: weights of another type than the input
  (``tflm-hybrid``), QUANTIZE's (input, output) pairs, blockwise quantization, and the
  shape, rank and type-pair checks of the kernels' Prepare (``tflm-prepare``, each citing its
  ``TF_LITE_ENSURE`` line).

``memory()`` computes the tensor arena as TFLM's allocator lays it out, following the source
of tflite-micro 90b983c (2026-08-20); the truth the tests measure is the Python interpreter
(64-bit, RecordingMicroAllocator) of the PyPI build 0.dev20261023 (tflite-micro 8f6596d,
newer: where the two differ the measurement wins and the comment says so): the head its
GreedyMemoryPlanner plans (exact: the same lifetimes across control-flow subgraphs, the same
order and placement, the kernels' scratch buffers) plus the tail of persistent structures,
simulated allocation by allocation with the structure sizes of micro_allocator.cc and the
kernels' persistent data measured per operator and type (``_PARAMS``, ``_INIT``). Over the
339 distinct models TFLM runs among the test models of LiteRT, tflite-micro and
ai-edge-quantizer, published models and the fixtures (bench/tflm_arena.py): 310 to the byte,
none below, at most 3.2% above.
``resolver_cpp()`` writes the ``MicroMutableOpResolver`` a firmware needs for one or more
models.

Pure Python over ``tflkit.Model``: nothing here imports TensorFlow or a runtime.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tflkit import dtypes
from tflkit.model import Model, Operator, Subgraph, Tensor
from tflkit.targets._base import Memory, Placement, output_name

__all__ = [
    "CUSTOM_OPS",
    "FALLBACK",
    "OPS",
    "RULES",
    "SOURCE",
    "TARGETS",
    "memory",
    "place",
    "resolver_cpp",
    "resolver_methods",
]

TARGETS = ("tflm",)
FALLBACK = "none"
SOURCE = (
    "tflite-micro 8f6596d (PyPI tflite-micro 0.dev20261023182759): "
    "python/tflite_micro/python_ops_resolver.cc, "
    "tensorflow/lite/micro/micro_mutable_op_resolver.h and "
    "tensorflow/lite/micro/kernels/*.cc, read at tflite-micro 90b983c (2026-08-20)"
)

RULES: dict[str, str] = {
    "tflm-unsupported-op": "TFLM registers no kernel for this builtin operator",
    "tflm-custom-op": "TFLM registers no kernel for this custom operator",
    "tflm-flex": "Flex (SELECT_TF_OPS) operators need the TensorFlow runtime",
    "tflm-dtype": "the kernel's Prepare or Eval rejects this tensor type",
    "tflm-hybrid": "float input with integer weights (hybrid / dynamic range): no TFLM kernel",
    "tflm-quantize-types": "QUANTIZE supports only some (input, output) type pairs",
    "tflm-blockwise": "blockwise-quantized tensors: TFLM reads only per-tensor/per-channel",
    "tflm-sparse": "sparse weights: TFLM reads the buffer as dense (no error, wrong numbers)",
    "tflm-prepare": "a check of the kernel's Prepare (ranks, shapes, type pairs) fails",
}

F32, F16, I8, I16, I32, I64, U8, BOOL = (
    "float32",
    "float16",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "bool",
)
_FI = (F32, I8, I16)  # the common set: float32, int8, int16


@dataclass(frozen=True, slots=True)
class OpSupport:
    """One builtin operator TFLM registers.

    ``method``: the ``MicroMutableOpResolver`` method that adds it; ``types``: the types the
    kernel accepts for tensor ``tensor`` (an input index, or -1 for the first output); ``None``
    when the kernel does not check (shape ops, control flow, variables).
    """

    method: str
    types: tuple[str, ...] | None = None
    tensor: int = 0


def _op(method: str, *types: str, tensor: int = 0) -> OpSupport:
    return OpSupport(method, types or None, tensor)


#: Builtin operator -> its Add method and the types its kernel accepts
#: (kernels/<op>.cc: the ``case kTfLite...`` of Eval and the type checks of Prepare).
OPS: dict[str, OpSupport] = {
    "ABS": _op("AddAbs", *_FI),  # elementwise.cc IsAbsSupportedType
    "ADD": _op("AddAdd", F32, I8, I16, I32),
    "ADD_N": _op("AddAddN", F32, I8),
    "ARG_MAX": _op("AddArgMax", F32, I8),
    "ARG_MIN": _op("AddArgMin", F32, I8),
    "ASSIGN_VARIABLE": _op("AddAssignVariable"),
    "AVERAGE_POOL_2D": _op("AddAveragePool2D", *_FI),
    "BATCH_MATMUL": _op("AddBatchMatMul", *_FI),
    "BATCH_TO_SPACE_ND": _op("AddBatchToSpaceNd", F32, I8),
    "BROADCAST_ARGS": _op("AddBroadcastArgs"),
    "BROADCAST_TO": _op("AddBroadcastTo"),
    "CALL_ONCE": _op("AddCallOnce"),
    "CAST": _op("AddCast", BOOL, F32, I8, I16, I32, "uint32"),
    "CEIL": _op("AddCeil", F32),
    "CONCATENATION": _op("AddConcatenation", BOOL, F32, I8, I16, I32, I64),
    "CONV_2D": _op("AddConv2D", *_FI),
    "COS": _op("AddCos", F32),  # elementwise.cc IsNumericSupportedType
    "CUMSUM": _op("AddCumSum", F32, I8),
    "DEPTH_TO_SPACE": _op("AddDepthToSpace", F32, I8),
    "DEPTHWISE_CONV_2D": _op("AddDepthwiseConv2D", *_FI),
    # dequantize_common.cc:42: input int8, int16 or uint8 (a float16 weight fails here)
    "DEQUANTIZE": _op("AddDequantize", I8, I16, U8),
    "DIV": _op("AddDiv", F32, I8, I32),
    "DYNAMIC_UPDATE_SLICE": _op("AddDynamicUpdateSlice", F32, I8, I16, I32),
    "ELU": _op("AddElu", F32, I8),
    "EMBEDDING_LOOKUP": _op("AddEmbeddingLookup", F32, I8, tensor=1),
    "EQUAL": _op("AddEqual", BOOL, F32, I8, I16, I32, I64),
    "EXP": _op("AddExp", F32),
    "EXPAND_DIMS": _op("AddExpandDims", *_FI),
    "FILL": _op("AddFill", F32, I8, I16, I32, I64, tensor=-1),
    "FLOOR": _op("AddFloor", F32),
    "FLOOR_DIV": _op("AddFloorDiv", F32),
    "FLOOR_MOD": _op("AddFloorMod", F32),
    "FULLY_CONNECTED": _op("AddFullyConnected", *_FI),
    "GATHER": _op("AddGather", F32, I8, I32),
    "GATHER_ND": _op("AddGatherNd", F32, I8, I32),
    "GREATER": _op("AddGreater", F32, I8, I16, I32, I64),
    "GREATER_EQUAL": _op("AddGreaterEqual", F32, I8, I16, I32, I64),
    "HARD_SWISH": _op("AddHardSwish", F32, I8),
    "IF": _op("AddIf"),
    "L2_NORMALIZATION": _op("AddL2Normalization", F32, I8),
    "L2_POOL_2D": _op("AddL2Pool2D", F32),
    "LEAKY_RELU": _op("AddLeakyRelu", *_FI),
    "LESS": _op("AddLess", F32, I8, I16, I32, I64),
    "LESS_EQUAL": _op("AddLessEqual", F32, I8, I16, I32, I64),
    "LOG": _op("AddLog", F32),
    "LOG_SOFTMAX": _op("AddLogSoftmax", F32, I8),
    "LOGICAL_AND": _op("AddLogicalAnd", BOOL),
    "LOGICAL_NOT": _op("AddLogicalNot", BOOL),
    "LOGICAL_OR": _op("AddLogicalOr", BOOL),
    "LOGISTIC": _op("AddLogistic", *_FI),
    "MAX_POOL_2D": _op("AddMaxPool2D", *_FI),
    "MAXIMUM": _op("AddMaximum", F32, I8, I16, I32, I64),
    "MEAN": _op("AddMean", *_FI),  # reduce_common.cc
    "MINIMUM": _op("AddMinimum", F32, I8, I16, I32, I64),
    "MIRROR_PAD": _op("AddMirrorPad", F32, I8, I32, I64),
    "MUL": _op("AddMul", F32, I8, I16, I32),
    "NEG": _op("AddNeg", F32),
    "NOT_EQUAL": _op("AddNotEqual", BOOL, F32, I8, I16, I32, I64),
    "PACK": _op("AddPack", F32, I8, I16, I32, I64),
    "PAD": _op("AddPad", F32, I8, I16, I32),
    "PADV2": _op("AddPadV2", F32, I8, I16, I32),
    "PRELU": _op("AddPrelu", *_FI),
    "QUANTIZE": _op("AddQuantize"),  # (input, output) pairs: _QUANTIZE_PAIRS
    "READ_VARIABLE": _op("AddReadVariable"),
    "REDUCE_ALL": _op("AddReduceAll", BOOL),
    "REDUCE_MAX": _op("AddReduceMax", *_FI),
    "REDUCE_MIN": _op("AddReduceMin", *_FI),
    "RELU": _op("AddRelu", *_FI),
    "RELU6": _op("AddRelu6", *_FI),
    "RESHAPE": _op("AddReshape"),
    "RESIZE_BILINEAR": _op("AddResizeBilinear", F32, I8),
    "RESIZE_NEAREST_NEIGHBOR": _op("AddResizeNearestNeighbor", *_FI),
    "REVERSE_V2": _op("AddReverseV2", BOOL, F32, I8, I16, I32, I64, U8),
    "ROUND": _op("AddRound", F32),
    # elementwise.cc:58 IsRsqrtSupportedType at 90b983c says float32|int8; the PyPI build
    # (0.dev20261023) runs int16 RSQRT (measured: LiteRT's single_rsqrt a16w8 test model)
    "RSQRT": _op("AddRsqrt", F32, I8, I16),
    # select.cc Eval: "Does not support type other than int8|int16|float32" (at invoke)
    "SELECT_V2": _op("AddSelectV2", *_FI, tensor=1),
    "SHAPE": _op("AddShape"),
    "SIN": _op("AddSin", F32),
    "SLICE": _op("AddSlice", BOOL, F32, I8, I16, I32),
    "SOFTMAX": _op("AddSoftmax", *_FI),
    "SPACE_TO_BATCH_ND": _op("AddSpaceToBatchNd", F32, I8),
    "SPACE_TO_DEPTH": _op("AddSpaceToDepth", F32, I8),
    "SPLIT": _op("AddSplit", F32, I8, I16, I32, tensor=1),  # input 0 is the axis
    "SPLIT_V": _op("AddSplitV", F32, I8, I16, I32),
    "SQRT": _op("AddSqrt", F32),
    "SQUARE": _op("AddSquare", F32),
    "SQUARED_DIFFERENCE": _op("AddSquaredDifference", F32, I8, I16, I32),
    "SQUEEZE": _op("AddSqueeze"),
    "STRIDED_SLICE": _op("AddStridedSlice", BOOL, F32, I8, I16, I32),
    "SUB": _op("AddSub", F32, I8, I16, I32),
    "SUM": _op("AddSum", *_FI),
    "SVDF": _op("AddSvdf", F32, I8),
    "TANH": _op("AddTanh", *_FI),
    "TRANSPOSE": _op("AddTranspose", *_FI),
    "TRANSPOSE_CONV": _op("AddTransposeConv", *_FI, tensor=2),  # input 0: output shape
    "UNIDIRECTIONAL_SEQUENCE_LSTM": _op("AddUnidirectionalSequenceLSTM", *_FI),
    "UNPACK": _op("AddUnpack", F32, I8, I16, I32),
    "VAR_HANDLE": _op("AddVarHandle"),
    "WHILE": _op("AddWhile"),
    "ZEROS_LIKE": _op("AddZerosLike", F32, I8, I32, I64),
}

#: Custom code -> the Add method (micro_mutable_op_resolver.h ``AddCustom("...")``).
#: ``ethos-u`` is left out: ``Register_ETHOSU()`` is null unless TFLM is built for an
#: Ethos-U, as the Python interpreter is not (then ``AddEthosU()`` adds nothing).
CUSTOM_OPS: dict[str, str] = {
    "CIRCULAR_BUFFER": "AddCircularBuffer",
    "TFLM_DECODE": "AddDecode",
    "TFLite_Detection_PostProcess": "AddDetectionPostprocess",
    "SignalDelay": "AddDelay",
    "SignalEnergy": "AddEnergy",
    "SignalFftAutoScale": "AddFftAutoScale",
    "SignalFilterBank": "AddFilterBank",
    "SignalFilterBankLog": "AddFilterBankLog",
    "SignalFilterBankSpectralSubtraction": "AddFilterBankSpectralSubtraction",
    "SignalFilterBankSquareRoot": "AddFilterBankSquareRoot",
    "SignalFramer": "AddFramer",
    "SignalIrfft": "AddIrfft",
    "SignalOverlapAdd": "AddOverlapAdd",
    "SignalPCAN": "AddPCAN",
    "SignalRfft": "AddRfft",
    "SignalStacker": "AddStacker",
    "SignalWindow": "AddWindow",
}

#: QUANTIZE (input, output) pairs its Eval handles (kernels/quantize_common.cc); any other
#: pair fails at the first invoke ("Input FLOAT32, output UINT8 not supported.").
_QUANTIZE_PAIRS = frozenset(
    {
        (F32, I8),
        (F32, I16),
        (I32, I8),
        (I32, I16),
        (I16, I8),
        (I16, I16),
        (I16, I32),
        (I8, I8),
        (I8, U8),
        (I8, I16),
        (I8, I32),
        (U8, I8),
    }
)

#: Kernels whose weights (input 1) must match the input's type: conv_common.cc and
#: depthwise_conv_common.cc ("Hybrid models are not supported on TFLite Micro."),
#: fully_connected_common.cc ("Input type: FLOAT32 with filter type: INT8 not supported.").
#: input type -> the weight types allowed; (input index, weight index).
_WEIGHTS_ALLOWED = {F32: (F32,), I8: (I8, "int4"), I16: (I8,)}
_WEIGHTED: dict[str, tuple[int, int]] = {
    "CONV_2D": (0, 1),
    "DEPTHWISE_CONV_2D": (0, 1),
    "FULLY_CONNECTED": (0, 1),
    "TRANSPOSE_CONV": (2, 1),
}


def _tensor(sg: Subgraph, op: Operator, index: int) -> Tensor | None:
    """The operator's input ``index`` (-1: first output), or None when absent."""
    where = op.outputs[:1] if index == -1 else op.inputs[index : index + 1]
    return sg.tensor(where[0]) if where else None


def _rank(t: Tensor | None) -> int:
    return len(t.shape) if t is not None else -1


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    """NumPy's broadcast of two shapes, None when they do not broadcast."""
    out: list[int] = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x != y and 1 not in (x, y):
            return None
        out.append(y if x == 1 else x)
    return tuple(reversed(out))


# The LSTM inputs TFLM's kernel refuses (lstm_eval.cc:90-101): peephole weights (9-11),
# projection (16-17), layer normalization (20-23).
_LSTM_VARIANT_INPUTS = (9, 10, 11, 16, 17, 20, 21, 22, 23)
_ELEMENTWISE_BINARY = frozenset({"ADD", "SUB", "MUL", "DIV", "SQUARED_DIFFERENCE"})


def _prepare_check(sg: Subgraph, op: Operator) -> str:
    """Why a kernel's Prepare (or first Eval) check fails, "" when none does. Each check cites
    the TFLM kernel line (tflite-micro 90b983c)."""
    x, y = _tensor(sg, op, 0), _tensor(sg, op, -1)
    if op.op == "BATCH_MATMUL":
        w = _tensor(sg, op, 1)
        # batch_matmul.cc:198 TF_LITE_ENSURE(lhs_data->type == rhs_data->type)
        if x is not None and w is not None and x.dtype != w.dtype:
            return f"BATCH_MATMUL of {x.dtype} by {w.dtype}: both inputs must have one type"
    elif op.op == "UNIDIRECTIONAL_SEQUENCE_LSTM":
        # lstm_eval.cc:90-101: no peephole, projection or layer-norm tensors
        present = [i for i in _LSTM_VARIANT_INPUTS if i < len(op.inputs) and op.inputs[i] >= 0]
        if present:
            return f"LSTM with peephole/projection/layer-norm inputs {present}"
    elif op.op == "SVDF":
        w = _tensor(sg, op, 1)
        rank = _option(op, "rank")
        if w is not None and w.shape and rank > 0 and y is not None and _rank(y) == 2:
            units = w.shape[0] // rank
            # svdf_common.cc:411 TF_LITE_ENSURE_EQ(output->dims->data[1], num_units)
            if y.shape[1] != units:
                return f"SVDF output has {y.shape[1]} units, its weights {units}"
    elif op.op == "TRANSPOSE":
        perm = _tensor(sg, op, 1)
        # transpose_common.cc:43-44: the permutation is 1-D, one entry per input dimension
        if perm is not None and (_rank(perm) != 1 or perm.shape[0] != _rank(x)):
            return f"TRANSPOSE permutation of shape {perm.shape} for a rank-{_rank(x)} input"
    elif op.op == "BROADCAST_TO":
        # broadcast_to.cc:47-48, 87-88: "BroadcastTo only supports 1-5D tensor."
        if max(_rank(x), _rank(y)) > 5:
            return f"BROADCAST_TO of rank {max(_rank(x), _rank(y))}: TFLM takes 1-5D"
    elif op.op == "SQUEEZE":
        # squeeze.cc:74: each squeezed dimension exists and is 1; a scalar has none
        if x is not None and not x.shape and y is not None and not y.shape:
            return "SQUEEZE of a scalar: no dimension to squeeze"
    elif op.op in ("ARG_MAX", "ARG_MIN"):
        # arg_min_max.cc:85-90 (first Eval): "Only int32_t are supported currently"
        if y is not None and y.dtype != I32:
            return f"{op.op} output {y.dtype}: TFLM writes int32 only"
    elif op.op in _ELEMENTWISE_BINARY and len(op.inputs) >= 2:
        a, b = x, _tensor(sg, op, 1)
        if a is not None and b is not None and y is not None and a.shape and b.shape:
            # TFLM never resizes an output: the file's output shape must be the broadcast
            # one (a dynamic model's unresolved output aborts the interpreter)
            want = _broadcast(a.shape, b.shape)
            if want is not None and math.prod(want) != math.prod(y.shape or (1,)):
                return f"{op.op} output shape {y.shape}, its inputs give {want}"
    return ""


def _why_not(sg: Subgraph, op: Operator) -> tuple[str, str]:
    """(rule, reason) when TFLM cannot run the operator, ("", "") when it can."""
    if op.is_custom:
        code = op.custom_code or ""
        if op.is_flex:
            return "tflm-flex", f"Flex op {code!r} needs the TensorFlow runtime"
        if code not in CUSTOM_OPS:
            return "tflm-custom-op", f"no TFLM kernel for custom op {code!r}"
        return "", ""
    support = OPS.get(op.op)
    if support is None:
        return "tflm-unsupported-op", f"TFLM has no kernel for {op.op}"
    if op.op == "QUANTIZE":
        src, dst = _tensor(sg, op, 0), _tensor(sg, op, -1)
        if src is not None and dst is not None and (src.dtype, dst.dtype) not in _QUANTIZE_PAIRS:
            return "tflm-quantize-types", f"QUANTIZE from {src.dtype} to {dst.dtype}"
        return "", ""
    if op.op in _WEIGHTED:
        x_at, w_at = _WEIGHTED[op.op]
        x, w = _tensor(sg, op, x_at), _tensor(sg, op, w_at)
        allowed = _WEIGHTS_ALLOWED.get(x.dtype) if x is not None else None
        if allowed is not None and w is not None and w.dtype not in allowed:
            return "tflm-hybrid", f"{x.dtype} input with {w.dtype} weights"  # type: ignore[union-attr]
    # after the weights check: TFLM's FULLY_CONNECTED names the float/int8 mix first
    for i in (*op.inputs, *op.outputs):
        t = sg.tensor(i)
        if t is not None and t.quantization is not None and t.quantization.is_blockwise:
            return "tflm-blockwise", f"tensor {t.name!r} is blockwise-quantized"
        if t is not None and t.is_sparse:
            # No kernel reads Tensor.sparsity: it takes the compressed buffer for the dense
            # tensor and reads past it (fixtures/mlp_sparse.tflite: NaN outputs, no error).
            return "tflm-sparse", f"tensor {t.name!r} is sparse; TFLM would read it as dense"
    for i in (*op.inputs, *op.outputs):
        t = sg.tensor(i)
        if t is not None and t.dtype == "string":
            # memory_helpers.cc TfLiteTypeSizeOf has no size for strings: the tensor cannot
            # be set up ("Failed to populate a temp TfLiteTensor struct from flatbuffer data")
            return "tflm-dtype", f"tensor {t.name!r} is a string: TFLM has no string tensors"
    if support.types is not None:
        t = _tensor(sg, op, support.tensor)
        if t is not None and t.dtype not in support.types:
            return "tflm-dtype", f"{op.op} takes {'|'.join(support.types)}, not {t.dtype}"
    why = _prepare_check(sg, op)
    if why:
        return "tflm-prepare", why
    return "", ""


def place(model: Model, target: str = "tflm") -> list[Placement]:
    """Where each operator runs on TFLM: ``"target"``, or ``"none"`` with the rule and reason.

    Args:
        model: the model (``tflkit.load``).
        target: ``"tflm"``.

    Returns:
        One Placement per operator of every subgraph, in order.

    Example:
        >>> [p.on for p in place(tflkit.load("mlp_int8.tflite"))]
        ['target', 'target', 'target']
    """
    out: list[Placement] = []
    for sg in model.subgraphs:
        for op in sg.operators:
            rule, reason = _why_not(sg, op)
            on = "none" if rule else "target"
            out.append(Placement(sg.index, op.index, op.op, output_name(sg, op), on, reason, rule))
    return out


# -- memory ------------------------------------------------------------------------------------
# The arena as tflite-micro 90b983c (the source of PyPI tflite-micro 0.dev20261023, whose
# Python interpreter is the truth the tests measure, 64-bit) lays it out:
# "Arena allocation total" = head + tail (single_arena_buffer_allocator.cc:173-189).
# - head: the GreedyMemoryPlanner's plan of every tensor without data and every kernel scratch
#   buffer (micro_allocator.cc:1117-1211, micro_allocation_info.cc:178-334,
#   greedy_memory_planner.cc:162-330);
# - tail: persistent allocations, each AlignPointerDown(tail - size, alignment)
#   (single_arena_buffer_allocator.cc:108-123), in the order the interpreter makes them.

_ALIGN = 16  # MicroArenaBufferAlignment() (micro_arena_constants.h)
_EVAL_TENSOR = 24  # sizeof(TfLiteEvalTensor) (micro_allocator.cc:1047)
_NODE = 64  # sizeof(NodeAndRegistration) (micro_allocator.cc:783)
_TFLITE_TENSOR = 64  # sizeof(TfLiteTensor) (micro_allocator.cc:1098)
_AFFINE = 24  # sizeof(TfLiteAffineQuantization) (micro_allocator.cc:296)
_SUBGRAPH_ALLOC = 24  # sizeof(SubgraphAllocations) with compression (micro_allocator.cc:649)
_DATA_ALLOCATOR = 16  # sizeof(MicroBuiltinDataAllocator) (micro_allocator.cc:637)
_HANDLE = 8  # sizeof(ScratchBufferHandle) (micro_allocator.cc:1225)
# RecordingSingleArenaBufferAllocator + GreedyMemoryPlanner + RecordingMicroAllocator
# (recording_micro_allocator.cc:45-58), the interpreter's own structures: measured as what
# the tail holds beyond the rest on models whose kernels keep nothing (CEIL, FLOOR, ROUND).
_FIXED = 448
# MicroResourceVariables::Create (micro_resource_variable.cc:35-38), python's wrapper
# (interpreter_wrapper.cc:298) when the model has VAR_HANDLE: the struct and one per variable.
_RESOURCE_VARIABLES = 16
_RESOURCE_VARIABLE = 40

#: Builtin operator -> the persistent bytes its parsed options and its kernel keep (the
#: builtin data of flatbuffer_conversions.cc and the kernel's Init/Prepare
#: AllocatePersistentBuffer calls), as laid in the tail (alignment included), measured on
#: tflite-micro's Python interpreter; per-channel arrays come on top (``_channel_arrays``).
_KERNEL: dict[str, int] = {
    "ADD:float32": 80,
    "ADD:int16": 80,
    "ADD:int32": 112,
    "ADD:int8": 80,
    "ASSIGN_VARIABLE:resource": 16,  # assign_variable.cc:41-48: OpData {int}
    "AVERAGE_POOL_2D:float32": 80,
    "AVERAGE_POOL_2D:int8": 80,
    "BATCH_MATMUL:float32": 64,
    "BATCH_MATMUL:int16": 160,
    "BROADCAST_TO:float32": 0,
    "CALL_ONCE:": 32,  # call_once.cc:34-41 OpData + TfLiteCallOnceParams
    "CAST:int16": 0,
    "CAST:int32": 16,
    "CAST:int8": 0,
    "CAST:uint32": 0,
    "CEIL:float32": 0,
    "CONCATENATION:float32": 96,
    "CONCATENATION:int16": 96,
    "CONCATENATION:int32": 96,
    "CONCATENATION:int8": 96,
    "CONV_2D:float32": 128,
    "CONV_2D:int16": 128,
    "CONV_2D:int8": 128,
    "COS:float32": 0,
    "CUSTOM:SignalEnergy": 432,
    "CUSTOM:SignalFftAutoScale": 432,
    "CUSTOM:SignalFilterBank": 432,
    "CUSTOM:SignalFilterBankLog": 432,
    "CUSTOM:SignalFilterBankSpectralSubtraction": 432,
    "CUSTOM:SignalFilterBankSquareRoot": 432,
    "CUSTOM:SignalPCAN": 432,
    "CUSTOM:SignalRfft": 432,
    "CUSTOM:SignalWindow": 432,
    "DEPTHWISE_CONV_2D:float32": 112,
    "DEPTHWISE_CONV_2D:int8": 112,
    "DEQUANTIZE:int8": 48,
    "DIV:float32": 32,
    "DIV:int32": 48,
    "DYNAMIC_UPDATE_SLICE:float32": 0,
    "ELU:float32": 272,
    "EMBEDDING_LOOKUP:int32": 32,
    "EQUAL:float32": 32,
    "EXPAND_DIMS:float32": 16,
    "FLOOR:float32": 0,
    "FULLY_CONNECTED:float32": 112,
    "FULLY_CONNECTED:int16": 112,
    "FULLY_CONNECTED:int8": 112,
    "GATHER:float32": 32,
    "GATHER_ND:float32": 16,
    "HARD_SWISH:float32": 32,
    "L2_NORMALIZATION:float32": 16,
    "LEAKY_RELU:int16": 48,
    "LESS:int32": 32,
    "LOGICAL_OR:bool": 0,
    "LOGISTIC:float32": 32,
    "LOGISTIC:int8": 32,
    "LOG_SOFTMAX:float32": 0,
    "MAXIMUM:float32": 0,
    "MAXIMUM:int32": 0,
    "MAX_POOL_2D:float32": 80,
    "MAX_POOL_2D:int8": 128,
    "MEAN:float32": 56,
    "MEAN:int8": 48,
    "MINIMUM:float32": 0,
    "MINIMUM:int32": 0,
    "MIRROR_PAD:float32": 32,
    "MUL:float32": 48,
    "MUL:int16": 48,
    "MUL:int32": 48,
    "MUL:int8": 48,
    "NOT_EQUAL:float32": 32,
    "PACK:float32": 16,
    "PACK:int32": 16,
    "PAD:float32": 64,
    "PAD:int16": 64,
    "PADV2:float32": 64,
    "QUANTIZE:float32": 48,
    "QUANTIZE:int16": 48,
    "QUANTIZE:int32": 48,
    "QUANTIZE:int8": 80,
    "QUANTIZE:uint8": 0,
    "READ_VARIABLE:resource": 0,  # read_variable.cc: no OpData, no params
    "REDUCE_ALL:bool": 48,
    "REDUCE_MIN:float32": 48,
    "RELU:float32": 48,
    "RESHAPE:float32": 48,
    "RESHAPE:int16": 48,
    "RESHAPE:int32": 32,
    "RESHAPE:int8": 48,
    "RESIZE_BILINEAR:float32": 0,
    "RESIZE_NEAREST_NEIGHBOR:float32": 0,
    "ROUND:float32": 0,
    "RSQRT:float32": 48,
    "RSQRT:int16": 48,
    "RSQRT:int8": 48,
    "SELECT_V2:bool": 16,
    "SHAPE:float32": 32,
    "SHAPE:int8": 32,
    "SIN:float32": 32,
    "SLICE:float32": 0,
    "SOFTMAX:float32": 96,
    "SOFTMAX:int16": 2176,
    "SOFTMAX:int8": 80,
    "SPACE_TO_DEPTH:float32": 32,
    "SPLIT:int32": 16,
    "SQRT:float32": 0,
    "SQUARED_DIFFERENCE:float32": 112,
    "SQUEEZE:float32": 0,
    "STRIDED_SLICE:float32": 112,
    "STRIDED_SLICE:int32": 64,
    "SUB:float32": 64,
    "SUM:float32": 48,
    "TANH:float32": 32,
    "TRANSPOSE:float32": 0,
    "TRANSPOSE_CONV:int32": 112,
    "UNIDIRECTIONAL_SEQUENCE_LSTM:float32": 704,
    "UNIDIRECTIONAL_SEQUENCE_LSTM:int8": 720,
    "UNPACK:float32": 0,
    "VAR_HANDLE:": 32,  # var_handle.cc:35-41 OpData + TfLiteVarHandleParams (2 pointers)
    "WHILE:int32": 32,
}
_KERNEL_DEFAULT = 128  # an operator not measured: above every one measured but a few

#: Builtin operator -> (sizeof, alignof) of the options struct its parser allocates in the tail
#: (tensorflow/lite/core/api/flatbuffer_conversions.cc ``safe_allocator.Allocate<...>``, the
#: parser each ``micro_mutable_op_resolver.h`` Add method names; sizes of
#: tensorflow/lite/core/c/builtin_op_data.h as gcc lays them out on x86-64). Operators whose
#: parser allocates nothing (ABS, RSQRT, LOGISTIC ...) are absent. FULLY_CONNECTED: 16 bytes
#: at 90b983c, 36 measured on the PyPI build (every model with FULLY_CONNECTED exact then).
_PARAMS: dict[str, tuple[int, int]] = {
    "ADD": (8, 4), "ARG_MAX": (4, 4), "ARG_MIN": (4, 4), "AVERAGE_POOL_2D": (40, 4),
    "BATCH_MATMUL": (3, 1), "CALL_ONCE": (4, 4), "CAST": (8, 4), "CONCATENATION": (8, 4),
    "CONV_2D": (28, 4), "CUMSUM": (2, 1), "DEPTH_TO_SPACE": (4, 4),
    "DEPTHWISE_CONV_2D": (28, 4), "DIV": (4, 4), "FULLY_CONNECTED": (36, 4),
    "GATHER": (8, 4), "IF": (8, 4), "L2_NORMALIZATION": (4, 4), "L2_POOL_2D": (40, 4),
    "LEAKY_RELU": (4, 4), "MAX_POOL_2D": (40, 4), "MEAN": (1, 1), "MIRROR_PAD": (4, 4),
    "MUL": (4, 4), "PACK": (8, 4), "REDUCE_ALL": (1, 1), "REDUCE_MAX": (1, 1),
    "REDUCE_MIN": (1, 1), "RESHAPE": (36, 4), "RESIZE_BILINEAR": (2, 1),
    "RESIZE_NEAREST_NEIGHBOR": (2, 1), "SHAPE": (4, 4), "SOFTMAX": (4, 4),
    "SPACE_TO_DEPTH": (4, 4), "SPLIT": (4, 4), "SPLIT_V": (4, 4), "SQUEEZE": (36, 4),
    "STRIDED_SLICE": (24, 4), "SUB": (8, 4), "SUM": (1, 1), "SVDF": (12, 4),
    "TRANSPOSE_CONV": (20, 4), "UNIDIRECTIONAL_SEQUENCE_LSTM": (16, 4), "UNPACK": (8, 4),
    "VAR_HANDLE": (16, 8), "WHILE": (8, 4),
}  # fmt: skip

#: Builtin operator (or "OP:type") -> the bytes of each AllocatePersistentBuffer its kernel
#: makes in Init and Prepare, beyond the per-channel arrays and BATCH_MATMUL's copies
#: (``_prepare_allocations``): the OpData of each kernel, measured as the "Persistent buffer
#: data" TFLM records over the models of bench/tflm_arena.py (least squares, exact to the
#: byte; the number of allocations too: BATCH_MATMUL float32 makes two, 48 bytes) and checked
#: against the kernels where noted. An operator absent here falls back to ``_KERNEL``.
_INIT: dict[str, tuple[int, ...]] = {
    "ADD": (60,), "ASSIGN_VARIABLE": (4,), "AVERAGE_POOL_2D": (32,), "BATCH_MATMUL": (40, 8),
    "BATCH_MATMUL:int8": (48, 48), "BATCH_MATMUL:int16": (48, 48), "CALL_ONCE": (8,),
    "CAST": (), "CEIL": (), "CONCATENATION": (80,), "CONV_2D": (80,), "COS": (),
    "DEPTHWISE_CONV_2D": (80,), "DEQUANTIZE": (32,), "DIV": (28,),
    "DYNAMIC_UPDATE_SLICE": (), "ELU": (256,), "EMBEDDING_LOOKUP": (16, 12),
    "EQUAL": (32,), "EXPAND_DIMS": (), "FLOOR": (), "FULLY_CONNECTED": (72,),
    "GATHER": (12,), "GATHER_ND": (12,), "GREATER": (32,), "GREATER_EQUAL": (32,),
    "HARD_SWISH": (20,), "L2_NORMALIZATION": (4,), "LEAKY_RELU": (24,), "LESS": (32,),
    "LESS_EQUAL": (32,), "LOG_SOFTMAX:float32": (), "LOGICAL_AND": (), "LOGICAL_OR": (),
    "LOGISTIC": (16,), "MAX_POOL_2D": (32,), "MAXIMUM": (), "MEAN": (44,), "MINIMUM": (),
    "MIRROR_PAD": (20,), "MUL": (36,), "NOT_EQUAL": (32,), "PACK": (), "PAD": (56,),
    "PADV2": (56,), "QUANTIZE": (32,), "READ_VARIABLE": (), "REDUCE_ALL": (44,),
    "REDUCE_MAX": (44,), "REDUCE_MIN": (44,), "RELU": (28,), "RESHAPE": (),
    "RESIZE_BILINEAR": (), "RESIZE_NEAREST_NEIGHBOR": (), "ROUND": (), "RSQRT": (28,),
    "SELECT_V2": (1,), "SHAPE": (), "SIN": (), "SLICE": (), "SOFTMAX": (80,),
    "SOFTMAX:int16": (80, 1026, 1026), "SPACE_TO_DEPTH": (20,), "SPLIT": (), "SQRT": (),
    "SQUARED_DIFFERENCE": (112,), "SQUEEZE": (), "STRIDED_SLICE": (84,), "SUB": (52,),
    "SUM": (44,), "SVDF": (36,), "TANH": (16,), "TRANSPOSE": (), "TRANSPOSE_CONV": (88,),
    "UNIDIRECTIONAL_SEQUENCE_LSTM": (688,), "UNPACK": (), "VAR_HANDLE": (4,), "WHILE": (8,),
}  # fmt: skip


def _align(n: int, to: int = _ALIGN) -> int:
    return (n + to - 1) // to * to


def _nbytes(t: Tensor) -> int:
    """TfLiteEvalTensorByteLength: elements times the type's size (a scalar has one)."""
    try:
        bits = dtypes.by_name(t.dtype).bits
    except (KeyError, ValueError):
        bits = 8
    if t.dtype == "resource":
        bits = 0  # a resource handle takes no arena bytes (measured: head exact)
    n = math.prod(t.shape) if t.shape else 1
    return max(n, 0) * max(bits // 8, 1) if bits else 0


def _option(op: Operator, name: str) -> int:
    value = op.option(name, -1)
    return int(value) if isinstance(value, (int, float)) else -1


def _called(op: Operator) -> list[int]:
    """The subgraphs a control-flow operator runs, in the order TFLM plans them
    (micro_allocation_info.cc:54-101)."""
    names: tuple[str, ...]
    if op.op == "IF":
        names = ("then_subgraph_index", "else_subgraph_index")
    elif op.op == "WHILE":
        names = ("cond_subgraph_index", "body_subgraph_index")
    elif op.op == "CALL_ONCE":
        names = ("init_subgraph_index",)
    else:
        return []
    return [i for i in (_option(op, n) for n in names) if i >= 0]


def _elements(t: Tensor | None) -> int:
    return math.prod(t.shape) if t is not None and t.shape else 1


def _scratch(sg: Subgraph, op: Operator) -> list[int]:
    """Bytes of each RequestScratchBufferInArena the kernel makes in Prepare, in order."""
    x, y = _tensor(sg, op, 0), _tensor(sg, op, -1)
    if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
        # conv_common.cc:203-210, depthwise_conv_common.cc:201-208, fully_connected.cc:68-75
        w = _tensor(sg, op, 1)
        return [_elements(w)] if w is not None and w.dtype == "int4" else []
    if op.op in ("MEAN", "SUM") and x is not None:
        # reduce_common.cc:222-251 (PrepareMeanOrSumHelper)
        axis = _tensor(sg, op, 1)
        acc = [4 * _elements(y)] if x.dtype in (I8, I16) else []
        return [*acc, 4 * len(x.shape), 4 * _elements(axis)]
    if op.op in ("REDUCE_MAX", "REDUCE_MIN", "REDUCE_ALL", "REDUCE_ANY") and x is not None:
        # reduce_common.cc:211-214, 278-281
        return [4 * len(x.shape), 4 * _elements(_tensor(sg, op, 1))]
    if op.op == "MIRROR_PAD" and x is not None:
        return [4 * len(x.shape)] * 2  # mirror_pad.cc:196-201
    if op.op == "TRANSPOSE_CONV":
        # transpose_conv.cc:126-133 (16x8 with an int16 bias), 193-210
        data = _tensor(sg, op, 2)
        bias = _tensor(sg, op, 3) if len(op.inputs) > 3 else None
        out: list[int] = []
        if data is not None and data.dtype == I16 and bias is not None and bias.dtype == I16:
            out.append(8 * _elements(bias))
        if data is not None and data.dtype == I8:
            out.append(4 * _elements(y))
        elif data is not None and data.dtype == I16:
            out.append(8 * _elements(y))
        return out
    if op.op == "ADD_N" and y is not None and y.dtype in (F32, I8):
        return [8 * len(op.inputs)]  # add_n.cc:80-101
    if op.op == "SVDF" and x is not None:
        # svdf_common.cc:481-503: batch x filters (and x units for int8), int32/float
        w = _tensor(sg, op, 1)
        batch = x.shape[0] if x.shape else 1
        filters = w.shape[0] if w is not None and w.shape else 1
        rank = max(_option(op, "rank"), 1)
        if x.dtype == I8:
            return [4 * batch * filters, 4 * batch * (filters // rank)]
        return [4 * batch * filters]
    if op.op == "UNIDIRECTIONAL_SEQUENCE_LSTM":
        # unidirectional_sequence_lstm.cc:86-94: four batch x state buffers of the cell type
        cell = _tensor(sg, op, 19) if len(op.inputs) > 19 else None
        return [_nbytes(cell)] * 4 if cell is not None else []
    return []


def _offline_offsets(model: Model) -> list[int] | None:
    """The arena offset of every tensor (all subgraphs in order; -1: planned online) that the
    "OfflineMemoryAllocation" metadata fixes (micro_allocation_info.cc:338-373: uint32
    version, subgraph, tensor count, then one int32 offset per tensor), None without it or
    when its count is not the model's (TFLM then refuses the model)."""
    for entry in model.metadata:
        if entry.name != "OfflineMemoryAllocation":
            continue
        data = entry.data()
        words = [
            int.from_bytes(data[i : i + 4], "little", signed=True)
            for i in range(0, len(data) - 3, 4)
        ]
        total = sum(len(sg.tensors) for sg in model.subgraphs)
        if len(words) < 3 or words[2] != total or len(words) < 3 + total:
            return None
        return words[3 : 3 + total]
    return None


def _plan(model: Model) -> list[tuple[int, int, int, int]]:
    """(aligned size, first, last, offline offset or -1) of every buffer TFLM plans, in its
    AllocationInfo order: the tensors of each subgraph, then the scratch buffers
    (micro_allocation_info.cc)."""
    external = frozenset(model.external_buffers)
    offline = _offline_offsets(model)
    infos: list[list[int]] = []  # [bytes, first, last, offline] per tensor, subgraph by subgraph
    offsets: list[int] = []
    for sg in model.subgraphs:
        offsets.append(len(infos))
        for t in sg.tensors:
            fixed = offline[len(infos)] if offline is not None else -1
            # needs_allocating: no data in the flatbuffer (a Buffer.offset is not read), not a
            # variable (unless planned offline), not empty (micro_allocation_info.cc:202-214)
            has_data = t.is_constant and t.buffer not in external
            size = 0 if has_data or (t.is_variable and fixed < 0) else _nbytes(t)
            infos.append([size, -1, -1, fixed])
    scratch: list[list[int]] = []  # [bytes, first, last] per request, in request order
    # Requests are made subgraph by subgraph in Prepare order (micro_interpreter_graph.cc).
    requests: dict[tuple[int, int], list[int]] = {}
    for sg in model.subgraphs:
        for op in sg.operators:
            sizes = _scratch(sg, op)
            if sizes:
                at = len(scratch)
                requests[(sg.index, op.index)] = list(range(at, at + len(sizes)))
                scratch += [[s, -1, -1, -1] for s in sizes]
    scope = 0

    def first(info: list[int], at: int) -> None:
        if info[1] == -1:
            info[1] = at

    def mark(index: int, depth: int) -> None:
        nonlocal scope
        if depth > 16 or index >= len(model.subgraphs):
            return
        sg = model.subgraphs[index]
        base = offsets[index]
        for i in sg.inputs:
            first(infos[base + i], scope)
            infos[base + i][2] = scope
        for op in sg.operators:
            scope += 1
            for i in op.outputs:
                if i >= 0:
                    first(infos[base + i], scope)
            start = scope
            for called in _called(op):
                scope += 1
                mark(called, depth + 1)
            for i in op.inputs:
                if i >= 0:
                    infos[base + i][2] = scope
            for i in op.outputs:
                if i >= 0:
                    infos[base + i][2] = scope
            for r in requests.get((index, op.index), ()):
                first(scratch[r], start)
                scratch[r][2] = scope
        for i in sg.outputs:
            first(infos[base + i], scope)
            infos[base + i][2] = scope

    if model.subgraphs:
        mark(0, 0)
    return [(_align(b), f, last, at) for b, f, last, at in (*infos, *scratch) if b > 0]


def _greedy(buffers: Sequence[tuple[int, ...]]) -> int:
    """GreedyMemoryPlanner::CalculateOffsetsIfNeeded and GetMaximumMemorySize
    (greedy_memory_planner.cc:162-330): the buffers planned offline first, at their offsets,
    in order of addition; then the others by size, largest first (a stable bubble sort of
    them in reverse order of addition), each at the lowest offset where it fits between the
    buffers alive at the same time, walked in offset order. A buffer is (size, first, last)
    or (size, first, last, offline offset or -1)."""
    fixed = [b for b in buffers if len(b) > 3 and b[3] >= 0]
    online = [b for b in buffers if len(b) <= 3 or b[3] < 0]
    order = [*fixed, *sorted(reversed(online), key=lambda b: -b[0])]
    placed: list[tuple[int, int, int, int]] = []  # by offset: offset, size, first, last
    high = 0
    for size, f, last, *at in order:
        offset = 0
        if at and at[0] >= 0:
            offset = at[0]
        elif placed:
            prior: tuple[int, int, int, int] | None = None
            for entry in placed:
                if entry[2] > last or f > entry[3]:
                    continue  # not alive at the same time
                if prior is not None:
                    offset = max(offset, prior[0] + prior[1])
                if entry[0] - offset >= size:
                    break
                prior = entry
            else:
                if prior is not None:
                    offset = max(offset, prior[0] + prior[1])
        pos = 0
        while pos < len(placed) and placed[pos][0] <= offset:
            pos += 1
        placed.insert(pos, (offset, size, f, last))
        high = max(high, offset + size)
    return high


class _Tail:
    """The persistent section: each allocation at AlignPointerDown(tail - size, alignment)."""

    def __init__(self) -> None:
        self.used = 0

    def take(self, size: int, alignment: int = _ALIGN) -> None:
        if size > 0 or alignment > 1:
            self.used = _align(self.used + size, alignment)


def _channel_arrays(sg: Subgraph, op: Operator) -> list[int]:
    """The per-channel output multipliers and shifts a kernel allocates in Prepare."""
    w = _tensor(sg, op, 1)
    if w is None or not w.shape:
        return []
    if op.op in ("CONV_2D", "TRANSPOSE_CONV"):
        # conv_common.cc:175-181, transpose_conv.cc:178-184: filter dims[0] channels
        return [4 * w.shape[0]] * 2
    if op.op == "DEPTHWISE_CONV_2D":
        return [4 * w.shape[-1]] * 2  # depthwise_conv_common.cc:166-173: dims[3]
    if op.op == "BATCH_MATMUL":
        # batch_matmul.cc:91-123, 150-164: a transposed copy (TfLiteEvalTensor, dims, data)
        # of the LHS when adj_x and of the RHS unless adj_y
        x, out = _tensor(sg, op, 0), []
        for t, needed in ((x, _option(op, "adj_x") == 1), (w, _option(op, "adj_y") != 1)):
            if t is not None and needed:
                out += [_EVAL_TENSOR, 4 + 4 * len(t.shape), _nbytes(t)]
        return out
    if op.op == "FULLY_CONNECTED" and w.quantization is not None:
        n = len(w.quantization.scales)  # fully_connected_common.cc:96-116: per-channel only
        return [4 * n] * 2 if n > 1 else []
    return []


def _init(sg: Subgraph, op: Operator) -> tuple[int, ...] | None:
    if op.is_custom:
        return None
    x = _tensor(sg, op, 0)
    key = f"{op.op}:{x.dtype}" if x is not None else op.op
    return _INIT.get(key, _INIT.get(op.op))


def _kernel(sg: Subgraph, op: Operator) -> int:
    x = _tensor(sg, op, 0)
    key = f"{op.op}:{x.dtype}" if x is not None else op.op
    if op.is_custom:
        key = f"CUSTOM:{op.custom_code}"
    if key in _KERNEL:
        return _KERNEL[key]
    # the same operator on another type: the most any type of it takes
    same = [v for k, v in _KERNEL.items() if k.split(":")[0] == op.op]
    return max(same) if same else _KERNEL_DEFAULT


def _resource_variables(model: Model) -> list[int]:
    """Bytes of each resource variable: the values ASSIGN_VARIABLE stores in it.

    TFLM tells variables apart by their shared name, which tflkit does not read; streaming
    models assign every variable once in the CALL_ONCE init subgraph and once in the main one.
    So the variables are the sizes assigned in each subgraph, merged across subgraphs (a size
    assigned k times in one subgraph counts k times, not the sum over subgraphs).
    """
    most: dict[int, int] = {}
    for sg in model.subgraphs:
        sizes: dict[int, int] = {}
        for op in sg.operators:
            value = _tensor(sg, op, 1) if op.op == "ASSIGN_VARIABLE" else None
            if value is not None:
                n = _nbytes(value)
                sizes[n] = sizes.get(n, 0) + 1
        for n, k in sizes.items():
            most[n] = max(most.get(n, 0), k)
    return [n for n, k in sorted(most.items()) for _ in range(k)]


def _tail(model: Model, n_scratch: int) -> int:
    tail = _Tail()
    tail.used = _FIXED
    variables = _resource_variables(model)
    if any(op.op == "VAR_HANDLE" for op in model.operators):
        tail.take(_RESOURCE_VARIABLES)
        tail.take(_RESOURCE_VARIABLE * max(len(variables), 1))
    tail.take(_DATA_ALLOCATOR, 8)
    tail.take(_SUBGRAPH_ALLOC * len(model.subgraphs), 8)
    for sg in model.subgraphs:
        tail.take(_EVAL_TENSOR * len(sg.tensors), 8)
    for sg in model.subgraphs:
        tail.take(_NODE * len(sg.operators), 8)
    # MicroInterpreter::AllocateTensors (micro_interpreter.cc:200-215): the options of every
    # operator, then every kernel's Init, then every Prepare
    known: list[tuple[Subgraph, Operator, tuple[int, ...]]] = []
    for sg in model.subgraphs:
        for op in sg.operators:
            init = _init(sg, op)
            if init is None:
                tail.used += _kernel(sg, op)  # not measured alone: options and data at once
                continue
            size, alignment = _PARAMS.get(op.op, (0, 1))
            if size:
                tail.take(size, alignment)
            known.append((sg, op, init))
    for _, _, init in known:
        for size in init:
            tail.take(size)
    for sg in model.subgraphs:
        for op in sg.operators:
            for size in _channel_arrays(sg, op):
                tail.take(size)
    for size in variables:
        # MicroResourceVariables::Allocate (micro_resource_variable.cc:83-96): the buffer of
        # each variable, at the first ASSIGN_VARIABLE's Prepare (assign_variable.cc:84)
        tail.take(size)
    tail.take(_HANDLE * n_scratch, 8)
    offline = _offline_offsets(model)
    base = 0
    for sg in model.subgraphs:
        for t in sg.tensors:
            # micro_allocator.cc:1071-1096: persistent unless planned offline
            if t.is_variable and (offline is None or offline[base + t.index] < 0):
                tail.take(_nbytes(t))
        base += len(sg.tensors)
    primary = model.subgraphs[0] if model.subgraphs else None
    for group in (primary.inputs, primary.outputs) if primary is not None else ():
        tail.take(8 * len(group))
        for i in group:
            q = primary.tensor(i) if primary is not None else None
            tail.take(_TFLITE_TENSOR, 8)
            if q is not None and q.quantization is not None and q.quantization.scales:
                tail.take(_AFFINE, 8)
                tail.take(4 + 4 * len(q.quantization.scales), 4)
    return tail.used


def memory(model: Model, target: str = "tflm") -> Memory:
    """The tensor arena TFLM needs for the model, and the flash the model takes.

    ``arena_bytes``: TFLM's own "Arena allocation total" as tflite-micro 90b983c (PyPI
    tflite-micro 0.dev20261023, 64-bit) computes it: the head its GreedyMemoryPlanner lays
    out (every tensor without data and every kernel scratch buffer, by lifetime, across the
    subgraphs control flow runs) plus the tail of persistent structures (per tensor, per
    operator, per kernel, the variables). Never below TFLM's total on the models measured,
    and at most 5% above; on a 32-bit device the structures are smaller.
    ``flash_bytes``: the model file (TFLM reads weights in place).

    Args:
        model: the model (``tflkit.load``).
        target: ``"tflm"``.

    Returns:
        Memory(arena_bytes, flash_bytes).

    Example:
        >>> memory(tflkit.load("mlp_int8.tflite")).arena_bytes
        2112
    """
    buffers = _plan(model)
    n_scratch = sum(len(_scratch(sg, op)) for sg in model.subgraphs for op in sg.operators)
    head = _greedy(buffers)
    return Memory(arena_bytes=head + _tail(model, n_scratch), flash_bytes=model.size_bytes)


# -- the op resolver for firmware -------------------------------------------------------------


def resolver_methods(models: Iterable[Model]) -> list[str]:
    """The ``MicroMutableOpResolver`` Add methods the models need, sorted, each once.

    Operators TFLM cannot register (Flex, unknown custom codes, builtins without a kernel) are
    left out: ``place()`` reports them.
    """
    methods: set[str] = set()
    for model in models:
        for sg in model.subgraphs:
            for op in sg.operators:
                if op.is_custom:
                    method = CUSTOM_OPS.get(op.custom_code or "")
                    if method is None and op.custom_code == "ethos-u":
                        method = "AddEthosU"  # a firmware built with the Ethos-U driver
                else:
                    support = OPS.get(op.op)
                    method = support.method if support else None
                if method:
                    methods.add(method)
    return sorted(methods)


def resolver_cpp(models: Iterable[Model]) -> str:
    """The C++ that registers exactly the kernels the models use, to paste into firmware.

    Args:
        models: one or more models (``tflkit.load``); the resolver holds the union.

    Returns:
        ``tflite::MicroMutableOpResolver<N> resolver;`` and one ``resolver.AddXxx();`` line
        per operator kind, N the number of kinds.

    Example:
        >>> print(resolver_cpp([tflkit.load("mlp_int8.tflite")]))
        tflite::MicroMutableOpResolver<2> resolver;
        resolver.AddFullyConnected();
        resolver.AddSoftmax();
    """
    methods = resolver_methods(models)
    lines = [f"tflite::MicroMutableOpResolver<{len(methods)}> resolver;"]
    lines += [f"resolver.{m}();" for m in methods]
    return "\n".join(lines) + "\n"
