"""Arm Ethos-U55, Ethos-U65 and Ethos-U85: which operators Vela puts on the NPU.

The rules are Vela 5.2.0's, as its C++ compiler core (Regor) applies them to TFLite models: Vela
5.x compiles every Ethos-U model with Regor (the Python ``tflite_supported_operators.py`` is the
deprecated legacy core, used only with ``--debug-force-legacy-core``). Regor's constraints are
published by ``vela --supported-ops-report`` (``SUPPORTED_OPS.md``, generated from
``ethosu.regor.tflite_operator_constraints("EthosU55" | "EthosU85")``); each rule below quotes
the line it encodes. Ethos-U55 and Ethos-U65 share one table; Ethos-U85 has its own.

An operator Vela does not take stays in the model it writes, for the CPU (TFLite Micro), with
the first constraint it failed as the reason; consecutive NPU operators become one ``ethos-u``
custom operator (a segment). Two things happen before the rules and are modelled here:

- a dynamic batch is fixed to 1 (``shape_signature`` -1 on axis 0 only; any other dynamic axis
  keeps the operator on the CPU, rule ``ethos-u-dynamic-shape``);
- shape arithmetic is folded into constants: SHAPE of a tensor whose shape is then static, and
  STRIDED_SLICE / PACK / CONCATENATION / ... of constants and folded values (the SHAPE ->
  STRIDED_SLICE -> PACK feeding a RESHAPE that Keras writes for a dynamic batch). Vela's model
  keeps them nowhere: they are placed ``on="target"`` with ``rule=""`` and a reason that begins
  ``folded by Vela``, and they neither start nor break a segment. The same holds on Ethos-U85
  for a VAR_HANDLE whose READ_VARIABLE / ASSIGN_VARIABLE all run on the NPU.

``segments`` counts the ``ethos-u`` operators as Regor makes them: runs of NPU operations in
the order its scheduler puts the graph in (a depth-first walk from the outputs, then CPU
operations that read only graph inputs moved first and those that only write graph outputs
last), with a CONCATENATION lowered into one NPU write per input and bool graph inputs and
outputs converted by NPU operations.

Regor's C++ source is read at ethos-u-vela upstream commit e4b56335 (June 2026, between the
5.1.0 and 5.2.0 tags; the GitHub copy hapv3/neural-compiler holds its history); each rule taken
from it names file and lines, and was checked against the installed Vela 5.2.0. Measured on 408
published and test models (MediaPipe 0.10.14 and pymicro-wakeword 2.5.0 wheels, pyopen-wakeword,
and every .tflite / .bin flatbuffer under 3 MB in LiteRT f67457790c9c, tflite-micro 90b983c2b3f1
and ai-edge-quantizer 85092035894c): operator for operator and segment for segment as Vela on
376 of 376 models Vela compiles for ethos-u55-128 and ethos-u65-256 and on 384 of 385 for
ethos-u85-256 (the other agrees by op type: Vela writes a CPU CAST's output under another
name there); the
rule of every CPU operator Vela warns about (3,852 on U55, 3,906 on U85) is the constraint
Vela printed.

Checked against Vela itself (tests/test_target_ethos_u.py: every fixture and seven edited models
compiled for ethos-u55-128, ethos-u65-256, ethos-u85-256): the rules ``unsupported-op``,
``dynamic-shape``, ``shape``, ``dtype``, ``quantization``, ``per-axis``, ``zero-point``,
``stride`` and ``kernel``; tests/test_ethos_u_kinds.py adds ``weights`` (an int16
BATCH_MATMUL) and the kinds above, each a small model checked against Vela. The others
(``int32``, ``params``, ``rank``, ``activation``, ``op-limit``) are encoded from the report's
text and not yet met by a test model (the corpus above meets some of them).

Operator options (strides, padding, kernel sizes, fused activation) come from
``Operator.options``, as ``tflkit.load`` read them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from tflkit.targets._base import Placement, output_name, target_runs

if TYPE_CHECKING:
    from tflkit.model import Model, Operator, Subgraph, Tensor

__all__ = ["FALLBACK", "RULES", "SOURCE", "TARGETS", "place", "segments"]

TARGETS = ("ethos-u55", "ethos-u65", "ethos-u85")
SOURCE = (
    "ethos-u-vela 5.2.0, Regor TFLite supported-operator constraints "
    "(vela --supported-ops-report: SUPPORTED_OPS.md)"
)
FALLBACK = "cpu"

RULES: dict[str, str] = {
    "ethos-u-unsupported-op": "Vela has no NPU implementation of the operator type on this target",
    "ethos-u-cpu-shape": "shape arithmetic feeding only CPU operators stays on the CPU "
    "(Vela folds it only for NPU operators)",
    "ethos-u-dynamic-shape": "only the first dimension of a tensor may be dynamic (set to 1)",
    "ethos-u-shape": "tensors must have a constant shape (a rank-0 feature map has none)",
    "ethos-u-dtype": "feature maps must be int8, uint8, int16, int32 or int64 (U85: and bool)",
    "ethos-u-int32": "the operator takes no 32-bit feature maps on Ethos-U55 / U65",
    "ethos-u-quantization": "inputs, output and weights must have quantization, scales > 0",
    "ethos-u-per-axis": "per-axis quantization only on CONV_2D, DEPTHWISE_CONV_2D, "
    "FULLY_CONNECTED, TRANSPOSE_CONV",
    "ethos-u-zero-point": "zero points: 0 for int32, non-negative for unsigned types",
    "ethos-u-stride": "stride limits (> 3 only with VALID padding and no dilation; "
    "depthwise 1..3; TRANSPOSE_CONV 1x1, 2x2, 2x1, 1x2)",
    "ethos-u-kernel": "pooling kernel limits (SAME padding: 8x8; VALID: height 256, area 256*256)",
    "ethos-u-weights": "weights 8-bit, bias int32/int64 1-D constant, sum of |weights| "
    "per output channel within the limit; U55/U65 matmul (BATCH_MATMUL, FULLY_CONNECTED with "
    "dynamic weights): int8 input, reduced axis and depth at most 2^16",
    "ethos-u-rank": "TRANSPOSE: tensor rank at most 8",
    "ethos-u-activation": "fused activation must be RELU, RELU6, RELU_N1_TO_1 or TANH, "
    "on an 8- or 16-bit output",
    "ethos-u-params": "parameter tensors (paddings, begin/size, axes, permutation) must be "
    "constant int32/int64",
    "ethos-u-op-limit": "an operator-specific limit of Vela (MEAN, SOFTMAX, ARG_MAX, "
    "RESIZE, SPLIT, ...)",
}

# ---------------------------------------------------------------- operator tables


def _names(text: str) -> frozenset[str]:
    """Operator names as Vela's report lists them, separated by white space."""
    return frozenset(text.split())


