"""Model checks: profiles (is this model fully integer?) and conformance rules.

Everything here works on a ``tflkit.Model``: no file access, no runtime. A profile's verdict
rests on its own rules (violations); the conformance rules from the TFLite quantization
specification are warnings unless ``strict=True``. Every rule has a stable kebab-case id, listed
in ``RULES`` with the source it comes from.

Sources: [S] tensorflow ``tensorflow/lite/g3doc/performance/quantization_spec.md``;
[P] tensorflow ``tensorflow/lite/tools/optimize/operator_property.cc``;
[K] ``tensorflow/lite/kernels/kernel_util.cc``; [M] tflite-micro kernels
(``softmax_common.cc``, ``activations_common.cc``, ``concatenation.cc``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence

from tflkit import dtypes
from tflkit.kinds import kind_text, quantization_kind
from tflkit.loader import resolve
from tflkit.model import (
    CastDequantization,
    Model,
    ModelLike,
    Operator,
    Subgraph,
    Tensor,
    block_scale_tensors,
    blockwise_text,
    cast_dequantized,
    unsupported_blockwise,
)
from tflkit.report import Finding, Report, Rule

__all__ = ["EVERY_PROFILE", "PROFILES", "RULES", "check"]

#: Rule.profile of the rules every profile applies.
EVERY_PROFILE = "every"

#: The profiles ``check()`` knows.
PROFILES = ("int8", "int16x8", "float16")


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        # -- profile rules: the verdict
        Rule(
            "int8-io-dtype",
            "int8",
            "inputs and outputs of subgraph 0 are int8 "
            "(uint8 too with allow_uint8_io) [S: int8 is the quantized type; edgetpu, TFLM]",
        ),
        Rule(
            "io-per-tensor",
            "int8",
            "quantized inputs and outputs have one scale and "
            "zero point [S: activations are per-tensor]",
        ),
        Rule(
            "builtin-ops-only",
            "int8",
            "every operator is a TFLite builtin: no CUSTOM, "
            "no Flex (SELECT_TF_OPS) op [TFLITE_BUILTINS_INT8]",
        ),
        Rule(
            "no-float-tensors",
            "int8",
            "no non-constant tensor has a floating-point "
            "dtype (float16/32/64, bfloat16, complex) [TFLITE_BUILTINS_INT8]",
        ),
        Rule(
            "int16-activations",
            "int16x8",
            "quantized activations are int16 with zero "
            "point 0; no float activations [S: 16x8 quantization]",
        ),
        Rule("int8-weights", "int16x8", "quantized constant weights are int8 [S: 16x8]"),
        Rule(
            "float16-weights",
            "float16",
            "floating-point weights are stored as float16 "
            "[TFLiteConverter supported_types=[tf.float16]]",
        ),
        Rule(
            "float-io",
            "float16",
            "inputs and outputs of subgraph 0 are float32 [float16 quantization keeps float I/O]",
        ),
        Rule(
            "no-int8-weights",
            "float16",
            "no int8 quantized weights: that is dynamic range quantization, not float16 "
            "[TFLite post-training quantization guide]",
        ),
        Rule(
            "blockwise-ops",
            EVERY_PROFILE,
            "blockwise-quantized tensors feed only the weights of FULLY_CONNECTED (int4) and "
            "EMBEDDING_LOOKUP, the kernels that read them; no multi-axis quantization "
            "[LiteRT tflite/kernels: the int8 ADD of a blockwise constant aborts the runtime; "
            "blockwise int8 FULLY_CONNECTED weights compute zeros]",
        ),
        # -- conformance warnings (--strict makes them violations)
        Rule("scale-positive-finite", None, "every scale is positive and finite [S, K]"),
        Rule("zero-point-in-range", None, "every zero point lies in its dtype's range [S]"),
        Rule(
            "weight-symmetric",
            None,
            "CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and "
            "TRANSPOSE_CONV weights are int8 (or int4) with zero point 0 [S, P symmetric]",
        ),
        Rule("weight-range", None, "symmetric int8 weights avoid -128: range [-127, 127] [S]"),
        Rule(
            "conv-weight-axis",
            None,
            "CONV_2D per-channel weights are quantized along dimension 0 [S, P]",
        ),
        Rule(
            "depthwise-weight-axis",
            None,
            "DEPTHWISE_CONV_2D per-channel weights are quantized along dimension 3 [S, P]",
        ),
        Rule(
            "transpose-conv-weight-axis",
            None,
            "TRANSPOSE_CONV per-channel weights are quantized along dimension 0 [P]",
        ),
        Rule(
            "fc-weight-axis",
            None,
            "FULLY_CONNECTED per-channel weights are quantized along "
            "dimension 0 (the spec says per-tensor; converters emit per-axis 0) [S, measured]",
        ),
        Rule(
            "per-channel-count",
            None,
            "a per-channel tensor has one scale and zero point "
            "per entry of its quantized dimension [K]",
        ),
        Rule(
            "bias-dtype",
            None,
            "conv/depthwise/fully-connected/transpose-conv bias of int8 "
            "ops is int32 (int64 for 16x8) with zero point 0 [S]",
        ),
        Rule(
            "bias-scale",
            None,
            "bias scale = input scale x weight scale (per channel); "
            "kernels reject a mismatch over 2% of the output scale [S, K]",
        ),
        Rule(
            "activation-per-tensor",
            None,
            "int8/int16 activations have exactly one scale and zero point [S]",
        ),
        Rule(
            "same-scale",
            None,
            "pooling, concatenation, reshape, resize, pad, gather, "
            "transpose, slice, split, pack, min/max ops keep the input's scale and zero point "
            "on their output [S, P, M]",
        ),
        Rule(
            "softmax-output",
            None,
            "SOFTMAX output is (1/256, -128) for int8, (1/256, 0) "
            "for uint8, (1/32768, 0) for int16 [S, P, M]",
        ),
        Rule(
            "logistic-output",
            None,
            "LOGISTIC output is (1/256, -128) for int8, (1/256, 0) "
            "for uint8, (1/32768, 0) for int16 [S, P]",
        ),
        Rule(
            "tanh-output",
            None,
            "TANH output is (1/128, 0) for int8, (1/128, 128) for "
            "uint8, (1/32768, 0) for int16 [S, P]",
        ),
        Rule("l2norm-output", None, "L2_NORMALIZATION output is (1/128, 0) for int8 [S, P]"),
        Rule("log-softmax-output", None, "LOG_SOFTMAX output is (16/256, 127) for int8 [S, P]"),
        Rule("int16-symmetric", None, "int16 activations have zero point 0 [M]"),
        Rule(
            "uint8-legacy",
            None,
            "uint8 activations inside the graph come from legacy "
            "(TOCO) quantization; current tooling quantizes to int8 [S]",
        ),
    )
}

# Operators whose weights are input 1 and whose bias is the given input.
_WEIGHT_OPS = {"CONV_2D": 2, "DEPTHWISE_CONV_2D": 2, "FULLY_CONNECTED": 2, "TRANSPOSE_CONV": 3}
_WEIGHT_AXIS = {
    "CONV_2D": ("conv-weight-axis", 0),
    "DEPTHWISE_CONV_2D": ("depthwise-weight-axis", 3),
    "TRANSPOSE_CONV": ("transpose-conv-weight-axis", 0),
    "FULLY_CONNECTED": ("fc-weight-axis", 0),
}
# Ops whose output must keep the quantization of (every) data input [S, P].
_SAME_SCALE = frozenset(
    [
        "AVERAGE_POOL_2D",
        "MAX_POOL_2D",
        "CONCATENATION",
        "RESHAPE",
        "RESIZE_BILINEAR",
        "RESIZE_NEAREST_NEIGHBOR",
        "SPACE_TO_DEPTH",
        "SPACE_TO_BATCH_ND",
        "BATCH_TO_SPACE_ND",
        "PAD",
        "PADV2",
        "MIRROR_PAD",
        "GATHER",
        "TRANSPOSE",
        "SQUEEZE",
        "SLICE",
        "STRIDED_SLICE",
        "SPLIT",
        "SPLIT_V",
        "PACK",
        "UNPACK",
        "MAXIMUM",
        "MINIMUM",
        "REDUCE_MAX",
        "REDUCE_MIN",
    ]
)
# Fixed output quantization (scale, zero point) by op and output dtype [S, P, M].
_FIXED_OUTPUT: dict[str, tuple[str, dict[str, tuple[float, int]]]] = {
    "SOFTMAX": (
        "softmax-output",
        {"int8": (1 / 256, -128), "uint8": (1 / 256, 0), "int16": (1 / 32768, 0)},
    ),
    "LOGISTIC": (
        "logistic-output",
        {"int8": (1 / 256, -128), "uint8": (1 / 256, 0), "int16": (1 / 32768, 0)},
    ),
    "TANH": (
        "tanh-output",
        {"int8": (1 / 128, 0), "uint8": (1 / 128, 128), "int16": (1 / 32768, 0)},
    ),
    "L2_NORMALIZATION": ("l2norm-output", {"int8": (1 / 128, 0), "uint8": (1 / 128, 128)}),
    "LOG_SOFTMAX": ("log-softmax-output", {"int8": (16 / 256, 127), "uint8": (16 / 256, 255)}),
}
# Tolerances (our choice): scales are stored as float32, so compare relatively.
_SCALE_RTOL = 1e-3  # fixed output scales (tflite-micro allows 0.1%)
_BIAS_RTOL = 1e-4  # bias scale vs input x weight scale
_BIAS_KERNEL_LIMIT = 0.02  # kernel_util.cc: |in*w - bias| / output_scale must stay below this


# ---------------------------------------------------------------- helpers


def _t(t: Tensor) -> str:
    return f"tensor {t.index} {t.name!r}"


def _op(op: Operator) -> str:
    return f"operator {op.index} ({op.display_name})"


def _q(t: Tensor) -> str:
    q = t.quantization
    if q is None:
        return "no quantization"
    if len(q.scales) == 1 and len(q.zero_points) == 1:
        return f"scale {q.scales[0]:.6g}, zero point {q.zero_points[0]}"
    return f"{len(q.scales)} scales, {len(q.zero_points)} zero points"


def _close(a: float, b: float, rtol: float) -> bool:
    return math.isfinite(a) and abs(a - b) <= rtol * abs(b)


# ---------------------------------------------------------------- profile rules


def _io(model: Model) -> Iterator[tuple[str, Tensor]]:
    sg = model.primary
    for n, i in enumerate(sg.inputs):
        yield f"input {n}", sg.tensors[i]
    for n, i in enumerate(sg.outputs):
        yield f"output {n}", sg.tensors[i]


def _int8_profile(model: Model, allow_uint8_io: bool) -> Iterator[Finding]:
    allowed = ("int8", "uint8") if allow_uint8_io else ("int8",)
    want = " or ".join(allowed)
    for role, t in _io(model):
        if t.dtype not in allowed:
            hint = " (pass --allow-uint8-io to accept uint8)" if t.dtype == "uint8" else ""
            inner = model.primary.edge_quantization(t.index)
            if inner is not None:
                setting = (
                    "inference_input_type" if role.startswith("in") else "inference_output_type"
                )
                hint = (
                    f"; quantized to {inner.dtype} inside the graph (tflkit inspect): set "
                    f"TFLiteConverter.{setting} = tf.int8"
                )
            yield Finding(
                "int8-io-dtype",
                f"subgraph 0 {role}, {_t(t)}: dtype is {t.dtype}, expected {want}{hint}",
                0,
                t.index,
            )
        elif t.quantization is None or len(t.quantization.scales) != 1:
            got = "no scale" if t.quantization is None else f"{len(t.quantization.scales)} scales"
            yield Finding(
                "io-per-tensor",
                f"subgraph 0 {role}, {_t(t)}: has {got}, expected one scale and zero point",
                0,
                t.index,
            )
    yield from _builtin_ops(model)
    yield from _no_float(model, "no-float-tensors")
    yield from _blockwise_ops(model)


def _blockwise_ops(model: Model) -> Iterator[Finding]:
    for sg in model.subgraphs:
        for op, t, why in unsupported_blockwise(sg):
            yield Finding(
                "blockwise-ops",
                f"subgraph {sg.index} {_op(op)}: input {_t(t)} is quantized "
                f"{blockwise_text(t)}; {why}",
                sg.index,
                t.index,
                op.index,
            )


def _builtin_ops(model: Model) -> Iterator[Finding]:
    for sg in model.subgraphs:
        for op in sg.operators:
            if op.is_custom:
                kind = "a Flex (SELECT_TF_OPS) op" if op.is_flex else "a custom op"
                yield Finding(
                    "builtin-ops-only",
                    f"subgraph {sg.index} {_op(op)}: is {kind}, expected a TFLite builtin",
                    sg.index,
                    None,
                    op.index,
                )


def _no_float(model: Model, rule: str) -> Iterator[Finding]:
    for sg in model.subgraphs:
        for t in sg.tensors:
            if not t.is_constant and t.dtype in dtypes.FLOAT_NAMES:
                yield Finding(
                    rule,
                    f"subgraph {sg.index} {_t(t)}: is {t.dtype}, expected an integer type",
                    sg.index,
                    t.index,
                )


def _int16x8_profile(model: Model) -> Iterator[Finding]:
    for sg in model.subgraphs:
        for t in sg.tensors:
            where = f"subgraph {sg.index} {_t(t)}"
            if t.is_constant:
                if t.is_quantized_int and t.dtype not in ("int8", "int32", "int64", "int4"):
                    yield Finding(
                        "int8-weights",
                        f"{where}: constant is {t.dtype}, expected int8 weights",
                        sg.index,
                        t.index,
                    )
                continue
            if t.dtype in dtypes.FLOAT_NAMES:
                yield Finding(
                    "int16-activations",
                    f"{where}: is {t.dtype}, expected int16 activations",
                    sg.index,
                    t.index,
                )
            elif t.is_quantized_int and t.dtype not in ("int16", "int32", "int64"):
                yield Finding(
                    "int16-activations",
                    f"{where}: quantized activation is {t.dtype}, expected int16",
                    sg.index,
                    t.index,
                )
            elif t.dtype == "int16" and t.quantization and any(t.quantization.zero_points):
                yield Finding(
                    "int16-activations",
                    f"{where}: int16 activation has zero point "
                    f"{t.quantization.zero_points[0]}, expected 0",
                    sg.index,
                    t.index,
                )
    yield from _builtin_ops(model)
    yield from _blockwise_ops(model)


def _int8_weights_are(model: Model) -> str:
    """What int8 weights mean in this model, for the float16 profile's findings."""
    kind = quantization_kind(model)
    if kind == "dynamic-range":
        return "dynamic range quantized weights"
    if kind.startswith("weight-only"):
        return "weight-only quantized weights"
    if kind in ("int8", "int16x8"):
        return f"weights of a fully integer ({kind}) model"
    if _has_quantized_activations(model):
        return "weights of an integer-quantized graph"
    return "quantized weights"


