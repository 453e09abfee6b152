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

import math
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tflkit import dtypes

__all__ = [
    "PerTensor",
    "QuantizeStats",
    "dequantize",
    "quantize",
    "quantize_with_stats",
    "round_half_away",
]

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

    ``np.rint`` rounds ties to even; the result differs from C's ``round`` exactly where
    ``x - rint(x)`` is +-0.5 (a subtraction that is exact in floating point), and only there is
    it corrected. ``floor(x + 0.5)`` would be wrong: 0.49999997 + 0.5 rounds up to 1.0 in float32.
    """
    r = np.rint(x)
    d = x - r
    np.abs(d, out=d)
    if _has_tie(d):
        # where rint took a tie toward zero (|r| < |x|), move it one step away
        toward_zero = (d == 0.5) & (np.abs(r) < np.abs(x))
        r = np.where(toward_zero, r + np.sign(x), r)
    out: npt.NDArray[np.floating[Any]] = r
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


# The per-tensor path works in steps of _STEP elements on scratch buffers kept per thread, so a
# call allocates nothing but its output: on our machines fresh arrays of hundreds of KiB are
# mapped and faulted in on every call, which cost more than the arithmetic. Steps also keep the
# working set in cache.
_STEP = 1 << 15
_SMALL = 4096  # up to this many values: fresh small buffers, no loop


def array_max(a: npt.NDArray[Any]) -> Any:
    """The largest value of ``a`` (NaN if any is NaN): the ufunc itself, as ``a.max()`` adds a
    Python layer that costs more than the reduction on one sample."""
    return np.maximum.reduce(a, axis=None)


def array_min(a: npt.NDArray[Any]) -> Any:
    """The smallest value of ``a`` (NaN if any is NaN), as ``array_max``."""
    return np.minimum.reduce(a, axis=None)


def _has_tie(d: npt.NDArray[Any]) -> bool:
    """Whether ``d = |x - rint(x)|`` holds a tie: |x - rint(x)| <= 0.5, so a tie exists iff the
    largest is 0.5. NaN and inf give NaN there and are no ties: ``fmax`` passes over them (the
    largest by ``maximum`` would be NaN, and a tie beside a NaN would round to even)."""
    return bool(d.size) and bool(np.fmax.reduce(d, axis=None) == 0.5)


_scratch = threading.local()


def _buffers() -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    bufs = getattr(_scratch, "bufs", None)
    if bufs is None:
        bufs = _scratch.bufs = tuple(np.empty(_STEP, np.float32) for _ in range(3))
    return bufs


def _quantize_per_tensor(
    xf: npt.NDArray[np.float32], scale: Any, zp: float, name: str, qmin: int, qmax: int
) -> tuple[npt.NDArray[Any], QuantizeStats]:
    flat = xf.reshape(-1)
    if qmax - qmin >= 2**24 or abs(zp) >= 2**23:  # wider than float32's exact integers
        q, stats = _quantize_wide(flat, scale, zp, qmin, qmax)
        return q.astype(name).reshape(xf.shape), stats
    zp32 = np.float32(zp)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if flat.size <= _SMALL:  # a sample or two: fewest numpy calls, small fresh buffers
            scaled = np.divide(flat, scale, dtype=np.float32)  # float32 division, as the kernel
            r = np.empty_like(scaled)
            part = _round_into(scaled, zp32, qmin, qmax, r, np.empty_like(scaled))
            return r.astype(name).reshape(xf.shape), part or QuantizeStats(flat.size, 0, 0, 0)
        out = np.empty(xf.shape, dtype=name)
        oflat = out.reshape(-1)
        scaled_buf, r_buf, d_buf = _buffers()
        low = high = nan = 0
        for start in range(0, flat.size, _STEP):
            seg = flat[start : start + _STEP]
            n = seg.size
            scaled, r = scaled_buf[:n], r_buf[:n]
            np.divide(seg, scale, out=scaled)
            part = _round_into(scaled, zp32, qmin, qmax, r, d_buf[:n])
            if part is not None:
                low += part.saturated_low
                high += part.saturated_high
                nan += part.nan
            oflat[start : start + n] = r
    return out, QuantizeStats(int(flat.size), low, high, nan)


def _round_into(
    scaled: npt.NDArray[np.float32],
    zp32: np.float32,
    qmin: int,
    qmax: int,
    r: npt.NDArray[np.float32],
    d: npt.NDArray[np.float32],
) -> QuantizeStats | None:
    """r = saturate(round_half_away(scaled) + zp), using d as scratch; the stats if any clipped."""
    np.rint(scaled, out=r)
    if not r.size:
        return None
    np.subtract(scaled, r, out=d)
    np.abs(d, out=d)
    if _has_tie(d):
        r[...] = round_half_away(scaled)
    r += zp32  # exact: integers below 2**24
    if array_min(r) >= qmin and array_max(r) <= qmax:  # NaN fails both comparisons
        return None
    return _saturate(r, qmin, qmax, zp32)


def _saturate(r: npt.NDArray[Any], qmin: int, qmax: int, fill: Any) -> QuantizeStats:
    """Count what falls outside [qmin, qmax] (and NaN), clip in place, NaN -> fill (broadcast)."""
    isnan = np.isnan(r)
    stats = QuantizeStats(
        int(r.size),
        int(np.count_nonzero(r < qmin)),
        int(np.count_nonzero(r > qmax)),
        int(np.count_nonzero(isnan)),
    )
    np.clip(r, qmin, qmax, out=r)
    np.copyto(r, fill, where=isnan)
    return stats


def _quantize_wide(
    flat: npt.NDArray[np.float32], scale: Any, zp: float, qmin: int, qmax: int
) -> tuple[npt.NDArray[np.float64], QuantizeStats]:
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        r = round_half_away(np.divide(flat, scale, dtype=np.float32)).astype(np.float64) + zp
    return r, _saturate(r, qmin, qmax, zp)


def _int_range(dtype: str | np.dtype[Any] | type) -> tuple[str, int, int]:
    """The dtype's name and (qmin, qmax); ValueError for a non-integer dtype."""
    name = np.dtype(dtype).name
    if name not in dtypes.INTEGER_RANGES:
        raise ValueError(f"cannot quantize to {name}: expected an integer dtype")
    return (name, *dtypes.INTEGER_RANGES[name])


