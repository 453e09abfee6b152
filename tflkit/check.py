"""Model checks: ``quantization_kind()`` (and, with issue 4, profiles, rules and reports).

Works on a ``tflkit.Model`` only; never opens files or imports the runtime.
"""

from __future__ import annotations

from tflkit import dtypes
from tflkit.model import Model

__all__ = ["quantization_kind", "QUANTIZATION_KINDS"]

#: The words ``quantization_kind()`` returns.
QUANTIZATION_KINDS = ("float32", "float16", "dynamic-range", "int8", "int16x8", "mixed")

_INT8ISH = frozenset({"int8", "uint8"})


def quantization_kind(model: Model) -> str:
    """One word for how a model is quantized, from its tensors' dtypes and quantization.

    - ``float32``: no quantized tensor and no float16 constant.
    - ``float16``: float16 constants (weights), float activations, nothing quantized.
    - ``dynamic-range``: quantized int8 constants, float activations (weights-only).
    - ``int8``: every activation quantized int8 or uint8, no float activation.
    - ``int16x8``: quantized int16 activations with int8 weights, no float activation.
    - ``mixed``: anything else, such as an int8 model with float inputs and outputs.

    Activations are the non-constant tensors of every subgraph; bool, int32 and other
    non-quantized integer tensors (shapes, indices, loop counters) are not counted.

    Example:
        >>> tflkit.quantization_kind(tflkit.load("mlp_int8.tflite"))
        'int8'
    """
    float_acts = q8_acts = q16_acts = other_q_acts = 0
    f16_consts = q_consts = 0
    for sg in model.subgraphs:
        for t in sg.tensors:
            quantized = t.quantization is not None and t.dtype not in dtypes.FLOAT_NAMES
            if t.is_constant:
                if t.dtype == "float16":
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
        if q_consts == 0 and f16_consts == 0:
            return "float32"
        if q_consts == 0:
            return "float16"
        if f16_consts == 0:
            return "dynamic-range"
        return "mixed"
    if float_acts or other_q_acts or f16_consts:
        return "mixed"
    if q16_acts:
        return "int16x8"
    return "int8"