# SUPPORTED_OPS.md, "Ethos-U55 and Ethos-U65 TFLite Summary Table" (Vela 5.2.0)
_U55_OPS = _names(
    """ABS ADD ARG_MAX AVERAGE_POOL_2D BATCH_MATMUL CONCATENATION CONV_2D DEPTHWISE_CONV_2D ELU
    EXP EXPAND_DIMS FULLY_CONNECTED GELU HARD_SWISH LEAKY_RELU LOG LOGISTIC MAXIMUM
    MAX_POOL_2D MEAN MINIMUM MIRROR_PAD MUL NEG PACK PAD PADV2 PRELU QUANTIZE REDUCE_MAX
    REDUCE_MIN RELU RELU6 RELU_0_TO_1 RELU_N1_TO_1 RESHAPE RESIZE_BILINEAR
    RESIZE_NEAREST_NEIGHBOR REVERSE_V2 RSQRT SLICE SOFTMAX SPLIT SPLIT_V SQUARED_DIFFERENCE
    SQUEEZE STRIDED_SLICE SUB SUM TANH TILE TRANSPOSE TRANSPOSE_CONV
    UNIDIRECTIONAL_SEQUENCE_LSTM UNPACK"""
)
# "Ethos-U85 TFLite Summary Table": all of the above and these
_U85_OPS = _U55_OPS | _names(
    """ASSIGN_VARIABLE CAST DIV EQUAL GATHER GREATER GREATER_EQUAL LESS LESS_EQUAL LOGICAL_AND
    LOGICAL_NOT LOGICAL_OR NOT_EQUAL READ_VARIABLE REDUCE_ALL REDUCE_ANY SCATTER_ND SELECT
    SELECT_V2"""
)

# Generic: "Feature-map dataTypes must be one of {...}" (U85 adds BOOL)
_U55_DTYPES = frozenset({"int8", "uint8", "int16", "int32", "int64"})
_U85_DTYPES = _U55_DTYPES | {"bool"}

# U55/U65 generic "Input(s), Output and Weight tensors must have quantization parameters" and
# "Quantization scale of any tensor must be positive": Exceptions
_U55_NO_QUANT_NEEDED = frozenset(
    {"ARG_MAX", "EXPAND_DIMS", "MIRROR_PAD", "PAD", "PADV2", "QUANTIZE", "TRANSPOSE"}
)
# U85: the same two lines are specific constraints; these operators do not carry them
_U85_NO_QUANT_NEEDED = _names(
    """ARG_MAX ASSIGN_VARIABLE EXPAND_DIMS GATHER MIRROR_PAD PAD PADV2 QUANTIZE READ_VARIABLE
    REDUCE_ALL REDUCE_ANY SCATTER_ND SELECT SELECT_V2 TRANSPOSE"""
)
# "Per-axis quantization is not supported." Exceptions
_PER_AXIS_OK = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"})
# U55/U65 "Zero-points must be 0 for Int32 and non-negative for unsigned dataTypes" Exceptions
# (U85: IFM / OFM zero-point ranges, same exceptions plus DIV)
_ZP_EXEMPT = frozenset(
    {
        "AVERAGE_POOL_2D",
        "RESIZE_BILINEAR",
        "RESIZE_NEAREST_NEIGHBOR",
        "UNIDIRECTIONAL_SEQUENCE_LSTM",
    }
)
# U55/U65 specific "32-bit feature-maps are not supported." (every table entry but these)
_U55_INT32_OK = _names(
    """ADD ARG_MAX BATCH_MATMUL EXPAND_DIMS FULLY_CONNECTED MIRROR_PAD MUL NEG RESHAPE SQUEEZE
    SUB SUM TRANSPOSE"""
)
_MAC_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"})

# Which inputs are parameters, not feature maps (by operator: input slots). Weights and bias
# are checked by the weight rules; everything else an operator reads is a feature map.
_PARAM_SLOTS: dict[str, tuple[int, ...]] = {
    "CONV_2D": (1, 2),
    "DEPTHWISE_CONV_2D": (1, 2),
    "FULLY_CONNECTED": (1, 2),
    "TRANSPOSE_CONV": (0, 1, 3),
    "PAD": (1,),
    "PADV2": (1, 2),
    "MIRROR_PAD": (1,),
    "RESHAPE": (1,),
    "SLICE": (1, 2),
    "STRIDED_SLICE": (1, 2, 3),
    "MEAN": (1,),
    "SUM": (1,),
    "REDUCE_MAX": (1,),
    "REDUCE_MIN": (1,),
    "REDUCE_ANY": (1,),
    "REDUCE_ALL": (1,),
    "ARG_MAX": (1,),
    "TRANSPOSE": (1,),
    "EXPAND_DIMS": (1,),
    "TILE": (1,),
    "SPLIT": (0,),
    "SPLIT_V": (1, 2),
    "RESIZE_BILINEAR": (1,),
    "RESIZE_NEAREST_NEIGHBOR": (1,),
    "REVERSE_V2": (1,),
    "GATHER": (1,),
    "SCATTER_ND": (0, 2),
    "READ_VARIABLE": (0,),
    "ASSIGN_VARIABLE": (0,),
    # Regor reads input 0 as the IFM, the others as weights, scales and state
    # (ethosu/regor/tflite/tflite_mapping.cpp, upstream e4b56335, lines 638-661)
    "UNIDIRECTIONAL_SEQUENCE_LSTM": tuple(range(1, 24)),
}
# UNIDIRECTIONAL_SEQUENCE_LSTM inputs Regor reads as weights (same lines): they need
# quantization like any weights
_LSTM_WEIGHT_SLOTS = (*range(1, 12), 16)
_WEIGHT_SLOT = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1, "TRANSPOSE_CONV": 1}
_BIAS_SLOT = {"CONV_2D": 2, "DEPTHWISE_CONV_2D": 2, "FULLY_CONNECTED": 2, "TRANSPOSE_CONV": 3}
# "Parameter tensors must be constant" (and for pads: "Params tensor must be Int32 or Int64")
_CONST_PARAMS: dict[str, tuple[int, ...]] = {
    "PAD": (1,),
    "PADV2": (1,),
    "MIRROR_PAD": (1,),
    "SLICE": (1, 2),
    "STRIDED_SLICE": (1, 2, 3),
    "MEAN": (1,),
    "TRANSPOSE": (1,),
}

# Shape arithmetic Vela folds once the batch is 1 (its constant propagation)
_FOLDABLE = _names(
    """SHAPE STRIDED_SLICE PACK CONCATENATION SLICE GATHER RESHAPE SQUEEZE EXPAND_DIMS CAST ADD
    SUB MUL"""
)

