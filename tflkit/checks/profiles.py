"""Profile rules: is this model fully integer (int8), int16x8 or float16? They give the verdict.

A profile's rules are its violations; ``summary()`` says in one line what a model of another kind
is and which conversion gives the profile. Sources as in ``tflkit.checks``.
"""

from __future__ import annotations

from collections.abc import Iterator

from tflkit import dtypes
from tflkit.checks._text import op_text, tensor_text
from tflkit.kinds import kind_text, quantization_kind
from tflkit.model import (
    CastDequantization,
    Model,
    Subgraph,
    Tensor,
    block_scale_tensors,
    blockwise_text,
    cast_dequantized,
    unsupported_blockwise,
)
from tflkit.report import Finding, Rule

#: Rule.profile of the rules every profile applies.
EVERY_PROFILE = "every"

#: The profiles ``check()`` knows.
PROFILES = ("int8", "int16x8", "float16")

#: The profile rules, in the order ``tflkit check --list-rules`` lists them.
RULES = (
    Rule(
        "int8-io-dtype",
        "int8",
        "inputs and outputs of subgraph 0 are int8 "
        "(uint8 too with allow_uint8_io=True) [S: int8 is the quantized type; edgetpu, TFLM]",
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
)


def findings(model: Model, profile: str, *, allow_uint8_io: bool = False) -> list[Finding]:
    """The profile's violations, in the model's order."""
    if profile == "int8":
        return list(_int8_profile(model, allow_uint8_io))
    if profile == "int16x8":
        return list(_int16x8_profile(model))
    return list(_float16_profile(model))


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
            hint = " (pass allow_uint8_io=True to accept uint8)" if t.dtype == "uint8" else ""
            inner = model.primary.edge_quantization(t.index)
            if inner is not None:
                is_input = role.startswith("in")
                by = "a QUANTIZE after it" if is_input else "a DEQUANTIZE before it"
                setting = "inference_input_type" if is_input else "inference_output_type"
                hint = (
                    f"; quantized to {inner.dtype} inside the graph (by {by}): set "
                    f"TFLiteConverter.{setting} = tf.int8"
                )
            yield Finding(
                "int8-io-dtype",
                f"subgraph 0 {role}, {tensor_text(t)}: dtype is {t.dtype}, expected {want}{hint}",
                0,
                t.index,
            )
        elif t.quantization is None or len(t.quantization.scales) != 1:
            got = "no scale" if t.quantization is None else f"{len(t.quantization.scales)} scales"
            yield Finding(
                "io-per-tensor",
                f"subgraph 0 {role}, {tensor_text(t)}: has {got}, expected one scale and "
                "zero point",
                0,
                t.index,
            )
    yield from _builtin_ops(model)
    yield from _no_float(model, "no-float-tensors")
    yield from blockwise_findings(model)


def blockwise_findings(model: Model) -> Iterator[Finding]:
    """Blockwise-quantized tensors outside the kernels that read them (every profile; the
    runtime aborts on some of them, see ``runtime_hazards``)."""
    for sg in model.subgraphs:
        for op, t, why in unsupported_blockwise(sg):
            yield Finding(
                "blockwise-ops",
                f"subgraph {sg.index} {op_text(op)}: input {tensor_text(t)} is quantized "
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
                    f"subgraph {sg.index} {op_text(op)}: is {kind}, expected a TFLite builtin",
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
                    f"subgraph {sg.index} {tensor_text(t)}: is {t.dtype}, expected an integer type",
                    sg.index,
                    t.index,
                )


def _int16x8_profile(model: Model) -> Iterator[Finding]:
    for sg in model.subgraphs:
        for t in sg.tensors:
            where = f"subgraph {sg.index} {tensor_text(t)}"
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
    yield from blockwise_findings(model)


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
                f"subgraph 0 {role}, {tensor_text(t)}: dtype is {t.dtype}, expected float32",
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
            where = f"subgraph {sg.index} {tensor_text(t)}"
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
    yield from blockwise_findings(model)


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


def summary(model: Model, profile: str, kind: str) -> str | None:
    """One line for a model that is another kind than the profile wants, else None."""
    if kind == profile:  # each profile is named after the kind it asks for
        return None
    if kind == "int8-float-islands":  # selective quantization, or ops without int8 kernels
        return f"{kind_text(model, kind)} (float between DEQUANTIZE and QUANTIZE)"
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
