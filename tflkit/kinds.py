"""How a model is quantized, in one word: ``quantization_kind()`` and what each kind means.

A property of a model, read from its tensors' dtypes and quantization; used by ``check``,
``inspect``, ``diff``, ``compare`` and ``convert``. No file access beyond ``resolve()``, no runtime.
"""

from __future__ import annotations

from tflkit import dtypes
from tflkit.loader import resolve
from tflkit.model import Model, ModelLike, Operator, block_scale_tensors, cast_dequantized

__all__ = [
    "KIND_TEXT",
    "QUANTIZATION_KINDS",
    "float_operators",
    "kind_text",
    "quantization_kind",
]

#: The words ``quantization_kind()`` returns. ``weight-only`` comes with the blockwise
#: weights' type and block size when they all share them: ``weight-only-int4-block32``.
#: ``weight-only-int8`` (and ``-int4``): constants without scales that the graph itself
#: dequantizes with CAST and MUL (Keras 3 weight-only quantization).
QUANTIZATION_KINDS = (
    "float32",
    "float16",
    "dynamic-range",
    "weight-only",
    "weight-only-int8",
    "weight-only-int4",
    "int8",
    "int16x8",
    "int8-float-islands",
    "mixed",
)

# What each kind of model is, in a few words.
KIND_TEXT = {
    "float32": "float32 model: nothing is quantized",
    "float16": "float16 model: float16 weights, float32 activations",
    "dynamic-range": "dynamic-range model: int8 weights, float32 activations",
    "int8": "int8 model: fully integer (int8 weights and activations)",
    "int16x8": "int16x8 model: int16 activations, int8 weights",
    "int8-float-islands": "int8 model with float operators between DEQUANTIZE and QUANTIZE",
}


def kind_text(model: Model, kind: str) -> str:
    """``KIND_TEXT`` for a kind; weight-only models say which blockwise weights they have."""
    if kind == "int8-float-islands":
        ops = float_operators(model)
        names = ", ".join(f"{op.op} {name!r}" for op, name in ops[:3])
        more = f" and {len(ops) - 3} more" if len(ops) > 3 else ""
        word = "operator" if len(ops) == 1 else "operators"
        return f"int8 with {len(ops)} float {word}: {names}{more}"
    if not kind.startswith("weight-only"):
        return KIND_TEXT[kind]
    weights = {
        f"{t.dtype} weights in blocks of {t.quantization.block_size}"
        for sg in model.subgraphs
        for t in sg.tensors
        if t.quantization is not None and t.quantization.is_blockwise
    }
    for sg in model.subgraphs:
        weights.update(
            f"{sg.tensors[i].dtype} weights dequantized in the graph (CAST, MUL)"
            for i in cast_dequantized(sg)
        )
    return f"{kind} model: {' and '.join(sorted(weights))}, float32 activations"


_INT8ISH = frozenset({"int8", "uint8"})