def _cast_text(sg: Subgraph, c: CastDequantization) -> str:
    """``CAST operator 1, MUL operator 3 by tensor 2``: how the graph dequantizes a constant."""
    return (
        f"CAST operator {c.cast_operator}, MUL operator {c.mul_operator} by tensor {c.scale_tensor}"
    )


def _has_quantized_activations(model: Model) -> bool:
    return any(
        not t.is_constant and t.is_quantized_int for sg in model.subgraphs for t in sg.tensors
    )


def _float16_profile(model: Model) -> Iterator[Finding]:
    int8_weights = _int8_weights_are(model)
    for role, t in _io(model):
        if t.dtype != "float32":
            yield Finding(
                "float-io",
                f"subgraph 0 {role}, {_t(t)}: dtype is {t.dtype}, expected float32",
                0,
                t.index,
            )
    f16 = 0
    for sg in model.subgraphs:
        block_scales = block_scale_tensors(sg)
        cast = cast_dequantized(sg)
        for t in sg.tensors:
            if not t.is_constant or t.index in block_scales:
                continue
            where = f"subgraph {sg.index} {_t(t)}"
            if t.index in cast:
                yield Finding(
                    "no-int8-weights",
                    f"{where}: {t.dtype} weight-only quantized weights, dequantized in the graph "
                    f"({_cast_text(sg, cast[t.index])}), expected float16 weights",
                    sg.index,
                    t.index,
                )
            elif t.quantization is not None and t.quantization.is_blockwise:
                yield Finding(
                    "no-int8-weights",
                    f"{where}: {t.dtype} weights quantized blockwise (block "
                    f"{t.quantization.block_size}), expected float16 weights",
                    sg.index,
                    t.index,
                )
            elif t.dtype == "float16":
                f16 += 1
            elif t.dtype == "float32" and t.buffer_size >= 1024:
                yield Finding(
                    "float16-weights",
                    f"{where}: float32 constant of {t.buffer_size} bytes, expected float16",
                    sg.index,
                    t.index,
                )
            elif t.dtype in ("int8", "int4") and t.quantization is not None:
                yield Finding(
                    "no-int8-weights",
                    f"{where}: {t.dtype} {int8_weights}, expected float16 weights",
                    sg.index,
                    t.index,
                )
    if f16 == 0:
        yield Finding("float16-weights", "the model has no float16 constant at all", None)
    yield from _blockwise_ops(model)


