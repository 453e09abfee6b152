"""What a Runner feeds the model and reads back, without the runtime.

``Feeds`` turns what ``predict`` takes (one array, a list, a dict by name) into one checked,
converted array per input of a subgraph: shapes checked against the shape signatures, dtypes cast
only where no value changes, real values quantized to quantized integer inputs (per tensor or per
channel), and the values that clipped counted, on the input itself or at the QUANTIZE op a float
input meets inside the graph; more than 1% clipped is a SaturationWarning, once per input.
``real_values`` turns a tensor's contents back into real values. Tensor descriptions come from
``tflkit.load``; numpy only.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from tflkit import dtypes
from tflkit._arrays import check_numbers
from tflkit.errors import InputError, SaturationWarning, caller_stacklevel
from tflkit.model import Subgraph, Tensor
from tflkit.quant import (
    PerTensor,
    QuantizeStats,
    array_max,
    array_min,
    dequantize,
    quantize_with_stats,
)

__all__ = ["SATURATION_WARN", "Feeds", "per_tensor", "real_values", "shape_text"]

Array = npt.NDArray[Any]
Inputs = Any  # ndarray | Sequence[ArrayLike] | Mapping[str, ArrayLike]

#: Warn when more than this fraction of an input's values saturates (1%).
SATURATION_WARN = 0.01


def shape_text(dims: Sequence[int]) -> str:
    """A shape as Python writes a tuple: ``(8, 31)``, ``(4,)``, ``()``."""
    return "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


def per_tensor(t: Tensor) -> PerTensor | None:
    """The resolved quantization of a per-tensor quantized integer tensor, else None."""
    q = t.quantization
    if not t.is_quantized_int or q is None or len(q.scales) != 1 or len(q.zero_points) != 1:
        return None
    return PerTensor(q.scales[0], q.zero_points[0], dtypes.numpy_dtype(t.dtype) or t.dtype)


def real_values(t: Tensor, value: Array) -> Array:
    """Real values of a tensor's contents: dequantized (per tensor or per channel), float16
    widened to float32; other dtypes as they are."""
    if t.is_quantized_int:
        q = t.quantization
        assert q is not None
        if len(q.scales) == 1:
            return dequantize(value, q.scales[0], q.zero_points[0])
        return dequantize(value, q.scales, q.zero_points, axis=q.quantized_dimension)
    if value.dtype.kind in "fc" and value.dtype != np.float32:
        return value.astype(np.float32)
    return value


def _edge(sg: Subgraph, t: Tensor) -> tuple[Tensor, float, float] | None:
    """(the in-graph quantized tensor, low, high): values <= low or >= high saturate."""
    inner = sg.edge_quantization(t.index)
    q = inner.quantization if inner is not None else None
    if inner is None or q is None or len(q.scales) != 1 or not q.scales[0] > 0:
        return None
    qmin, qmax = dtypes.INTEGER_RANGES[inner.dtype]
    s, zp = q.scales[0], q.zero_points[0]  # ties round away from zero, hence the 0.5
    return inner, (qmin - zp - 0.5) * s, (qmax - zp + 0.5) * s


def _cast_exact(where: str, t: Tensor, a: Array, target: np.dtype[Any]) -> Array:
    """Cast to an integer or bool dtype only when no value changes."""
    if a.dtype.kind not in "iubf":
        raise InputError(f"{where}: expected {t.dtype} values, got {a.dtype}")
    if a.dtype.kind == "f" and a.size:
        bad = ~np.isfinite(a) | (a != np.trunc(a))
        if bad.any():
            raise InputError(
                f"{where}: the model takes {t.dtype} (not quantized), got non-integer value "
                f"{a[bad].flat[0].item()!r}"
            )
    if a.size:
        lo, hi = (0, 1) if target.kind == "b" else dtypes.INTEGER_RANGES[target.name]
        amin, amax = a.min(), a.max()
        if amin < lo or amax > hi:
            raise InputError(f"{where}: values {amin}..{amax} do not fit {t.dtype} ({lo}..{hi})")
    return a.astype(target)


class Feeds:
    """The inputs of one subgraph, named ``names`` (signature names, else tensor names).

    ``saturation`` holds, by input name, what the last conversion of that input clipped.
    """

    def __init__(self, sg: Subgraph, names: Sequence[str]) -> None:
        # Order: that of get_input_details(), i.e. the subgraph's.
        self.inputs: tuple[Tensor, ...] = sg.input_tensors
        self.names: tuple[str, ...] = tuple(names)
        #: 0 when axis 0 counts samples, None when each input is fed at its own shape.
        self.batch_axis: int | None = sg.batch_axis
        self.quant = [per_tensor(t) for t in self.inputs]
        self.dtypes = [dtypes.numpy_dtype(t.dtype) for t in self.inputs]
        # Float inputs quantized by a QUANTIZE op inside the graph clip there as an integer input
        # would: the real values beyond which that op saturates, to warn the same way.
        self.edges = [_edge(sg, t) for t in self.inputs]
        self.saturation: dict[str, QuantizeStats] = {}
        self._warned: set[str] = set()

    def where(self, i: int) -> str:
        return f"input {self.names[i]!r} (index {i})"

    def arrays(self, x: Inputs) -> list[Array]:
        """``x`` (one array, a list, or a dict by input or tensor name) as one array per input,
        in input order; not yet checked or converted.

        Raises:
            InputError: the wrong number of inputs, an unknown or a missing name.
        """
        n = len(self.inputs)
        if isinstance(x, np.ndarray) and n == 1:  # the common case first
            return [x]
        listed = ", ".join(repr(name) for name in self.names)
        if isinstance(x, Mapping):
            lookup = {name: i for i, name in enumerate(self.names)}
            lookup.update({t.name: i for i, t in enumerate(self.inputs)})
            values: list[Any] = [None] * n
            for key, value in x.items():
                if key not in lookup:
                    raise InputError(f"unknown input {key!r}; the model's inputs are {listed}")
                values[lookup[key]] = value
            missing = [self.names[i] for i, v in enumerate(values) if v is None]
            if missing:
                raise InputError(f"missing input {missing[0]!r}; the model's inputs are {listed}")
        elif isinstance(x, (list, tuple)) and (n != 1 or len(x) == 1):
            if len(x) != n:
                raise InputError(f"expected {n} inputs ({listed}), got {len(x)}")
            values = list(x)
        else:
            if n != 1:
                raise InputError(
                    f"the model has {n} inputs ({listed}): pass a list or a dict, not one array"
                )
            values = [x]
        return [self._array(i, v) for i, v in enumerate(values)]

    def _array(self, i: int, value: Any) -> Array:
        """``value`` as an array: ragged nested lists and objects numpy cannot hold refused."""
        try:
            return np.asarray(value)
        except (ValueError, TypeError) as exc:  # "inhomogeneous shape", "setting an element"
            text = str(exc).split(". ")[0].strip().rstrip(".")
            if "inhomogeneous" in str(exc):
                text = "ragged: nested lists of different lengths"
            raise InputError(f"{self.where(i)}: not an array of numbers ({text})") from None

    def prepare(self, x: Inputs, raw: bool) -> tuple[list[Array], int | None]:
        """Checked, converted feeds in input order, and the batch size (None: one invoke at the
        feeds' own shapes: no batch axis, or all inputs 0-d). ``raw``: no quantization."""
        arrays = self.arrays(x)
        for i, a in enumerate(arrays):
            target = self.dtypes[i]
            # objects, strings; complex not cast (the message built only when refused)
            if (
                a.dtype.kind not in "biuf"
                and target is not None
                and not (a.dtype.kind == "c" and target.kind == "c")
            ):
                check_numbers(a.dtype, self.where(i))
            self.check_shape(i, a)
        feeds = [self.convert(i, a, raw) for i, a in enumerate(arrays)]
        if self.batch_axis is None:
            return feeds, None  # one invoke at these shapes
        batched = [i for i, f in enumerate(feeds) if f.ndim >= 1]
        sizes = {int(feeds[i].shape[0]) for i in batched}
        if len(sizes) > 1:
            detail = ", ".join(f"{self.names[i]!r} has {feeds[i].shape[0]}" for i in batched)
            raise InputError(f"inputs have different batch sizes: {detail}")
        return feeds, (sizes.pop() if sizes else None)

    def check_shape(self, i: int, a: Array) -> None:
        sig = self.inputs[i].shape_signature
        if self.batch_axis is None:
            self._check_whole_shape(i, a, sig)
            return
        if a.ndim == len(sig) and all(
            s < 0 or s == d for s, d in zip(sig[1:], a.shape[1:], strict=True)
        ):
            return
        where = self.where(i)
        if a.ndim == len(sig) - 1 and len(sig) >= 1:
            raise InputError(
                f"{where}: expected shape {shape_text(sig)} with the batch on axis 0, got "
                f"{shape_text(a.shape)}; for one sample pass x[None]"
            )
        if a.ndim != len(sig):
            raise InputError(
                f"{where}: expected rank {len(sig)} (shape {shape_text(sig)}), "
                f"got rank {a.ndim} (shape {shape_text(a.shape)})"
            )
        for axis in range(1, len(sig)):
            if sig[axis] >= 0 and sig[axis] != a.shape[axis]:
                raise InputError(
                    f"{where}: expected shape {shape_text(sig)}, got {shape_text(a.shape)}"
                )

    def _check_whole_shape(self, i: int, a: Array, sig: tuple[int, ...]) -> None:
        """No batch axis: the array is the input itself, at the model's shape."""
        if a.ndim == len(sig) and all(s < 0 or s == d for s, d in zip(sig, a.shape, strict=True)):
            return
        shapes = ", ".join(shape_text(t.shape_signature) for t in self.inputs)
        hint = (
            "; it takes one array of that shape per call, not a batch of them"
            if a.ndim == len(sig) + 1
            else ""
        )
        raise InputError(
            f"{self.where(i)}: expected shape {shape_text(sig)}, got {shape_text(a.shape)} "
            f"(the model has no batch axis: its inputs are {shapes}){hint}"
        )

    def convert(self, i: int, a: Array, raw: bool) -> Array:
        """Input ``i`` in its stored dtype: quantized unless ``raw``, else cast."""
        t = self.inputs[i]
        target = self.dtypes[i]
        if target is None:  # string and other types: hand over as they are
            if a.ndim == 0 and t.dtype == "string" and a.dtype.kind in "OU":
                return self._scalar_bytes(i, a)
            return a
        if not raw and t.is_quantized_int:
            q = t.quantization
            assert q is not None
            fast = self.quant[i]
            if fast is not None:
                out, stats = fast.quantize(a)
            else:
                out, stats = quantize_with_stats(
                    a, q.scales, q.zero_points, target, axis=q.quantized_dimension
                )
            self.record(i, t, stats)
            return out
        if self.edges[i] is not None:
            self.edge_saturation(i, a)
        if a.dtype == target:
            return a
        if target.kind in "iub":
            return _cast_exact(self.where(i), t, a, target)
        try:
            return a.astype(target)
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"{self.where(i)}: cannot cast {a.dtype} to {t.dtype}: {exc}"
            ) from None

    def _scalar_bytes(self, i: int, a: Array) -> Array:
        """A 0-d string input as 0-d bytes (str encoded as UTF-8): LiteRT's ``set_tensor``
        reads a 0-d object array's pointer, and a 0-d str array's UTF-32 code units, as the
        string's bytes (arrays of rank 1 and more it converts itself)."""
        value = a.item()
        if isinstance(value, str):
            value = value.encode("utf-8")
        if not isinstance(value, bytes):
            raise InputError(
                f"{self.where(i)}: expected bytes or str for a string input, got "
                f"{type(value).__name__}"
            )
        return np.array(value, dtype=f"S{max(len(value), 1)}")

    def convert_one(self, x: Array) -> Array | None:
        """The one-sample path's conversion of input 0 (per-tensor quantized or not quantized
        at all: ``quant[0]`` and ``dtypes[0]`` set); None when ``x`` needs ``convert``."""
        quant = self.quant[0]
        if quant is not None:
            if x.dtype.kind not in "fiu":
                return None
            feed, stats = quant.quantize(x)
            self.record(0, self.inputs[0], stats)
            return feed
        target = self.dtypes[0]
        assert target is not None
        if x.dtype is target or x.dtype == target:
            feed = x if x.flags.c_contiguous else np.ascontiguousarray(x)
        elif target.kind == "f" and x.dtype.kind == "f":
            feed = x.astype(target)
        else:
            return None
        if self.edges[0] is not None:
            self.edge_saturation(0, x)
        return feed

    def edge_saturation(self, i: int, a: Array) -> None:
        """Count what the QUANTIZE op inside the graph will clip of float input ``i``."""
        edge = self.edges[i]
        if edge is None or a.dtype.kind != "f":
            return
        inner, low, high = edge
        if a.size and low < array_min(a) and array_max(a) < high:  # NaN fails both
            stats = QuantizeStats(a.size, 0, 0, 0)
        else:
            stats = QuantizeStats(
                a.size,
                int(np.count_nonzero(a <= low)),
                int(np.count_nonzero(a >= high)),
                int(np.count_nonzero(np.isnan(a))),
            )
        self.record(i, inner, stats, inside=True)

    def record(self, i: int, t: Tensor, stats: QuantizeStats, *, inside: bool = False) -> None:
        """Keep what quantizing input ``i`` to ``t`` clipped; warn once per input over 1%."""
        name = self.names[i]
        self.saturation[name] = stats
        if stats.fraction <= SATURATION_WARN or name in self._warned:
            return
        self._warned.add(name)
        rr = t.real_range
        expects = f"real values in [{rr[0]:.4g}, {rr[1]:.4g}]" if rr else "smaller values"
        nan = f" ({stats.nan} NaN)" if stats.nan else ""
        where = f"what the {t.dtype} QUANTIZE op inside the model" if inside else f"what {t.dtype}"
        warnings.warn(
            f"input {name!r}: {stats.fraction:.1%} of {stats.total} values{nan} fell outside "
            f"{where} can hold and were clipped; the model expects {expects}",
            SaturationWarning,
            stacklevel=caller_stacklevel(),
        )
