"""Quantize and dequantize exactly as TFLite's reference kernels do. numpy only.

``quantize``: ``q = clamp(round_half_away_from_zero(x / scale) + zero_point, qmin, qmax)``, with
``x / scale`` computed in float32 as ``reference_ops::AffineQuantize`` does and rounding by
``TfLiteRound`` (``std::round``: ties away from zero). numpy's ``round`` and ``rint`` round ties to
even, which is why this module exists.

``dequantize``: ``(q - zero_point) * scale`` computed in double and stored as float32, as the
DEQUANTIZE kernel does (for 8- and 16-bit values the product is exact in double, so this also
equals a float32 multiply).

Where the kernels are undefined we saturate: values whose ``x / scale`` overflows int32 (the C++
cast is undefined behaviour and returns garbage on x86) go to qmin or qmax, infinities too, and
NaN goes to the zero point (real value 0).

Note: on x86 the optimized QUANTIZE kernel and XNNPACK round ties to even; the reference kernel and
the quantization specification round them away from zero. The two differ only on exact ties.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tflkit import dtypes

__all__ = ["QuantizeStats", "dequantize", "quantize", "quantize_with_stats", "round_half_away"]

ArrayLike = Any


@dataclass(frozen=True, slots=True)
class QuantizeStats:
    """How many values ``quantize`` had to clip to the dtype's range, and how many were NaN."""

    total: int
    saturated_low: int
    saturated_high: int
    nan: int

    @property
    def saturated(self) -> int:
        return self.saturated_low + self.saturated_high

    @property
    def fraction(self) -> float:
        """Fraction of values that saturated or were NaN."""
        return (self.saturated + self.nan) / self.total if self.total else 0.0


def round_half_away(x: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.floating[Any]]:
    """Round to the nearest integer, ties away from zero (C's ``round``), in x's dtype.

    ``x - trunc(x)`` is exact in floating point, so comparing it with 0.5 decides ties exactly;
    ``floor(x + 0.5)`` would not (0.49999997 + 0.5 rounds up to 1.0 in float32).
    """
    t = np.trunc(x)
    frac = x - t
    out: npt.NDArray[np.floating[Any]] = np.where(np.abs(frac) >= 0.5, t + np.sign(x), t)
    return out


def _broadcast(values: ArrayLike, ndim: int, axis: int | None, dtype: Any) -> Any:
    """A scalar for one value; for per-channel values, a shape that broadcasts along ``axis``."""
    arr = np.asarray(values, dtype=dtype)
    if arr.size == 1:
        return arr.reshape(())
    if axis is None:
        raise ValueError(f"{arr.size} per-channel values need an axis")
    shape = [1] * ndim
    shape[axis] = arr.size
    return arr.reshape(shape)


def quantize_with_stats(
    x: ArrayLike,
    scale: ArrayLike,
    zero_point: ArrayLike,
    dtype: str | np.dtype[Any] | type = "int8",
    *,
    axis: int | None = None,
) -> tuple[npt.NDArray[Any], QuantizeStats]:
    """``quantize()`` that also reports how many values saturated (see ``quantize``)."""
    name = np.dtype(dtype).name
    if name not in dtypes.INTEGER_RANGES:
        raise ValueError(f"cannot quantize to {name}: expected an integer dtype")
    qmin, qmax = dtypes.INTEGER_RANGES[name]
    xf = np.asarray(x, dtype=np.float32)
    if axis is not None and axis < 0:
        axis += xf.ndim
    s = _broadcast(scale, xf.ndim, axis, np.float32)
    z = _broadcast(zero_point, xf.ndim, axis, np.float64)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        scaled = xf / s  # float32 division, as the kernel
        r = round_half_away(scaled).astype(np.float64) + z
    nan = np.isnan(r)
    low = r < qmin
    high = r > qmax
    q = np.clip(r, qmin, qmax)
    q = np.where(nan, np.broadcast_to(z, q.shape), q)
    stats = QuantizeStats(int(xf.size), int(low.sum()), int(high.sum()), int(nan.sum()))
    return q.astype(name), stats


def quantize(
    x: ArrayLike,
    scale: ArrayLike,
    zero_point: ArrayLike,
    dtype: str | np.dtype[Any] | type = "int8",
    *,
    axis: int | None = None,
) -> npt.NDArray[Any]:
    """Quantize real values as TFLite's QUANTIZE reference kernel does, saturating.

    Args:
        x: real values (any float or int array; computed in float32 like the kernel).
        scale: the scale, or one per channel along ``axis``.
        zero_point: the zero point, or one per channel along ``axis``.
        dtype: the integer type to produce (``"int8"``, ``"uint8"``, ``"int16"``, ...).
        axis: the channel axis for per-channel quantization.

    Returns:
        An array of ``dtype`` with x's shape.

    Example:
        >>> quantize([0.25, 1.25, 1000.0], 0.5, -3, "int8")  # ties go away from zero
        array([ -2,   0, 127], dtype=int8)
    """
    return quantize_with_stats(x, scale, zero_point, dtype, axis=axis)[0]


def dequantize(
    q: ArrayLike, scale: ArrayLike, zero_point: ArrayLike, *, axis: int | None = None
) -> npt.NDArray[np.float32]:
    """Real values of quantized integers, as TFLite's DEQUANTIZE kernel computes them.

    Args:
        q: quantized integers.
        scale: the scale, or one per channel along ``axis``.
        zero_point: the zero point, or one per channel along ``axis``.
        axis: the channel axis for per-channel quantization.

    Returns:
        float32 ``(q - zero_point) * scale``.

    Example:
        >>> dequantize(np.array([-128, 127], np.int8), 1 / 256, -128)
        array([0.        , 0.99609375], dtype=float32)
    """
    qa = np.asarray(q)
    if axis is not None and axis < 0:
        axis += qa.ndim
    scale64 = np.asarray(scale, dtype=np.float32).astype(np.float64)  # the file stores float32
    s = _broadcast(scale64, qa.ndim, axis, np.float64)
    z = _broadcast(zero_point, qa.ndim, axis, np.int64)
    out: npt.NDArray[np.float32] = ((qa.astype(np.int64) - z) * s).astype(np.float32)
    return out