# ---------------------------------------------------------------- conformance rules


def _conformance(model: Model) -> Iterator[Finding]:
    for sg in model.subgraphs:
        yield from _tensor_rules(sg)
        for op in sg.operators:
            yield from _op_rules(sg, op)


def _tensor_rules(sg: Subgraph) -> Iterator[Finding]:
    io = set(sg.inputs) | set(sg.outputs)
    for t in sg.tensors:
        q = t.quantization
        if q is None:
            continue
        where = f"subgraph {sg.index} {_t(t)}"
        bad = [s for s in q.scales if not (math.isfinite(s) and s > 0)]
        if bad and t.dtype not in dtypes.FLOAT_NAMES:
            yield Finding(
                "scale-positive-finite",
                f"{where}: scale {bad[0]}, expected a positive finite number",
                sg.index,
                t.index,
            )
        qrange = dtypes.INTEGER_RANGES.get(t.dtype)
        if qrange is not None:
            out = [z for z in q.zero_points if not qrange[0] <= z <= qrange[1]]
            if out:
                yield Finding(
                    "zero-point-in-range",
                    f"{where}: zero point {out[0]} outside {t.dtype} range "
                    f"[{qrange[0]}, {qrange[1]}]",
                    sg.index,
                    t.index,
                )
        if not q.is_blockwise and (q.per_channel or len(q.zero_points) > 1):
            n = (
                t.shape[q.quantized_dimension]
                if 0 <= q.quantized_dimension < len(t.shape)
                else None
            )
            if n is None or not len(q.scales) == len(q.zero_points) == n:
                yield Finding(
                    "per-channel-count",
                    f"{where}: {len(q.scales)} scales and {len(q.zero_points)} zero points on "
                    f"dimension {q.quantized_dimension} of shape {list(t.shape)}, expected "
                    f"{n if n is not None else 'a valid dimension'} of each",
                    sg.index,
                    t.index,
                )
        if t.is_constant or t.dtype not in ("int8", "uint8", "int16"):
            continue
        if len(q.scales) != 1:
            yield Finding(
                "activation-per-tensor",
                f"{where}: activation has {len(q.scales)} scales, expected one",
                sg.index,
                t.index,
            )
        if t.dtype == "int16" and any(q.zero_points):
            yield Finding(
                "int16-symmetric",
                f"{where}: int16 activation has zero point {q.zero_points[0]}, expected 0",
                sg.index,
                t.index,
            )
        if t.dtype == "uint8" and t.index not in io:
            yield Finding(
                "uint8-legacy",
                f"{where}: uint8 activation inside the graph (legacy quantization); "
                "current converters quantize to int8",
                sg.index,
                t.index,
            )