# TFLite ActivationFunctionType: 0 NONE, 1 RELU, 2 RELU_N1_TO_1, 3 RELU6, 4 TANH, 5 SIGN_BIT
_FAF_NAMES = {1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
_FAF_OK = frozenset({0, 1, 2, 3, 4})

_WEIGHT_SUM_LIMIT = 127 * 65536  # 8323072: "The sum of absolute weights cannot exceed"
_WEIGHT_SUM_LIMIT_U85_16 = 2130706432  # Ethos-U85, 16-bit IFM
_BIAS_LIMIT = {"u55": 1099511627775, "u85": 281474976710655}  # "Int64 bias must be smaller"


# ---------------------------------------------------------------- context of one operator


@dataclass(frozen=True, slots=True)
class _Options:
    """The builtin options the rules read (``Operator.options``); these defaults when the
    operator stores none, the schema's defaults when its options table leaves a field out."""

    padding: int = -1  # 0 SAME, 1 VALID, -1 none
    stride_w: int = 1
    stride_h: int = 1
    dilation_w_factor: int = 1
    dilation_h_factor: int = 1
    filter_width: int = 0
    filter_height: int = 0
    fused_activation_function: int = 0
    num_splits: int = 0
    align_corners: bool = False
    half_pixel_centers: bool = False
    adj_x: bool = False

    @classmethod
    def of(cls, op: Operator) -> _Options:
        stored: dict[str, Any] = {k: v for k, v in op.options if k in _OPTION_NAMES}
        return cls(**stored)


_OPTION_NAMES = frozenset(_Options.__dataclass_fields__)


@dataclass(slots=True)
class _Op:
    sg: Subgraph
    op: Operator
    opts: _Options
    folded: set[int]  # tensor indices Vela turns into constants (folded shape arithmetic)

    def tensor(self, i: int) -> Tensor | None:
        return self.sg.tensor(i)

    def input(self, slot: int) -> Tensor | None:
        return self.tensor(self.op.inputs[slot]) if slot < len(self.op.inputs) else None

    def constant(self, t: Tensor | None) -> bool:
        return t is not None and (t.is_constant or t.index in self.folded)

    def feature_maps(self) -> list[Tensor]:
        params = _PARAM_SLOTS.get(self.op.op, ())
        ins = [self.input(k) for k in range(len(self.op.inputs)) if k not in params]
        outs = [self.tensor(i) for i in self.op.outputs]
        return [t for t in (*ins, *outs) if t is not None]

    @property
    def ifm(self) -> Tensor | None:
        fms = [
            self.input(k)
            for k in range(len(self.op.inputs))
            if k not in _PARAM_SLOTS.get(self.op.op, ())
        ]
        return next((t for t in fms if t is not None), None)

    @property
    def ofm(self) -> Tensor | None:
        return next((t for t in map(self.tensor, self.op.outputs) if t is not None), None)


_Check = Callable[[_Op, str], "tuple[str, str] | None"]  # -> (rule, reason) or None


def _shape(t: Tensor) -> tuple[int, ...]:
    # Vela fixes a dynamic batch to 1: the stored shape already says 1 there
    return tuple(1 if d < 0 else d for d in t.shape)


def _family(target: str) -> str:
    return "u85" if target == "ethos-u85" else "u55"


def _hw(shape: tuple[int, ...]) -> tuple[int, int]:
    """(H, W) of an NHWC-like shape, as Vela widens it to 4-D."""
    full = (1,) * (4 - len(shape)) + shape if len(shape) < 4 else shape[-4:]
    return full[1], full[2]


# ---------------------------------------------------------------- generic constraints


def _dynamic(c: _Op, target: str) -> tuple[str, str] | None:
    # "Only the first dimension of tensors can be dynamic."
    for t in c.feature_maps():
        for axis, d in enumerate(t.shape_signature):
            if d < 0 and axis > 0:
                return (
                    "ethos-u-dynamic-shape",
                    f"dynamic non-batch dimension at axis {axis} on tensor {t.name!r}",
                )
    return None


def _shapeless(c: _Op, target: str) -> tuple[str, str] | None:
    # "Tensors must have constant shape." Vela reports a rank-0 variable feature map as
    # shapeless (a scalar constant operand is fine)
    if c.op.op in ("READ_VARIABLE", "ASSIGN_VARIABLE") and target == "ethos-u85":
        return None
    for t in c.feature_maps():
        if not t.shape and not c.constant(t):
            return "ethos-u-shape", f"tensor {t.name!r} has no shape (rank 0)"
    return None


def _dtype(c: _Op, target: str) -> tuple[str, str] | None:
    # "Feature-map dataTypes must be one of {...}"
    if c.op.op in ("READ_VARIABLE", "ASSIGN_VARIABLE"):
        return _variable(c, target)
    allowed = _U85_DTYPES if target == "ethos-u85" else _U55_DTYPES
    for t in c.feature_maps():
        if t.dtype not in allowed:
            return "ethos-u-dtype", f"tensor {t.name!r} is {t.dtype}, not an NPU data type"
    if target != "ethos-u85" and c.op.op != "ARG_MAX":
        # "64-bit feature-maps are not supported." (Exceptions: ARGMAX)
        for t in c.feature_maps():
            if t.dtype == "int64":
                return "ethos-u-dtype", f"tensor {t.name!r} is int64 (64-bit feature map)"
    return None


def _variable(c: _Op, target: str) -> tuple[str, str] | None:
    # U85 READ_VARIABLE / ASSIGN_VARIABLE: "Variable handle tensors must be Resource. Variable
    # data tensors must be one of {BOOL, INT16, INT32, INT64, INT8, UINT8}"
    handle = c.input(0)
    if handle is not None and handle.dtype != "resource":
        return "ethos-u-dtype", f"variable handle {handle.name!r} is {handle.dtype}"
    data = c.ofm if c.op.op == "READ_VARIABLE" else c.input(1)
    if data is not None and data.dtype not in _U85_DTYPES:
        return "ethos-u-dtype", f"variable data {data.name!r} is {data.dtype}"
    return None


def _quantized(c: _Op, target: str) -> tuple[str, str] | None:
    exempt = _U85_NO_QUANT_NEEDED if target == "ethos-u85" else _U55_NO_QUANT_NEEDED
    if c.op.op in exempt:
        return None
    # Regor's TensQuantized (ethosu/regor/tflite/tflite_supported_operators.cpp, upstream
    # e4b56335 (between 5.1.0 and 5.2.0), lines 186-207): int64 and bool tensors are never
    # checked, int32 feature maps only on a QUANTIZE, weights always (an int32 RESHAPE of token
    # ids without quantization runs on the NPU: measured with Vela 5.2.0)
    tensors = [
        t
        for t in c.feature_maps()
        if t.dtype not in ("int64", "bool") and (t.dtype != "int32" or c.op.op == "QUANTIZE")
    ]
    w = _WEIGHT_SLOT.get(c.op.op)
    weight = c.input(w) if w is not None else None
    if weight is not None and weight.dtype not in ("int64", "bool"):
        tensors.append(weight)
    if c.op.op == "UNIDIRECTIONAL_SEQUENCE_LSTM":
        tensors += [t for k in _LSTM_WEIGHT_SLOTS if (t := c.input(k)) is not None]
    for t in tensors:
        q = t.quantization
        # a blockwise quantization keeps its scales in another tensor: Vela sees none
        if q is None or not q.scales or q.is_blockwise:
            return "ethos-u-quantization", f"tensor {t.name!r} has no quantization parameters"
        if min(q.scales) <= 0:
            return "ethos-u-quantization", f"tensor {t.name!r} has a scale <= 0"
    return None


def _per_axis(c: _Op, target: str) -> tuple[str, str] | None:
    if c.op.op in _PER_AXIS_OK:
        return None
    for t in c.feature_maps():
        if t.quantization is not None and t.quantization.per_channel:
            return "ethos-u-per-axis", f"tensor {t.name!r} is quantized per axis"
    return None


def _zero_points(c: _Op, target: str) -> tuple[str, str] | None:
    if c.op.op in _ZP_EXEMPT or (target == "ethos-u85" and c.op.op == "DIV"):
        return None
    for t in c.feature_maps():
        q = t.quantization
        if q is None or q.is_blockwise:
            continue
        for zp in q.zero_points:
            if target == "ethos-u85":
                bad = not _u85_zero_point_ok(t.dtype, zp, t is c.ofm)
            else:
                bad = (t.dtype == "int32" and zp != 0) or (t.dtype.startswith("uint") and zp < 0)
            if bad:
                return "ethos-u-zero-point", f"tensor {t.name!r} ({t.dtype}) has zero point {zp}"
    return None


def _u85_zero_point_ok(dtype: str, zp: int, is_ofm: bool) -> bool:
    # U85 "IFM Zero-points must be in the range" / "OFM Zero-points must be in the range"
    if is_ofm:
        if dtype.startswith("uint"):
            return 0 <= zp <= 255 or zp == 32768
        return -128 <= zp <= 127
    if dtype == "int8":
        return -128 <= zp <= 127
    if dtype == "uint8":
        return 0 <= zp <= 255
    if dtype == "uint16":
        return zp in (0, 32768)
    return zp == 0


def _activation(c: _Op, target: str) -> tuple[str, str] | None:
    # Regor's report lists no fused-activation constraint; these are the legacy core's
    # (ethosu/vela/tflite_supported_operators.py 5.2.0, constraint_faf / constraint_faf_type):
    # a ReLU variant or tanh, on an 8/16-bit output. Vela 5.2.0 itself crashes on SIGN_BIT
    # ("IndexError: map::at"), so no NPU.
    faf = c.opts.fused_activation_function
    if faf == 0:
        return None
    if faf not in _FAF_OK:
        name = _FAF_NAMES.get(faf, str(faf))
        return "ethos-u-activation", f"fused activation {name} is not supported"
    out = c.ofm
    if out is not None and out.dtype not in ("int8", "uint8", "int16"):
        name = _FAF_NAMES.get(faf, str(faf))
        return "ethos-u-activation", f"fused activation {name} on a {out.dtype} output"
    return None


# ---------------------------------------------------------------- specific constraints


def _int32_fm(c: _Op, target: str) -> tuple[str, str] | None:
    # U55/U65: "32-bit feature-maps are not supported."
    if target == "ethos-u85" or c.op.op in _U55_INT32_OK:
        return None
    for t in c.feature_maps():
        if t.dtype == "int32":
            return "ethos-u-int32", f"tensor {t.name!r} is a 32-bit feature map"
    return None


def _pads(c: _Op) -> tuple[int, int]:
    """Total (height, width) padding the operator's SAME padding works out to (0 for VALID)."""
    ifm, ofm = c.ifm, c.ofm
    if c.opts.padding != 0 or ifm is None or ofm is None:
        return 0, 0
    ih, iw = _hw(_shape(ifm))
    oh, ow = _hw(_shape(ofm))
    kh, kw = _kernel(c)
    ph = max((oh - 1) * c.opts.stride_h + (kh - 1) * c.opts.dilation_h_factor + 1 - ih, 0)
    pw = max((ow - 1) * c.opts.stride_w + (kw - 1) * c.opts.dilation_w_factor + 1 - iw, 0)
    return ph, pw


def _kernel(c: _Op) -> tuple[int, int]:
    if c.op.op in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        return c.opts.filter_height, c.opts.filter_width
    w = c.input(1)
    if w is not None and len(w.shape) == 4:  # OHWI (depthwise: 1HWC)
        return w.shape[1], w.shape[2]
    return 1, 1


def _stride(c: _Op, target: str) -> tuple[str, str] | None:
    op, o = c.op.op, c.opts
    sw, sh = o.stride_w, o.stride_h
    if target == "ethos-u85":
        return None  # the U85 table has no stride constraint for TFLite operators
    if op in ("CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D"):
        # "Stride>3 is only supported IF (dilation = 1 AND padding = VALID)"; SAME padding that
        # works out to none counts as VALID (Vela reads the explicit padding)
        if max(sw, sh) > 3:
            dilated = o.dilation_w_factor != 1 or o.dilation_h_factor != 1
            if dilated or _pads(c) != (0, 0):
                return (
                    "ethos-u-stride",
                    f"stride WxH {sw}x{sh} > 3 needs VALID padding and no dilation",
                )
    elif op == "DEPTHWISE_CONV_2D":
        # "Kernel stride must be in the range (1,3)."
        if not (1 <= sw <= 3 and 1 <= sh <= 3):
            return "ethos-u-stride", f"stride WxH {sw}x{sh} outside 1..3"
    elif op == "TRANSPOSE_CONV":
        # "Stride values WxH must be: 1x1 OR 2x2 OR 2x1 (if IFM height and kernel height is 1)
        # OR 1x2 (if IFM width and kernel width is 1)"
        ifm = c.input(2)
        ih, iw = _hw(_shape(ifm)) if ifm is not None else (0, 0)
        kh, kw = _kernel(c)
        ok = (sw, sh) in ((1, 1), (2, 2))
        ok = ok or ((sw, sh) == (2, 1) and ih == 1 and kh == 1)
        ok = ok or ((sw, sh) == (1, 2) and iw == 1 and kw == 1)
        if not ok:
            return "ethos-u-stride", f"TRANSPOSE_CONV stride WxH {sw}x{sh}"
    return None


def _pool_kernel(c: _Op, target: str) -> tuple[str, str] | None:
    op, o = c.op.op, c.opts
    kw, kh = o.filter_width, o.filter_height
    if op == "MAX_POOL_2D" or (op == "AVERAGE_POOL_2D" and _pads(c) == (0, 0)):
        # "Kernel product must be less than or equal to 256*256", "Kernel height ... 256."
        if kh > 256 or kw * kh > 256 * 256:
            return "ethos-u-kernel", f"kernel WxH {kw}x{kh}: height > 256 or area > 256*256"
    elif op == "AVERAGE_POOL_2D" and (kw > 8 or kh > 8):
        # "ELSE: Kernel width and height must be less than or equal to 8"
        return "ethos-u-kernel", f"kernel WxH {kw}x{kh} with SAME padding: at most 8x8"
    return None


def _weights(c: _Op, target: str) -> tuple[str, str] | None:
    op = c.op.op
    if op not in _MAC_OPS:
        return None
    w = c.input(_WEIGHT_SLOT[op])
    bias = c.input(_BIAS_SLOT[op])
    if bias is not None:
        # "Bias tensors must be constant", "precision must be Int32 or Int64", "stored in the
        # channel axis", "Int64 bias must be smaller than ..."
        if not bias.is_constant:
            return "ethos-u-weights", f"bias {bias.name!r} is not constant"
        if bias.dtype not in ("int32", "int64"):
            return "ethos-u-weights", f"bias {bias.name!r} is {bias.dtype}"
        if len(bias.shape) != 1:
            return "ethos-u-weights", f"bias {bias.name!r} has shape {bias.shape}, not 1-D"
        if bias.dtype == "int64":
            limit = _BIAS_LIMIT[_family(target)]
            values = bias.numpy()
            if values is not None and values.size and int(abs(values).max()) >= limit:
                return "ethos-u-weights", f"int64 bias {bias.name!r} reaches {limit}"
    if w is None:
        return None
    if w.dtype not in ("int8", "uint8"):
        # "Weight tensors must be 8-bit precision"
        return "ethos-u-weights", f"weights {w.name!r} are {w.dtype}, not 8-bit"
    if op == "FULLY_CONNECTED" and len(w.shape) > 2 and any(d != 1 for d in w.shape[1:-1]):
        return "ethos-u-weights", f"weights {w.name!r} of shape {w.shape}, not O,1,..,1,I"
    ifm = c.ifm if op != "TRANSPOSE_CONV" else c.input(2)
    if w.is_constant and w.quantization is not None and not w.quantization.is_blockwise:
        limit = _WEIGHT_SUM_LIMIT
        if target == "ethos-u85" and ifm is not None and ifm.dtype == "int16":
            limit = _WEIGHT_SUM_LIMIT_U85_16
        total = _max_weight_sum(w)
        if total is not None and total > limit:
            return "ethos-u-weights", f"sum of |weights| per channel {total} > {limit}"
    return None


def _matmul(c: _Op, target: str) -> tuple[str, str] | None:
    """U55/U65 only: "IF Matmul or (FC with dynamic weights): Reduced axis must be less than or
    equal to 2^16", "... OFM depth must be less than or equal to 2^16", "... IFM precision
    must be Int8" (MatmulReducedAxis, MatmulOFMDepth, MatmulIFMPrecision in
    ethosu/regor/tflite/tflite_supported_operators_u55.cpp, upstream e4b56335, lines 206-296,
    added to FULLY_CONNECTED and BATCH_MATMUL at lines 708-713; the U85 table has none of
    them). An int16 BATCH_MATMUL stays on the CPU of an Ethos-U55."""
    op = c.op.op
    if target == "ethos-u85" or op not in ("BATCH_MATMUL", "FULLY_CONNECTED"):
        return None
    ifm, ofm = c.ifm, c.ofm
    if op == "FULLY_CONNECTED":
        w = c.input(_WEIGHT_SLOT[op])
        if w is None or w.is_constant:
            return None  # constant weights: not a matmul
    if ifm is None or ofm is None:
        return None
    shape = _shape(ifm)
    if op == "BATCH_MATMUL" and c.opts.adj_x and len(shape) >= 2:
        shape = (*shape[:-2], shape[-1], shape[-2])  # Permute(0x3201): the depth is H
    if shape and shape[-1] > 1 << 16:
        return "ethos-u-weights", f"matmul reduces an axis of {shape[-1]} > 65536"
    depth = _shape(ofm)[-1] if ofm.shape else 1
    if depth > 1 << 16:
        return "ethos-u-weights", f"matmul OFM depth {depth} > 65536"
    if ifm.dtype != "int8":
        return "ethos-u-weights", f"matmul input {ifm.name!r} is {ifm.dtype}, not int8"
    return None


def _max_weight_sum(w: Tensor) -> int | None:
    values = w.numpy()
    q = w.quantization
    if values is None or q is None or not values.size:
        return None
    import numpy as np

    v = values.astype(np.int64)
    zps = np.asarray(q.zero_points, dtype=np.int64)
    axis = q.quantized_dimension if len(zps) > 1 else 0
    v = np.moveaxis(v, axis, 0).reshape(v.shape[axis], -1)
    if len(zps) == v.shape[0]:
        v = v - zps.reshape(-1, 1)  # one zero point per output channel
    elif len(zps):
        v = v - zps[0]
    return int(np.abs(v).sum(axis=1).max())


def _params(c: _Op, target: str) -> tuple[str, str] | None:
    op = c.op.op
    for slot in _CONST_PARAMS.get(op, ()):
        t = c.input(slot)
        if t is None:
            continue
        if not c.constant(t):
            return "ethos-u-params", f"parameter tensor {t.name!r} is not constant"
        if op in ("PAD", "PADV2", "MIRROR_PAD") and t.dtype not in ("int32", "int64"):
            return "ethos-u-params", f"paddings {t.name!r} are {t.dtype}, not int32/int64"
    return None


def _rank(c: _Op, target: str) -> tuple[str, str] | None:
    # TRANSPOSE: "Tensor dimension must be <= 8"
    if c.op.op == "TRANSPOSE":
        ifm = c.ifm
        if ifm is not None and len(ifm.shape) > 8:
            return "ethos-u-rank", f"tensor {ifm.name!r} has rank {len(ifm.shape)} > 8"
    return None


def _op_limits(c: _Op, target: str) -> tuple[str, str] | None:
    op, ifm, ofm = c.op.op, c.ifm, c.ofm
    if ifm is None or ofm is None:
        return None
    shape = _shape(ifm)
    if op == "SOFTMAX":
        h, w = _hw(shape)
        if h * w >= 65536:  # "The product of IFM width and height must be less than 65536"
            return "ethos-u-op-limit", f"SOFTMAX over H*W = {h * w} >= 65536"
    elif op == "ARG_MAX" and target != "ethos-u85":
        # "IFM depth must be less than or equal to 127." / "along the depth axis."
        if shape and shape[-1] > 127:
            return "ethos-u-op-limit", f"ARG_MAX over depth {shape[-1]} > 127"
        axis = _values(c.input(1))
        if axis is not None and axis not in ([len(shape) - 1], [-1]):
            return "ethos-u-op-limit", f"ARG_MAX along axis {axis}, not the depth axis"
    elif op == "MEAN":
        return _mean(c, shape)
    elif op in ("SPLIT", "SPLIT_V"):
        n = c.opts.num_splits
        if n and n != len(c.op.outputs):  # "num_splits must match the number of outputs."
            return "ethos-u-op-limit", f"num_splits {n} != {len(c.op.outputs)} outputs"
    elif op in ("ELU", "GELU", "LOG"):
        # "IFM and OFM datatypes must match, and must be ..." / "shapes must match"
        allowed = {"ELU": ("int8",), "GELU": ("int8", "uint8"), "LOG": ("int8", "int16")}[op]
        if ifm.dtype != ofm.dtype or ifm.dtype not in allowed or _shape(ifm) != _shape(ofm):
            return "ethos-u-op-limit", f"{op} needs matching {'/'.join(allowed)} IFM and OFM"
    elif op == "RSQRT" and ifm.dtype not in ("int8", "int16"):
        return "ethos-u-op-limit", f"RSQRT input is {ifm.dtype}, not int8/int16"
    elif op in ("MAXIMUM", "MINIMUM"):
        # "Both Input quantization parameters must match OFM quantization parameters"
        for t in c.feature_maps()[:-1]:
            if _qparams(t) != _qparams(ofm):
                return "ethos-u-op-limit", f"{op} input {t.name!r} is quantized unlike the output"
    elif op in ("RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR"):
        return _resize(c, shape, _shape(ofm), target)
    return None


def _values(t: Tensor | None) -> list[int] | None:
    if t is None or not t.is_constant:
        return None
    arr = t.numpy()
    return None if arr is None else [int(x) for x in arr.reshape(-1)]


def _qparams(t: Tensor) -> tuple[tuple[float, ...], tuple[int, ...]] | None:
    q = t.quantization
    return None if q is None else (q.scales, q.zero_points)


def _mean(c: _Op, shape: tuple[int, ...]) -> tuple[str, str] | None:
    ifm = c.ifm
    assert ifm is not None
    if ifm.dtype not in ("int8", "uint8", "int16"):
        return "ethos-u-op-limit", f"MEAN input is {ifm.dtype}"
    if len(shape) == 4 and shape[0] != 1:
        return "ethos-u-op-limit", f"MEAN with batch {shape[0]}, not 1"
    axes = _values(c.input(1))
    if axes is None:
        return None
    axes = sorted({a % len(shape) for a in axes}) if shape else []
    reduced = math.prod(shape[a] for a in axes)
    limit = {"int8": 2**24, "uint8": 2**23, "int16": 2**16}[ifm.dtype]
    if reduced > limit:
        return "ethos-u-op-limit", f"MEAN reduces {reduced} elements > {limit}"
    if any(shape[a] >= 4096 for a in axes):
        return "ethos-u-op-limit", "MEAN reduces an axis of 4096 or more"
    if len(shape) - 1 in axes and len(shape) >= 3:
        h, w = _hw(shape)
        if 1 not in (h, w, shape[-1]):
            return "ethos-u-op-limit", "MEAN over depth needs one of H, W, C to be 1"
    return None


def _resize(
    c: _Op, ifm: tuple[int, ...], ofm: tuple[int, ...], target: str
) -> tuple[str, str] | None:
    o = c.opts
    if o.align_corners and o.half_pixel_centers:
        return "ethos-u-op-limit", "align_corners and half_pixel_centers both set"
    (ih, iw), (oh, ow) = _hw(ifm), _hw(ofm)
    if (ih == iw == 1) or (ih, iw) == (oh, ow):
        return None

    def factor(i: int, out: int) -> float:
        if o.align_corners:
            return (out - 1) / (i - 1) if i > 1 else float(out)
        return out / i

    fh, fw = factor(ih, oh), factor(iw, ow)
    if target == "ethos-u85":
        limit = 2048 if o.align_corners else 1024
        ok = all(f == int(f) and f <= limit and int(f) & (int(f) - 1) == 0 for f in (fh, fw))
        if c.op.op == "RESIZE_NEAREST_NEIGHBOR":
            ok = all(f <= limit for f in (fh, fw))
    else:
        allowed = (2.0,) if o.half_pixel_centers else (2.0, 4.0, 8.0)
        if fh == fw:
            ok = fh in allowed
        else:
            ok = (fh == 1 and ih == 1 and fw in allowed) or (fw == 1 and iw == 1 and fh in allowed)
    if not ok:
        return "ethos-u-op-limit", f"resize scale factors HxW {fh:g}x{fw:g} are not supported"
    return None


# Vela's order: generic constraints, then the operator's own
_CHECKS: tuple[_Check, ...] = (
    _dynamic,
    _dtype,
    _shapeless,
    _quantized,
    _per_axis,
    _zero_points,
    _activation,
    _int32_fm,
    _params,
    _stride,
    _pool_kernel,
    _weights,
    _rank,
    _op_limits,
    _matmul,
)


# ---------------------------------------------------------------- folding


def _folded_ops(sg: Subgraph) -> tuple[set[int], set[int]]:
    """Operators (indices) and tensors Vela turns into constants once the batch is 1."""
    ops: set[int] = set()
    tensors: set[int] = set()
    for i, op in enumerate(sg.operators):
        if op.op not in _FOLDABLE:
            continue
        ins = [t for k in op.inputs if (t := sg.tensor(k)) is not None]
        outs = [t for k in op.outputs if (t := sg.tensor(k)) is not None]
        if op.op == "SHAPE":
            src = ins[0] if ins else None
            ok = src is not None and all(d >= 0 for d in src.shape_signature[1:])
        else:
            ok = bool(ins) and all(t.is_constant or t.index in tensors for t in ins)
            # only integer shape arithmetic, not a constant feature map
            ok = ok and all(t.dtype in ("int32", "int64") for t in outs)
        if ok:
            ops.add(i)
            tensors.update(t.index for t in outs)
    return ops, tensors


# ---------------------------------------------------------------- placement


def _verdict(c: _Op, target: str) -> tuple[str, str] | None:
    table = _U85_OPS if target == "ethos-u85" else _U55_OPS
    name = c.op.op
    if name not in table:
        what = f"CUSTOM {c.op.custom_code!r}" if c.op.is_custom else name
        return "ethos-u-unsupported-op", f"{what} is a CPU-only operator for Vela"
    for check in _CHECKS:
        found = check(c, target)
        if found is not None:
            return found
    return None


def _placements(model: Model, target: str) -> Iterator[Placement]:
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}, expected one of {', '.join(TARGETS)}")
    for s, sg in enumerate(model.subgraphs):
        folded_ops, folded = _folded_ops(sg)
        placed: list[Placement] = []
        for i, op in enumerate(sg.operators):
            out = output_name(sg, op)
            if i in folded_ops:
                reason = "folded by Vela into a constant (shape arithmetic, batch fixed to 1)"
                placed.append(Placement(s, i, op.op, out, "target", reason, ""))
                continue
            if op.is_custom and op.custom_code == "ethos-u":
                # a model Vela already compiled: Vela passes its NPU operator on as it is
                placed.append(Placement(s, i, op.op, out, "target"))
                continue
            c = _Op(sg, op, _Options.of(op), folded)
            found = _verdict(c, target)
            if found is None:
                placed.append(Placement(s, i, op.op, out, "target"))
            else:
                rule, reason = found
                placed.append(Placement(s, i, op.op, out, "cpu", reason, rule))
        placed = _unfold_for_cpu(sg, placed, folded, target)
        if target == "ethos-u85":
            placed = _absorb_var_handles(sg, placed)
        yield from placed


