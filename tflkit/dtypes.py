"""One table for TFLite tensor types: code -> name -> numpy dtype -> kind.

The codes are those of ``TensorType`` in LiteRT's ``schema.fbs``. The ``tflite`` package
(2.18) stops at BFLOAT16 = 18; newer codes are listed here by hand so that a model using
them is still described, and a code unknown to this table is named ``TYPE_<n>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = ["DType", "by_code", "by_name", "FLOAT_NAMES", "INTEGER_RANGES"]


@dataclass(frozen=True, slots=True)
class DType:
    """One row of the table."""

    code: int
    name: str  # lower-case TensorType name, as in the JSON output
    numpy: str | None  # numpy dtype string, None where numpy has no matching type
    is_float: bool  # floating point or complex: "not integer" for the int8 profile
    bits: int  # storage bits per element (0 for variable-size types)


_TABLE = (
    DType(0, "float32", "float32", True, 32),
    DType(1, "float16", "float16", True, 16),
    DType(2, "int32", "int32", False, 32),
    DType(3, "uint8", "uint8", False, 8),
    DType(4, "int64", "int64", False, 64),
    DType(5, "string", None, False, 0),
    DType(6, "bool", "bool", False, 8),
    DType(7, "int16", "int16", False, 16),
    DType(8, "complex64", "complex64", True, 64),
    DType(9, "int8", "int8", False, 8),
    DType(10, "float64", "float64", True, 64),
    DType(11, "complex128", "complex128", True, 128),
    DType(12, "uint64", "uint64", False, 64),
    DType(13, "resource", None, False, 0),
    DType(14, "variant", None, False, 0),
    DType(15, "uint32", "uint32", False, 32),
    DType(16, "uint16", "uint16", False, 16),
    DType(17, "int4", None, False, 4),
    DType(18, "bfloat16", None, True, 16),
    # Newer than the tflite 2.18 package (LiteRT schema.fbs):
    DType(19, "int2", None, False, 2),
    DType(20, "uint4", None, False, 4),
    DType(21, "float8_e4m3fn", None, True, 8),
    DType(22, "float8_e5m2", None, True, 8),
)

_BY_CODE = {d.code: d for d in _TABLE}
_BY_NAME = {d.name: d for d in _TABLE}

#: Names of the floating-point (and complex) types.
FLOAT_NAMES = frozenset(d.name for d in _TABLE if d.is_float)

#: Representable range [qmin, qmax] of each integer type that carries quantized values.
INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "int2": (-2, 1),
    "uint4": (0, 15),
    "int4": (-8, 7),
    "int8": (-128, 127),
    "uint8": (0, 255),
    "int16": (-32768, 32767),
    "uint16": (0, 65535),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}


def by_code(code: int) -> DType:
    """The row for a TensorType code; an unknown code gets a row named ``TYPE_<code>``."""
    row = _BY_CODE.get(code)
    if row is None:
        return DType(code, f"TYPE_{code}", None, False, 0)
    return row


def by_name(name: str) -> DType:
    """The row for a lower-case type name (``"int8"``); KeyError if there is none."""
    return _BY_NAME[name]


def numpy_dtype(name: str) -> np.dtype[Any] | None:
    """The numpy dtype of a type name, or None where numpy has none (string, int4, ...)."""
    import numpy as np  # on request: `import tflkit` stays without numpy

    row = _BY_NAME.get(name)
    if row is None or row.numpy is None:
        return None
    return np.dtype(row.numpy)