def _op_rules(sg: Subgraph, op: Operator) -> Iterator[Finding]:
    where = f"subgraph {sg.index} {_op(op)}"
    ins = [sg.tensor(i) for i in op.inputs]
    outs = [sg.tensor(i) for i in op.outputs]
    if op.op in _WEIGHT_OPS:
        yield from _weight_rules(sg, op, where, ins, outs)
    if op.op in _SAME_SCALE and outs and outs[0] is not None and outs[0].is_quantized_int:
        out = outs[0]
        data_inputs: Sequence[Tensor | None] = ins if op.op == "CONCATENATION" else ins[:1]
        for t in data_inputs:
            if t is None or t.is_constant or not t.is_quantized_int:
                continue
            assert t.quantization is not None and out.quantization is not None
            if (t.quantization.scales, t.quantization.zero_points) != (
                out.quantization.scales,
                out.quantization.zero_points,
            ):
                yield Finding(
                    "same-scale",
                    f"{where}: input {_t(t)} has {_q(t)} but output {_t(out)} has {_q(out)}, "
                    "expected the same",
                    sg.index,
                    out.index,
                    op.index,
                )
    fixed = _FIXED_OUTPUT.get(op.op)
    if fixed and outs and outs[0] is not None and outs[0].is_quantized_int:
        rule, table = fixed
        out = outs[0]
        want = table.get(out.dtype)
        if (
            op.op == "SOFTMAX"
            and ins
            and ins[0] is not None
            and (ins[0].dtype, out.dtype)
            == (
                "int8",
                "int16",
            )
        ):
            want = (1 / 65536, -32768)
        q = out.quantization
        assert q is not None
        if want is not None and (
            len(q.scales) != 1
            or not _close(q.scales[0], want[0], _SCALE_RTOL)
            or q.zero_points[:1] != (want[1],)
        ):
            yield Finding(
                rule,
                f"{where}: output {_t(out)} has {_q(out)}, expected scale {want[0]:.6g} and "
                f"zero point {want[1]} for {out.dtype}",
                sg.index,
                out.index,
                op.index,
            )


