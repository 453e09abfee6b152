"""How findings name tensors and operators: shared by the profile and conformance rules."""

from __future__ import annotations

from tflkit.model import Operator, Tensor


def tensor_text(t: Tensor) -> str:
    """``tensor 3 'conv/weights'``."""
    return f"tensor {t.index} {t.name!r}"


def op_text(op: Operator) -> str:
    """``operator 2 (CONV_2D)``."""
    return f"operator {op.index} ({op.display_name})"