def quantization_kind(model: ModelLike) -> str:
    """One word for how a model is quantized, from its tensors' dtypes and quantization.

    - ``float32``: no quantized tensor and no float16 constant.
    - ``float16``: float16 constants (weights), float activations, nothing quantized.
    - ``dynamic-range``: quantized int8 constants, float activations (weights-only).
    - ``weight-only-<dtype>-block<n>``: blockwise-quantized weights (LiteRT's
      BlockwiseQuantization: int4 weights of on-device language models), float activations;
      ``weight-only-int4-block32`` names the weights' type and block size, plain
      ``weight-only`` when the blockwise weights differ in them. The float16 tensors that hold
      block scales are not float16 weights.
    - ``weight-only-int8`` (``weight-only-int4``): int8 (int4) constants without scales that
      the graph dequantizes itself, a CAST to float then a MUL by a float constant, directly
      or after BATCH_MATMUL / FULLY_CONNECTED (Keras 3 ``model.quantize("int8")`` with
      ``activation_quantizer=None``); float activations. ``weight-only`` when they come with
      blockwise weights or in both types.
    - ``int8``: every activation quantized int8 or uint8, no float activation.
    - ``int16x8``: quantized int16 activations with int8 weights, no float activation.
    - ``int8-float-islands``: an int8 model (integer inputs and outputs) in which some
      operators compute in float between a DEQUANTIZE and a QUANTIZE: selective quantization
      (``convert(..., max_drop=...)`` / ``keep_float=...``) or an op without an int8 kernel
      left float by the converter. ``float_operators()`` lists them.
    - ``mixed``: anything else, such as an int8 model with float inputs and outputs.

    Activations are the non-constant tensors of every subgraph; bool, int32 and other
    non-quantized integer tensors (shapes, indices, loop counters) are not counted.

    Args:
        model: a path (``str`` or ``os.PathLike``), the model's bytes, or a ``tflkit.Model``.

    Raises:
        TypeError: ``model`` is not a path, bytes or Model.
        InvalidModelError, OSError: the file cannot be read as a model.

    Example:
        >>> tflkit.quantization_kind("mlp_int8.tflite")
        'int8'
    """
    model = resolve(model)
    float_acts = q8_acts = q16_acts = other_q_acts = 0
    f16_consts = q_consts = 0
    blockwise: set[tuple[str, int]] = set()  # (dtype, block size) of blockwise constants
    cast: set[str] = set()  # dtypes of constants dequantized by CAST and MUL in the graph
    for sg in model.subgraphs:
        block_scales = block_scale_tensors(sg)
        cast_weights = cast_dequantized(sg)
        for t in sg.tensors:
            quantized = t.quantization is not None and t.dtype not in dtypes.FLOAT_NAMES
            if t.is_constant:
                if t.index in block_scales:
                    continue  # the scales of blockwise weights, not weights
                if t.index in cast_weights:
                    cast.add(t.dtype)
                    continue
                if t.quantization is not None and t.quantization.is_blockwise:
                    blockwise.add((t.dtype, t.quantization.block_size))
                elif t.dtype == "float16":
                    f16_consts += 1
                elif quantized and t.dtype in ("int8", "uint8", "int4", "int16"):
                    q_consts += 1
                continue
            if t.dtype in dtypes.FLOAT_NAMES:
                float_acts += 1
            elif quantized and t.dtype in _INT8ISH:
                q8_acts += 1
            elif quantized and t.dtype == "int16":
                q16_acts += 1
            elif quantized:
                other_q_acts += 1
    if not (q8_acts or q16_acts or other_q_acts):
        if cast:
            # Weight-only quantization the graph undoes itself (CAST, MUL): its constants
            # have no scales, so a dynamic-range or float16 weight beside them is a mix.
            if f16_consts or q_consts:
                return "mixed"
            if blockwise or len(cast) > 1:
                return "weight-only"
            return f"weight-only-{next(iter(cast))}"
        if blockwise:
            # Weight-only quantization: blockwise weights (per-channel int8 ones may sit beside
            # them, as embeddings of language models do), float activations.
            if f16_consts:
                return "mixed"
            if len(blockwise) == 1:
                ((dtype, block),) = blockwise
                return f"weight-only-{dtype}-block{block}"
            return "weight-only"
        if q_consts == 0 and f16_consts == 0:
            return "float32"
        if q_consts == 0:
            return "float16"
        if f16_consts == 0:
            return "dynamic-range"
        return "mixed"
    if float_acts and not (other_q_acts or q16_acts or f16_consts or blockwise or cast):
        return "int8-float-islands" if _islands_only(model) else "mixed"
    if float_acts or other_q_acts or f16_consts or blockwise or cast:
        return "mixed"
    if q16_acts:
        return "mixed" if q8_acts else "int16x8"
    return "int8"


# The islands' edges, and operators that read a tensor's shape, never its values.
_EDGE_OPS = frozenset({"QUANTIZE", "DEQUANTIZE", "SHAPE", "RANK"})


def float_operators(model: ModelLike) -> list[tuple[Operator, str]]:
    """The operators that compute in float in a quantized model: (operator, the name of its
    first output), in graph order over every subgraph; QUANTIZE and DEQUANTIZE are the float
    islands' edges, not islands, and SHAPE and RANK read no values. An operator computes in
    float when a non-constant input or output of it is a float tensor.

    Example:
        >>> [(op.op, name) for op, name in float_operators("selective.tflite")]
        [('FULLY_CONNECTED', 'dense_1/Relu'), ('FULLY_CONNECTED', 'dense_2/Relu')]
    """
    model = resolve(model)
    found = []
    for sg in model.subgraphs:
        for op in sg.operators:
            if op.op in _EDGE_OPS:
                continue
            touched = [sg.tensors[i] for i in (*op.inputs, *op.outputs) if i >= 0]
            if any(not t.is_constant and t.dtype in dtypes.FLOAT_NAMES for t in touched):
                name = sg.tensors[op.outputs[0]].name if op.outputs else op.op
                found.append((op, name))
    return found


def _islands_only(model: Model) -> bool:
    """Float activations only inside the graph: integer inputs and outputs everywhere, and at
    least one float operator that is not a QUANTIZE or DEQUANTIZE."""
    for sg in model.subgraphs:
        for i in (*sg.inputs, *sg.outputs):
            if sg.tensors[i].dtype in dtypes.FLOAT_NAMES:
                return False
    return bool(float_operators(model))