def _unfold_for_cpu(
    sg: Subgraph, placed: list[Placement], folded: set[int], target: str
) -> list[Placement]:
    """Folded shape arithmetic whose values only CPU operators read stays on the CPU: Vela
    folds it for the NPU operators it feeds (a float model's dynamic-batch Flatten, SHAPE ->
    STRIDED_SLICE -> PACK -> a float RESHAPE, stays whole on the CPU; measured with Vela 5.2).
    Such an operator is then judged as any other, its inputs no longer constants; the rule
    Vela names comes from that (SHAPE: an unsupported type; PACK: a shapeless tensor)."""
    readers: dict[int, list[int]] = {}
    for i, op in enumerate(sg.operators):
        for k in op.inputs:
            if k >= 0:
                readers.setdefault(k, []).append(i)
    out = list(placed)
    unfolded: list[int] = []
    for i in range(len(out) - 1, -1, -1):  # readers come after writers
        if not _is_folded(out[i]):
            continue
        users = [j for k in sg.operators[i].outputs for j in readers.get(k, [])]
        if users and all(out[j].on == "cpu" for j in users):
            unfolded.append(i)
            out[i] = replace(out[i], on="cpu")  # judged below, once all are known
    if not unfolded:
        return out
    still = folded - {k for i in unfolded for k in sg.operators[i].outputs}
    for i in unfolded:
        op = sg.operators[i]
        found = _verdict(_Op(sg, op, _Options.of(op), still), target)
        rule, reason = found or (
            "ethos-u-cpu-shape",
            "shape arithmetic read only by CPU operators: Vela leaves it on the CPU",
        )
        out[i] = replace(out[i], on="cpu", reason=reason, rule=rule)
    return out


