"""tflkit: inspect, check and run TensorFlow Lite (LiteRT) models.

``import tflkit`` is light: it never imports TensorFlow or the LiteRT runtime (``tflkit.Runner``
imports the runtime on first use), and the ``tflite`` package's schema bindings, which read
models (bounds-checked by ``tflkit._flatbuffer``), come with the first ``tflkit.load``.

Every function that takes a model takes a ``ModelLike``: a path (``str`` or ``os.PathLike``),
the model's bytes, or a ``tflkit.Model`` from ``tflkit.load()`` (see ``tflkit.loader``).
"""

from __future__ import annotations

from typing import Any

from tflkit.errors import (
    ConversionError,
    DelegateWarning,
    InputError,
    InvalidModelError,
    NonFiniteWarning,
    RuntimeCrashError,
    SaturationWarning,
    TflkitError,
    UnsupportedModelError,
)
from tflkit.loader import load
from tflkit.model import (
    Metadata,
    Model,
    ModelLike,
    Operator,
    Quantization,
    Signature,
    SignatureTensor,
    Subgraph,
    Tensor,
)

__version__ = "0.1.0"

__all__ = [
    "ConversionError",
    "DelegateWarning",
    "InputError",
    "InvalidModelError",
    "Metadata",
    "Model",
    "ModelLike",
    "Operator",
    "Quantization",
    "Signature",
    "SignatureTensor",
    "Subgraph",
    "Tensor",
    "TflkitError",
    "UnsupportedModelError",
    "Benchmark",
    "Comparison",
    "Conversion",
    "ExplorerFile",
    "Finding",
    "ModelDiff",
    "RULES",
    "Report",
    "NonFiniteWarning",
    "RunResult",
    "RuntimeCrashError",
    "Runner",
    "SaturationWarning",
    "Search",
    "SearchStep",
    "__version__",
    "benchmark",
    "check",
    "compare",
    "compare_stream",
    "convert",
    "dequantize",
    "diff",
    "load",
    "quantization_kind",
    "quantize",
    "ray",
    "run",
]

_LAZY = {
    "check": "tflkit.checks",
    "quantization_kind": "tflkit.kinds",
    "Finding": "tflkit.report",
    "Report": "tflkit.report",
    "RULES": "tflkit.checks",
    "Runner": "tflkit.runner",  # imports the LiteRT runtime on first use
    "run": "tflkit.running",
    "RunResult": "tflkit.running",
    "compare": "tflkit.comparison",
    "compare_stream": "tflkit.comparison",
    "diff": "tflkit.differ",
    "ModelDiff": "tflkit.differ",
    "convert": "tflkit.conversion",  # imports TensorFlow on first use
    "Conversion": "tflkit.conversion",
    "Search": "tflkit._search",  # Conversion.search: how max_drop / min_snr chose
    "SearchStep": "tflkit._search",
    "Comparison": "tflkit.comparison",
    "ExplorerFile": "tflkit._explorer",  # what Comparison.to_explorer wrote, file by file
    "benchmark": "tflkit.speed",
    "Benchmark": "tflkit.speed",
    "quantize": "tflkit.quant",
    "dequantize": "tflkit.quant",
}

# Submodules reached as attributes (`tflkit.ray.predict`) without importing them up front.
_LAZY_MODULES = {"ray"}  # tflkit.ray: the only importer of Ray (extra [ray])


def __getattr__(name: str) -> Any:
    # PEP 562: heavier parts are imported on first use, so `import tflkit` stays light.
    if name in _LAZY_MODULES:
        import importlib

        return importlib.import_module(f"tflkit.{name}")
    module = _LAZY.get(name)
    if module is not None:
        import importlib

        return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module 'tflkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return list(__all__)