def _weight_rules(
    sg: Subgraph,
    op: Operator,
    where: str,
    ins: list[Tensor | None],
    outs: list[Tensor | None],
) -> Iterator[Finding]:
    w = ins[1] if len(ins) > 1 else None
    if w is None or w.quantization is None or w.dtype in dtypes.FLOAT_NAMES:
        return
    wq = w.quantization
    if w.dtype not in ("int8", "int4") or any(wq.zero_points):
        zps = sorted(set(wq.zero_points))
        yield Finding(
            "weight-symmetric",
            f"{where}: weights {_t(w)} are {w.dtype} with zero points {zps[:4]}, "
            "expected int8 with zero point 0",
            sg.index,
            w.index,
            op.index,
        )
    elif w.dtype == "int8" and w.is_constant and not w.is_sparse:
        try:
            low = int(w.numpy().min()) if w.buffer_size else 0
        except Exception:  # data we cannot view is judged by other rules
            low = 0
        if low == -128:
            yield Finding(
                "weight-range",
                f"{where}: weights {_t(w)} hold -128, expected values in [-127, 127]",
                sg.index,
                w.index,
                op.index,
            )
    rule, axis = _WEIGHT_AXIS[op.op]
    if wq.per_channel and wq.quantized_dimension != axis:
        yield Finding(
            rule,
            f"{where}: weights {_t(w)} are quantized per channel along dimension "
            f"{wq.quantized_dimension}, expected {axis}",
            sg.index,
            w.index,
            op.index,
        )
    bias_i = _WEIGHT_OPS[op.op]
    data_i = 2 if op.op == "TRANSPOSE_CONV" else 0
    bias = ins[bias_i] if len(ins) > bias_i else None
    x = ins[data_i] if len(ins) > data_i else None
    if bias is None or bias.quantization is None or x is None or x.quantization is None:
        return
    want_dtype = ("int64", "int32") if x.dtype == "int16" else ("int32",)
    if bias.dtype not in want_dtype or any(bias.quantization.zero_points):
        yield Finding(
            "bias-dtype",
            f"{where}: bias {_t(bias)} is {bias.dtype} with zero point "
            f"{sorted(set(bias.quantization.zero_points))[:4]}, expected "
            f"{' or '.join(want_dtype)} with zero point 0",
            sg.index,
            bias.index,
            op.index,
        )
    if len(x.quantization.scales) != 1:
        return
    in_scale = x.quantization.scales[0]
    w_scales = wq.scales
    b_scales = bias.quantization.scales
    if len(b_scales) != len(w_scales) and len(w_scales) != 1:
        yield Finding(
            "bias-scale",
            f"{where}: bias {_t(bias)} has {len(b_scales)} scales, weights {_t(w)} have "
            f"{len(w_scales)}, expected the same granularity",
            sg.index,
            bias.index,
            op.index,
        )
        return
    out = outs[0] if outs else None
    out_scale = out.quantization.scales[0] if out is not None and out.quantization else None
    for c, b in enumerate(b_scales):
        expected = in_scale * w_scales[c if len(w_scales) > 1 else 0]
        if _close(b, expected, _BIAS_RTOL):
            continue
        severe = ""
        if out_scale and abs(expected - b) / out_scale > _BIAS_KERNEL_LIMIT:
            severe = " (over 2% of the output scale: the kernel refuses it)"
        yield Finding(
            "bias-scale",
            f"{where}: bias {_t(bias)} channel {c} has scale {b:.6g}, expected input scale x "
            f"weight scale = {expected:.6g}{severe}",
            sg.index,
            bias.index,
            op.index,
        )
        return  # one finding per tensor is enough