def _absorb_var_handles(sg: Subgraph, placed: list[Placement]) -> list[Placement]:
    """Ethos-U85 keeps a variable on the NPU: the VAR_HANDLE whose every reader and writer
    (READ_VARIABLE / ASSIGN_VARIABLE) runs there leaves Vela's model, like a folded constant."""
    users: dict[int, list[bool]] = {}
    for p, op in zip(placed, sg.operators, strict=True):
        for k in op.inputs:
            users.setdefault(k, []).append(p.on == "target")
    out = []
    for p, op in zip(placed, sg.operators, strict=True):
        seen = [u for k in op.outputs for u in users.get(k, [])]
        if op.op == "VAR_HANDLE" and seen and all(seen):
            reason = "folded by Vela into the NPU's variable (its readers and writers run there)"
            p = Placement(p.subgraph, p.operator, p.op, p.output, "target", reason, "")
        out.append(p)
    return out


def place(model: Model, target: str) -> list[Placement]:
    """Where Vela 5.2.0 runs each operator of ``model`` on ``target``.

    Args:
        model: a loaded model (``tflkit.load``).
        target: ``"ethos-u55"``, ``"ethos-u65"`` or ``"ethos-u85"``.

    Returns:
        One Placement per operator of every subgraph, in order: ``on="target"`` (the NPU, or
        folded away: then the reason says so), or ``on="cpu"`` with the rule and Vela's reason.

    Raises:
        ValueError: an unknown target.

    Example:
        >>> [p.on for p in place(tflkit.load("mlp_int8.tflite"), "ethos-u55")]
        ['target', 'target', 'target']
    """
    return list(_placements(model, target))


