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
  (``tflm-hybrid``), QUANTIZE's (input, output) pairs, blockwise quantization.

``memory()`` estimates the tensor arena as TFLM lays it out: the activations planned by
lifetime with its greedy planner (the arena's head) plus the persistent structures it keeps per
tensor, per operator and per kernel (its tail), calibrated against ``print_allocations()`` of
tflite-micro's Python interpreter on the fixtures. ``resolver_cpp()`` writes the
``MicroMutableOpResolver`` a firmware needs for one or more models.

Pure Python over ``tflkit.Model``: nothing here imports TensorFlow or a runtime.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
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
    "RSQRT": _op("AddRsqrt", F32, I8),  # elementwise.cc IsRsqrtSupportedType
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
    if support.types is not None:
        t = _tensor(sg, op, support.tensor)
        if t is not None and t.dtype not in support.types:
            return "tflm-dtype", f"{op.op} takes {'|'.join(support.types)}, not {t.dtype}"
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

_ALIGN = 16  # MicroArenaBufferAlignment(): every arena buffer starts on 16 bytes
_EVAL_TENSOR = 24  # sizeof(TfLiteEvalTensor), one per tensor of every subgraph
_TFLITE_TENSOR = 64  # persistent TfLiteTensor of each model input and output
_QUANT_PARAMS = 32  # its TfLiteAffineQuantization, scale and zero-point arrays (per-tensor)
_NODE = 64  # sizeof(NodeAndRegistration), one per operator
_OP_DATA = 64  # a kernel's OpData (persistent buffer), typical after alignment
_OP_DATA_SMALL = 24  # kernels that keep little: variables, CALL_ONCE, reshapes
_SMALL_OPS = frozenset(
    {
        "VAR_HANDLE",
        "READ_VARIABLE",
        "ASSIGN_VARIABLE",
        "CALL_ONCE",
        "RESHAPE",
        "SQUEEZE",
        "EXPAND_DIMS",
        "SHAPE",
    }
)
# The interpreter's own structures (allocator, graph, planner): what print_allocations()
# leaves out of its itemized lines, 488 to 676 bytes on the fixtures, fitted by least squares
# as a constant plus a little per constant tensor and per subgraph (within 60 bytes).
_FIXED = 448
_PER_CONSTANT = 16
_PER_SUBGRAPH = 43
# int16 SOFTMAX keeps two 513-entry int16 lookup tables (exp and 1/(1+x)).
_SOFTMAX_INT16_LUT = 2 * 513 * 2


def _align(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def _nbytes(t: Tensor) -> int:
    try:
        bits = dtypes.by_name(t.dtype).bits
    except (KeyError, ValueError):
        bits = 8
    n = math.prod(max(d, 0) for d in t.shape) if t.shape else 1
    return (n * bits + 7) // 8


def _plan(sg: Subgraph, start: int) -> list[tuple[int, int, int]]:
    """(size, first, last) of each activation of one subgraph, times counted from ``start``."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    end = start + max(len(sg.operators) - 1, 0)
    for i in sg.inputs:
        first[i] = start
    for op in sg.operators:
        t = start + op.index
        for i in op.inputs:
            if i >= 0:
                first.setdefault(i, t)
                last[i] = t
        for i in op.outputs:
            if i >= 0:
                first.setdefault(i, t)
                last[i] = max(last.get(i, t), t)
    for i in sg.outputs:
        first.setdefault(i, start)
        last[i] = end
    out: list[tuple[int, int, int]] = []
    for i, f in first.items():
        tensor = sg.tensor(i)
        if tensor is None:
            continue
        if tensor.is_constant or tensor.is_variable or tensor.dtype == "resource":
            continue
        out.append((_align(_nbytes(tensor)), f, last.get(i, f)))
    return out


def _greedy(buffers: list[tuple[int, int, int]]) -> int:
    """The arena's head: GreedyMemoryPlanner places the largest buffer first, each at the
    lowest offset that overlaps no placed buffer alive at the same time."""
    placed: list[tuple[int, int, int, int]] = []  # offset, size, first, last
    high = 0
    for size, f, last in sorted(buffers, key=lambda b: (-b[0], b[1])):
        if size == 0:
            continue
        live = sorted((o, s) for o, s, pf, pl in placed if pf <= last and f <= pl)
        offset = 0
        for o, s in live:
            if offset + size <= o:
                break
            offset = max(offset, o + s)
        placed.append((offset, size, f, last))
        high = max(high, offset + size)
    return high


def _op_data(sg: Subgraph, op: Operator) -> int:
    """Persistent bytes a kernel keeps for one operator (OpData and its tables)."""
    size = _OP_DATA_SMALL if op.op in _SMALL_OPS else _OP_DATA
    x = _tensor(sg, op, 0)
    if op.op in _WEIGHTED and x is not None and x.dtype in (I8, I16):
        # per-channel output multipliers and shifts, one int32 each per output channel
        out = _tensor(sg, op, -1)
        channels = out.shape[-1] if out is not None and out.shape else 1
        size += _align(4 * channels) * 2
    elif op.op == "SOFTMAX" and x is not None and x.dtype == I16:
        size += _SOFTMAX_INT16_LUT
    elif op.op == "BATCH_MATMUL":
        # batch_matmul.cc Prepare keeps a transposed copy of the right-hand side unless
        # adj_y (an option tflkit does not read; the converter leaves it false)
        rhs = _tensor(sg, op, 1)
        if rhs is not None:
            size += _align(_nbytes(rhs))
    return size


def memory(model: Model, target: str = "tflm") -> Memory:
    """The tensor arena TFLM needs for the model, and the flash the model takes.

    ``arena_bytes``: the activations planned by lifetime (TFLM's greedy planner, all
    subgraphs) plus TFLM's persistent per-tensor, per-operator and per-kernel structures;
    within 10% of ``print_allocations()``'s "Arena allocation total" on the fixtures.
    ``flash_bytes``: the model file (TFLM reads weights in place).

    Args:
        model: the model (``tflkit.load``).
        target: ``"tflm"``.

    Returns:
        Memory(arena_bytes, flash_bytes).

    Example:
        >>> memory(tflkit.load("mlp_int8.tflite")).arena_bytes > 0
        True
    """
    buffers: list[tuple[int, int, int]] = []
    start = 0
    for sg in model.subgraphs:
        buffers += _plan(sg, start)
        start += len(sg.operators) + 1
    head = _align(_greedy(buffers))
    # Data stored after the flatbuffer (Buffer.offset): TFLM copies it into the arena's head,
    # alive for the whole run (fixtures/buffer_offset.tflite: head = activations + weights).
    external = frozenset(model.external_buffers)
    if external:
        head += sum(
            _align(_nbytes(t))
            for sg in model.subgraphs
            for t in sg.tensors
            if t.is_constant and t.buffer in external
        )
    primary = model.subgraphs[0] if model.subgraphs else None
    io = set(primary.inputs) | set(primary.outputs) if primary else set()
    n_ops = sum(len(sg.operators) for sg in model.subgraphs)
    tail = _align(_EVAL_TENSOR * sum(len(sg.tensors) for sg in model.subgraphs))
    for i in io:
        t = primary.tensor(i) if primary is not None else None
        if t is None:
            continue
        tail += _TFLITE_TENSOR
        if t.quantization is not None:
            tail += _QUANT_PARAMS
    tail += _NODE * n_ops
    tail += sum(_op_data(sg, op) for sg in model.subgraphs for op in sg.operators)
    n_constants = sum(t.is_constant for sg in model.subgraphs for t in sg.tensors)
    tail += _FIXED + _PER_CONSTANT * n_constants + _PER_SUBGRAPH * len(model.subgraphs)
    return Memory(arena_bytes=head + _align(tail), flash_bytes=model.size_bytes)


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