# ---------------------------------------------------------------- summary

# The TFLiteConverter settings that give each profile [TFLite post-training quantization guide].
_CONVERSION = {
    "int8": "full-integer quantization (a representative dataset, TFLITE_BUILTINS_INT8)",
    "int16x8": "16x8 quantization (a representative dataset, EXPERIMENTAL_TFLITE_BUILTINS_"
    "ACTIVATIONS_INT16_WEIGHTS_INT8)",
    "float16": "float16 quantization (supported_types=[tf.float16])",
}


def _int8_with_float_io(model: Model) -> tuple[bool, bool] | None:
    """(float inputs, float outputs) of an int8 graph that is float only at edges it quantizes
    inside (QUANTIZE after an input, DEQUANTIZE before an output); None for any other model."""
    sg = model.primary
    floats, quantized = set(), set()
    for g in model.subgraphs:
        for t in g.tensors:
            if t.is_constant:
                continue
            if t.dtype in dtypes.FLOAT_NAMES:
                if g.index != 0 or sg.edge_quantization(t.index) is None:
                    return None
                floats.add(t.index)
            elif t.is_quantized_int:
                quantized.add(t.dtype)
    if not floats or quantized != {"int8"}:
        return None
    return bool(floats & set(sg.inputs)), bool(floats & set(sg.outputs))