def _is_folded(p: Placement) -> bool:
    return p.on == "target" and p.reason.startswith("folded by Vela")


def segments(model: Model, placement: tuple[Placement, ...] | list[Placement]) -> int:
    """The ``ethos-u`` custom operators Vela writes: in each subgraph, runs of NPU operators
    in the order Regor schedules them (``_regor_order``); folded operators are constants.

    Regor packs consecutive NPU operations of its scheduled order into one ``ethos-u``
    operator (GraphPacking::Process, ethosu/regor/compiler/graph_packing.cpp, upstream
    e4b56335, lines 41-90). A subgraph whose order cannot be worked out that way (a resource
    variable, an operator no output depends on) is counted in file order.
    """
    runs = 0
    for s, sg in enumerate(model.subgraphs):
        mine = sorted((p for p in placement if p.subgraph == s), key=lambda p: p.operator)
        if [p.operator for p in mine] != list(range(len(sg.operators))):
            runs += target_runs(mine, _is_folded)
            continue
        order = _regor_order(sg, mine)
        if order is None:
            runs += target_runs(mine, _is_folded) + _concat_writes(model, mine, placement)
            continue
        previous = False
        for npu in order:
            runs += npu and not previous
            previous = npu
    return runs


@dataclass(slots=True)
class _Node:
    """One operation of Regor's graph: on the NPU or not, tensors read and written."""

    npu: bool
    ins: tuple[int, ...]
    outs: tuple[int, ...]


