"""tflkit: inspect, check and run TensorFlow Lite (LiteRT) models.

``import tflkit`` is light: it reads models with the ``tflite`` flatbuffer bindings and never
imports TensorFlow or the LiteRT runtime; ``tflkit.Runner`` imports the runtime on first use.
"""

from __future__ import annotations

from typing import Any

from tflkit.errors import InputError, InvalidModelError, TflkitError, UnsupportedModelError
from tflkit.model import (
    Metadata,
    Model,
    Operator,
    Quantization,
    Signature,
    SignatureTensor,
    Subgraph,
    Tensor,
    load,
)

__version__ = "0.1.0"

__all__ = [
    "InputError",
    "InvalidModelError",
    "Metadata",
    "Model",
    "Operator",
    "Quantization",
    "Signature",
    "SignatureTensor",
    "Subgraph",
    "Tensor",
    "TflkitError",
    "UnsupportedModelError",
    "__version__",
    "load",
    "quantization_kind",
]


def __getattr__(name: str) -> Any:
    # PEP 562: heavier parts are imported on first use, so `import tflkit` stays light.
    if name == "quantization_kind":
        from tflkit.check import quantization_kind

        return quantization_kind
    raise AttributeError(f"module 'tflkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return list(__all__)