def _summary(model: Model, profile: str, kind: str) -> str | None:
    """One line for a model that is another kind than the profile wants, else None."""
    if kind == profile:  # each profile is named after the kind it asks for
        return None
    if kind == "mixed":
        edges = _int8_with_float_io(model) if profile == "int8" else None
        if edges is None:
            return None
        sides = [s for s, floating in zip(("input", "output"), edges, strict=True) if floating]
        what = " and ".join(f"{s}s" for s in sides)
        settings = " and ".join(f"inference_{s}_type" for s in sides)
        return (
            f"int8 model with float {what}: quantized inside the graph; convert with "
            f"{settings} = tf.int8"
        )
    if kind == "float32" and not any(
        not t.is_constant and t.dtype in dtypes.FLOAT_NAMES
        for sg in model.subgraphs
        for t in sg.tensors
    ):
        return None  # integer arithmetic only (shapes, counters): nothing to convert
    source = "convert with" if kind == "float32" else "convert the float model with"
    return f"{kind_text(model, kind)}; {source} {_CONVERSION[profile]}"


# ---------------------------------------------------------------- entry points


def _select(
    findings: Iterable[Finding], select: set[str] | None, ignore: set[str]
) -> list[Finding]:
    return [f for f in findings if f.rule not in ignore and (select is None or f.rule in select)]