def _regor_order(sg: Subgraph, placed: list[Placement]) -> list[bool] | None:
    """Whether each operation Regor schedules runs on the NPU, in its scheduled order.

    The graph: folded operators are constants; an NPU CONCATENATION or PACK is one write per
    input into the output tensor, each its own writer; an operator without outputs writes a
    placeholder tensor added to the graph's outputs after the others (TfLiteReader,
    ethosu/regor/tflite/tflite_reader.cpp, upstream e4b56335, lines 332-339 and 369-388).
    The order is then SchedulerPacking::Process's (ethosu/regor/compiler/scheduler_packing.cpp
    lines 113-133): Graph::TraverseGraphFromEnd (compiler/graph.hpp lines 156-240), a
    right-to-left reverse post-order from the outputs (writers of a tensor left to right when
    the subgraph has variable tensors), then ReorderOperations (scheduler_packing.cpp lines
    625-703): CPU operations that read only graph inputs, constants or such operations go
    first, CPU operations whose every output is a graph output nobody reads go last, and each
    other CPU operation, from the last, moves later past the NPU operations it does not feed.
    None when an operator does not lead to an output (Regor drops it: the model is not what
    Vela compiles)."""
    writers: dict[int, list[int]] = {}
    nodes: list[_Node] = []
    outputs = list(sg.outputs)
    placeholder = -1
    for p, op in zip(placed, sg.operators, strict=True):
        if _is_folded(p):
            continue
        npu = p.on == "target"
        ins = tuple(k for k in op.inputs if k >= 0)
        outs = tuple(k for k in op.outputs if k >= 0)
        if not outs:
            outs = (placeholder,)
            outputs.append(placeholder)
            placeholder -= 1
        parts = [(k,) for k in ins] if npu and op.op in ("CONCATENATION", "PACK") else [ins]
        for part in parts:
            nodes.append(_Node(npu, part, outs))
            for k in outs:
                writers.setdefault(k, []).append(len(nodes) - 1)
    _convert_bools(sg, nodes, writers)
    left_to_right = any(t.is_variable for t in sg.tensors)

    def written_by(k: int) -> list[int]:
        found = writers.get(k, [])
        return found[::-1] if left_to_right else found

    order: list[int] = []
    seen: set[int] = set()
    stack = [(False, w) for k in outputs for w in written_by(k)]
    while stack:
        done, n = stack.pop()
        if done:
            order.append(n)
        elif n not in seen:
            seen.add(n)
            stack.append((True, n))
            stack += [(False, w) for k in nodes[n].ins for w in written_by(k) if w not in seen]
    if len(order) != len(nodes):
        return None
    return [nodes[n].npu for n in _reorder(sg, nodes, order, set(outputs))]


