"""Conformance rules: the TFLite quantization specification, checked tensor by tensor and
operator by operator. Warnings unless ``check(..., strict=True)``. Sources as in
``tflkit.checks``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

from tflkit import dtypes
from tflkit.checks._text import op_text, tensor_text
from tflkit.model import Model, Operator, Subgraph, Tensor
from tflkit.report import Finding, Rule

#: The conformance rules (``Rule.profile`` None), in the order ``--list-rules`` lists them.
RULES = (
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
        "TANH output is (1/128, 0) for int8, (1/128, 128) for uint8, (1/32768, 0) for int16 [S, P]",
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


def _q(t: Tensor) -> str:
    q = t.quantization
    if q is None:
        return "no quantization"
    if len(q.scales) == 1 and len(q.zero_points) == 1:
        return f"scale {q.scales[0]:.6g}, zero point {q.zero_points[0]}"
    return f"{len(q.scales)} scales, {len(q.zero_points)} zero points"


def _close(a: float, b: float, rtol: float) -> bool:
    return math.isfinite(a) and abs(a - b) <= rtol * abs(b)


def findings(model: Model) -> Iterator[Finding]:
    """Every conformance finding, subgraph by subgraph: tensors first, then operators."""
    for sg in model.subgraphs:
        yield from _tensor_rules(sg)
        for op in sg.operators:
            yield from _op_rules(sg, op)


def zero_point_finding(sg: Subgraph, t: Tensor) -> Finding | None:
    """The zero-point-in-range finding of a tensor: its first zero point outside its integer
    dtype's range (None when all fit, or the dtype has no range)."""
    qrange = dtypes.INTEGER_RANGES.get(t.dtype)
    if t.quantization is None or qrange is None:
        return None
    low, high = qrange
    bad = next((z for z in t.quantization.zero_points if not low <= z <= high), None)
    if bad is None:
        return None
    return Finding(
        "zero-point-in-range",
        f"subgraph {sg.index} {tensor_text(t)}: zero point {bad} is outside {t.dtype}'s range "
        f"{low}..{high}",
        sg.index,
        t.index,
    )


def _tensor_rules(sg: Subgraph) -> Iterator[Finding]:
    io = set(sg.inputs) | set(sg.outputs)
    for t in sg.tensors:
        q = t.quantization
        if q is None:
            continue
        where = f"subgraph {sg.index} {tensor_text(t)}"
        bad = [s for s in q.scales if not (math.isfinite(s) and s > 0)]
        if bad and t.dtype not in dtypes.FLOAT_NAMES:
            yield Finding(
                "scale-positive-finite",
                f"{where}: scale {bad[0]}, expected a positive finite number",
                sg.index,
                t.index,
            )
        zero_point = zero_point_finding(sg, t)
        if zero_point is not None:
            yield zero_point
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
    where = f"subgraph {sg.index} {op_text(op)}"
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
                    f"{where}: input {tensor_text(t)} has {_q(t)} but output "
                    f"{tensor_text(out)} has {_q(out)}, expected the same",
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
                f"{where}: output {tensor_text(out)} has {_q(out)}, expected scale "
                f"{want[0]:.6g} and zero point {want[1]} for {out.dtype}",
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
            f"{where}: weights {tensor_text(w)} are {w.dtype} with zero points {zps[:4]}, "
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
                f"{where}: weights {tensor_text(w)} hold -128, expected values in [-127, 127]",
                sg.index,
                w.index,
                op.index,
            )
    rule, axis = _WEIGHT_AXIS[op.op]
    if wq.per_channel and wq.quantized_dimension != axis:
        yield Finding(
            rule,
            f"{where}: weights {tensor_text(w)} are quantized per channel along dimension "
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
            f"{where}: bias {tensor_text(bias)} is {bias.dtype} with zero point "
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
            f"{where}: bias {tensor_text(bias)} has {len(b_scales)} scales, weights "
            f"{tensor_text(w)} have {len(w_scales)}, expected the same granularity",
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
            f"{where}: bias {tensor_text(bias)} channel {c} has scale {b:.6g}, expected input "
            f"scale x weight scale = {expected:.6g}{severe}",
            sg.index,
            bias.index,
            op.index,
        )
        return  # one finding per tensor is enough