def check(
    model: ModelLike,
    profile: str | None = None,
    *,
    target: str | None = None,
    allow_cpu_fallback: bool = False,
    allow_uint8_io: bool = False,
    strict: bool = False,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] = (),
) -> Report:
    """Check a model against a profile and the TFLite quantization specification.

    Args:
        model: a path (``str`` or ``os.PathLike``), the model's bytes, or a ``tflkit.Model``.
        profile: ``"int8"`` (fully integer: int8 I/O, builtin ops only, no float tensor),
            ``"int16x8"`` (int16 activations, int8 weights) or ``"float16"`` (float16
            weights, float32 I/O).
        allow_uint8_io: accept uint8 inputs and outputs under the int8 profile.
        strict: make conformance warnings violations.
        select: only these rule ids (default: all).
        ignore: skip these rule ids.

    Returns:
        A Report; ``report.passed`` is False when any violation was found.

    Raises:
        ValueError: an unknown profile or rule id.
        TypeError: ``model`` is not a path, bytes or Model.
        InvalidModelError, OSError: the file cannot be read as a model.

    Example:
        >>> report = tflkit.check("mlp_int8.tflite")
        >>> report.passed, [f.rule for f in report.violations]
        (True, [])
    """
    if profile is None and target is None:
        profile = "int8"
    if profile is not None and profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}, expected one of {', '.join(PROFILES)}")
    target_mod = None
    if target is not None:
        from tflkit.targets import module_for

        target_mod = module_for(target)
    known = set(RULES) | set(getattr(target_mod, "RULES", {}))
    selected = None if select is None else set(select)
    ignored = set(ignore)
    for rid in (selected or set()) | ignored:
        if rid not in known:
            raise ValueError(f"unknown rule {rid!r}; rules: {', '.join(sorted(known))}")
    model = resolve(model)
    placed = None
    off_target: list[Finding] = []
    fallback: list[Finding] = []
    if target is not None:
        from tflkit.targets import place

        placed = place(model, target, allow_cpu_fallback=allow_cpu_fallback)
        for p in placed.placement:
            if p.on == "target":
                continue
            where = f" output {p.output!r}" if p.output else ""
            finding = Finding(
                p.rule or "target",
                f"operator {p.operator} ({p.op}){where}: {p.reason}",
                subgraph=p.subgraph,
                operator=p.operator,
            )
            (fallback if p.on == "cpu" and allow_cpu_fallback else off_target).append(finding)
    if profile is None:
        kind = quantization_kind(model)
        violations = _select(off_target, selected, ignored)
        warnings = _select(fallback, selected, ignored)
        if strict:
            violations, warnings = violations + warnings, []
        return Report(
            model=model.path or "<bytes>",
            profile=None,
            # with a CPU fallback allowed, at least one operator must reach the target
            passed=not violations
            and not (placed is not None and fallback and not placed.on_target),
            violations=tuple(violations),
            warnings=tuple(warnings),
            options={"allow_cpu_fallback": allow_cpu_fallback, "strict": strict},
            quantization_kind=kind,
            target=placed,
        )
    if profile == "int8":
        own = list(_int8_profile(model, allow_uint8_io))
    elif profile == "int16x8":
        own = list(_int16x8_profile(model))
    else:
        own = list(_float16_profile(model))
    conformance = list(_conformance(model))
    kind = quantization_kind(model)
    violations = _select(own + off_target, selected, ignored)
    warnings = _select(conformance + fallback, selected, ignored)
    if strict:
        violations, warnings = violations + warnings, []
    return Report(
        model=model.path or "<bytes>",
        profile=profile,
        passed=not violations,
        violations=tuple(violations),
        warnings=tuple(warnings),
        options={"allow_uint8_io": allow_uint8_io, "strict": strict}
        | ({"allow_cpu_fallback": allow_cpu_fallback} if target else {}),
        quantization_kind=kind,
        summary=_summary(model, profile, kind),
        target=placed,
    )