# The small-array fast path of PerTensor.quantize (a sample or two), exact, in few numpy calls:
# - in range first, on x itself: |x - c| < h with c, h the real values a quarter step inside
#   the saturation points. The quarter step covers every float rounding on the way (at most
#   2**-8 of a step for 16-bit types), so the quotient below cannot overflow or saturate; NaN
#   and anything else fall back to the exact general path;
# - v = x / scale in float32: the kernel's own division;
# - round half away from zero is ``rint(v * (1 + 2**-30))`` for |v| < 2**29: a tie k + 0.5 moves
#   off the tie, away from zero, while a float32 value that is not a tie lies at least one
#   float32 ulp (|v| * 2**-24) from the nearest tie, far more than the nudge (|v| * 2**-30);
# - rint of a value that is never a tie is floor(w + 0.5); + zero point folds into that shift.
_NUDGE = 1.0 + 2.0**-30
_FAST = frozenset({"int8", "uint8", "int16", "uint16"})


class PerTensor:
    """One per-tensor (scale, zero point, dtype), resolved once for repeated calls.

    ``Runner`` keeps one per quantized input and output: the checks and conversions that
    ``quantize_with_stats`` and ``dequantize`` do on every call cost more than the arithmetic
    on one sample. Same results as those functions.
    """

    __slots__ = (
        "scale",
        "zero_point",
        "name",
        "qmin",
        "qmax",
        "_zp32",
        "_fast_dq",
        "_fast_q",
        "_center",
        "_half",
        "_shift",
        "_dtype",
        "_table",
        "_clean",
    )

    def __init__(self, scale: float, zero_point: int, dtype: str | np.dtype[Any] | type) -> None:
        self.name, self.qmin, self.qmax = _int_range(dtype)
        self.scale = np.float32(scale)
        self.zero_point = zero_point
        self._zp32 = np.float32(zero_point)
        self._dtype = np.dtype(self.name)
        self._fast_dq = self._dtype.itemsize <= 2 and abs(zero_point) < 2**16
        s = float(self.scale)
        self._fast_q = (
            self.name in _FAST
            and math.isfinite(s)
            and s > 0
            and self.qmin <= zero_point <= self.qmax
        )
        lo = (self.qmin - zero_point - 0.25) * s  # a quarter step inside the saturation points
        hi = (self.qmax - zero_point + 0.25) * s
        self._center = np.float32(-(lo + hi) / 2)
        self._half = np.float32((hi - lo) / 2)
        if not (float(self._half) > 0 and abs(float(self._center)) + float(self._half) < 1e30):
            self._fast_q = False  # scales so small or so large that float32 sums could overflow
        self._shift = float(zero_point) + 0.5
        self._clean: dict[int, QuantizeStats] = {}  # nothing clipped, by size
        # 8-bit dequantize: the 256 exact results, indexed by the byte
        self._table: npt.NDArray[np.float32] | None = None
        if self._fast_dq and self._dtype.itemsize == 1:
            codes = np.arange(256, dtype=np.uint8).view(self._dtype)
            self._table = self.dequantize(codes)  # computed once by the exact path below

    def quantize(self, x: ArrayLike) -> tuple[npt.NDArray[Any], QuantizeStats]:
        xf = np.asarray(x, dtype=np.float32)
        n = xf.size
        if self._fast_q and 0 < n <= _SMALL:
            c = xf + self._center
            np.abs(c, out=c)
            if np.count_nonzero(c < self._half) == n:  # NaN is not < anything
                w = np.divide(xf, self.scale).astype(np.float64)  # the kernel's float32 quotient
                w *= _NUDGE
                w += self._shift
                np.floor(w, out=w)
                stats = self._clean.get(n)
                if stats is None:
                    stats = self._clean[n] = QuantizeStats(n, 0, 0, 0)
                return w.astype(self._dtype), stats
        return _quantize_per_tensor(
            xf, self.scale, float(self.zero_point), self.name, self.qmin, self.qmax
        )

    def dequantize(self, q: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
        table = self._table
        if table is not None and q.dtype == self._dtype:
            out: npt.NDArray[np.float32] = table.take(q.view(np.uint8))
            return out
        if not self._fast_dq or q.dtype.itemsize > 2:
            return dequantize(q, self.scale, self.zero_point)
        # exact: (q - zp) fits float32 for 8/16-bit values, and one float32 product is the
        # float32 rounding of the double product dequantize() computes
        out = np.subtract(q, self._zp32, dtype=np.float32)
        out *= self.scale
        return out


def quantize_with_stats(
    x: ArrayLike,
    scale: ArrayLike,
    zero_point: ArrayLike,
    dtype: str | np.dtype[Any] | type = "int8",
    *,
    axis: int | None = None,
) -> tuple[npt.NDArray[Any], QuantizeStats]:
    """``quantize()`` that also reports how many values saturated (see ``quantize``)."""
    name, qmin, qmax = _int_range(dtype)
    xf = np.asarray(x, dtype=np.float32)
    if axis is not None and axis < 0:
        axis += xf.ndim
    s = _broadcast(scale, xf.ndim, axis, np.float32)
    z = _broadcast(zero_point, xf.ndim, axis, np.float64)
    if np.ndim(s) == 0 and np.ndim(z) == 0:
        return _quantize_per_tensor(xf, s, float(z), name, qmin, qmax)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        r = round_half_away(np.divide(xf, s, dtype=np.float32)).astype(np.float64) + z
    stats = _saturate(r, qmin, qmax, z)
    return r.astype(name), stats


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
    scale32 = np.asarray(scale, dtype=np.float32)  # the file stores float32
    if qa.dtype.itemsize <= 2 and np.all(np.abs(np.asarray(zero_point)) < 2**16):
        # (q - zp) is an integer below 2**17, exact in float32, and float32 * float32 rounds the
        # exact product once: the same float32 as the kernel's double product cast to float.
        z32 = _broadcast(np.asarray(zero_point, dtype=np.float32), qa.ndim, axis, np.float32)
        out: npt.NDArray[np.float32] = qa.astype(np.float32)
        out -= z32
        out *= _broadcast(scale32, qa.ndim, axis, np.float32)
        return out
    s = _broadcast(scale32.astype(np.float64), qa.ndim, axis, np.float64)
    z = _broadcast(zero_point, qa.ndim, axis, np.int64)
    out = ((qa.astype(np.int64) - z) * s).astype(np.float32)
    return out