def _convert_bools(sg: Subgraph, nodes: list[_Node], writers: dict[int, list[int]]) -> None:
    """Regor keeps booleans as -1 / 0: it converts each bool graph input (not constant, with a
    shape) with an NPU NOT_EQUAL 0 before its readers, and each bool graph output with an NPU
    AND 1 after its writers, whose own output is renamed ``<name>_int8``
    (GraphIrOptimiser::ConvertBool8Tensors, ethosu/regor/compiler/graphir_optimiser.cpp,
    upstream e4b56335, lines 93-153). Ethos-U85 runs those; on Ethos-U55 / U65 Vela 5.2.0
    stops there ("Non-passthrough operation (NotEqual) could not run on NPU")."""
    fresh = -1 - len(sg.tensors) - len(nodes)  # below the placeholders' indices
    for k in sg.inputs:
        t = sg.tensor(k)
        if t is None or t.dtype != "bool" or t.is_constant or not t.shape:
            continue
        inner, fresh = fresh, fresh - 1
        for node in nodes:
            node.ins = tuple(inner if x == k else x for x in node.ins)
        nodes.append(_Node(True, (k,), (inner,)))
        writers[inner] = [len(nodes) - 1]
    for k in sg.outputs:
        t = sg.tensor(k)
        if t is None or t.dtype != "bool" or not t.shape or not writers.get(k):
            continue
        inner, fresh = fresh, fresh - 1
        for w in writers[k]:
            nodes[w].outs = tuple(inner if x == k else x for x in nodes[w].outs)
        writers[inner] = writers[k]
        nodes.append(_Node(True, (inner,), (k,)))
        writers[k] = [len(nodes) - 1]


def _reorder(sg: Subgraph, nodes: list[_Node], order: list[int], outputs: set[int]) -> list[int]:
    """SchedulerPacking::ReorderOperations (scheduler_packing.cpp, upstream e4b56335, lines
    625-703, with AllInputsAreGraphInputs, AllInputsProducersAreEarlyOps,
    AllOutputsAreGraphOutputs and IsConnected at lines 40-100)."""
    graph_inputs = set(sg.inputs)
    producers: dict[int, set[int]] = {}
    readers: set[int] = set()
    for n, node in enumerate(nodes):
        readers.update(node.ins)
        for k in node.outs:
            producers.setdefault(k, set()).add(n)

    def plain(k: int) -> bool:
        t = sg.tensor(k)
        return k in graph_inputs or (t is not None and t.is_constant) or k not in producers

    early: list[int] = []
    late: list[int] = []
    other: list[int] = []
    is_early: set[int] = set()
    for n in order:
        node = nodes[n]
        if not node.npu and (
            all(plain(k) for k in node.ins)
            or all(producers.get(k, set()) <= is_early for k in node.ins)
        ):
            early.append(n)
            is_early.add(n)
        elif not node.npu and all(k in outputs and k not in readers for k in node.outs):
            late.append(n)
        else:
            other.append(n)
    for i in range(len(other) - 1, -1, -1):
        if nodes[other[i]].npu:
            continue
        j = i
        while j + 1 < len(other):
            later = nodes[other[j + 1]]
            if not later.npu or set(nodes[other[j]].outs) & set(later.ins):
                break
            other[j], other[j + 1] = other[j + 1], other[j]
            j += 1
    return early + other + late


def _concat_writes(
    model: Model, mine: list[Placement], placement: tuple[Placement, ...] | list[Placement]
) -> int:
    """Vela lowers a CONCATENATION (and PACK) into one NPU write per input, each scheduled
    after the operator that makes that input: when k > 1 of its inputs come from different
    CPU operators, k - 1 of those writes sit between CPU operators, each one more segment."""
    on_cpu = {(p.subgraph, p.operator) for p in placement if p.on == "cpu"}
    return sum(
        max(len(_cpu_producers(model, p, on_cpu)) - 1, 0)
        for p in mine
        if p.on == "target" and p.op in ("CONCATENATION", "PACK") and not _is_folded(p)
    )


def _cpu_producers(model: Model, p: Placement, on_cpu: set[tuple[int, int]]) -> set[int]:
    """The CPU operators (indices) whose outputs the operator of ``p`` reads."""
    if not 0 <= p.subgraph < len(model.subgraphs):
        return set()
    sg = model.subgraphs[p.subgraph]
    if not 0 <= p.operator < len(sg.operators):
        return set()
    wanted = set(sg.operators[p.operator].inputs)
    return {
        i
        for i, op in enumerate(sg.operators[: p.operator])
        if (p.subgraph, i) in on_cpu and wanted.intersection(op.outputs)
    }
