"""Input arrays for running models: arranged for a model's inputs (as ``_arrays.read_arrays``
reads them), or drawn at random.

Shared by ``tflkit run``, ``tflkit compare`` and ``tflkit bench``. Numpy only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from tflkit import dtypes
from tflkit.errors import InputError
from tflkit.model import Tensor

Array = npt.NDArray[Any]

#: Real range drawn for float inputs when no quantized model says what the input expects.
FLOAT_RANGE = (-1.0, 1.0)
#: Values drawn for integer inputs that are not quantized (token ids, counts): 0 .. 9.
INT_RANGE = (0, 9)


def inputs_for(
    data: Array | dict[str, Array],
    names: Sequence[str],
    tensor_names: Sequence[str] = (),
    *,
    source: str = "",
    notes: list[str] | None = None,
) -> Array | list[Array] | dict[str, Array]:
    """Arrange arrays read by ``_arrays.read_arrays`` for a model with these input names.

    A .npz whose keys are none of the names but whose count matches (``np.savez(f, a, b)``
    gives ``arr_0, arr_1``) is taken in input order; a .npz with one array feeds a
    single-input model whatever its key. Either way a line saying which array fed which input
    is appended to ``notes`` (``source`` names the file), for the CLI to print: a wrong key
    would otherwise go unnoticed.
    """
    if isinstance(data, np.ndarray):
        return data
    known = set(names) | set(tensor_names)
    if len(data) == len(names) and not set(data) & known:
        if notes is not None and names:
            where = f"{source}: " if source else ""
            if len(names) == 1:
                notes.append(
                    f"{where}array {next(iter(data))!r} fed to input {names[0]!r} (the only input)"
                )
            else:
                pairs = ", ".join(f"{k!r} to {n!r}" for k, n in zip(data, names, strict=True))
                notes.append(f"{where}no array is named after an input; fed in order: {pairs}")
        return list(data.values())
    return data


def random_inputs(
    tensors: Sequence[Tensor],
    names: Sequence[str],
    n: int,
    *,
    seed: int = 0,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    shapes: Mapping[str, Sequence[int]] | None = None,
    hint: str = "pass shapes=",
    batch_axis: int | None = 0,
) -> tuple[dict[str, Array], list[str]]:
    """``n`` samples for each input, and a line per input saying what was drawn.

    Quantized integer inputs: uniform real values over the range the tensor can represent.
    Float inputs: uniform over ``ranges[name]`` when given (e.g. the range a quantized sibling
    model expects), else over ``FLOAT_RANGE``. Other integer inputs: integers in ``INT_RANGE``
    (clipped to the dtype); bool inputs: fair coin flips. ``shapes[name]`` gives a sample's
    shape (the dimensions after the batch axis) for inputs with dynamic dimensions; without it,
    dimensions that are -1 besides the batch become 1, and the line says so. A model without a
    batch axis (``batch_axis=None``) gets each input once, at its own shape (``n`` is not used;
    ``shapes`` are then whole shapes). ``hint`` ends the line of a guessed shape: how the caller
    passes one. Seeded: the same call gives the same arrays.

    Raises:
        InputError: a shape for an unknown input, or one that does not fit the input's shape
            signature.
    """
    shapes = dict(shapes or {})
    unknown = sorted(set(shapes) - set(names))
    if unknown:
        raise InputError(
            f"a shape for unknown input {unknown[0]!r}; the inputs are "
            + ", ".join(repr(n) for n in names)
        )
    rng = np.random.default_rng(seed)
    arrays: dict[str, Array] = {}
    lines: list[str] = []
    for t, name in zip(tensors, names, strict=True):
        sig = t.shape_signature
        skip = 0 if batch_axis is None else 1  # the dimensions a sample shape leaves out
        if name in shapes:
            given = tuple(int(d) for d in shapes[name])
            if len(given) != len(sig) - skip or any(
                s >= 0 and s != g or g < 0 for s, g in zip(sig[skip:], given, strict=True)
            ):
                what = "shape" if batch_axis is None else "sample of shape"
                after = "" if batch_axis is None else " (after the batch axis)"
                raise InputError(
                    f"input {name!r}: a {what} {list(sig)[skip:]}{after}, got {list(given)}"
                )
            dims = [n, *given] if skip else list(given)
        else:
            dims = [1 if d < 0 else d for d in sig]
        shape = tuple(dims) if batch_axis is None else ((n, *dims[1:]) if dims else ())
        guessed = name not in shapes
        target = dtypes.numpy_dtype(t.dtype)
        rr = t.real_range
        if rr is None and ranges is not None:
            rr = ranges.get(name)
        if target is None:
            raise InputError(
                f"input {name!r}: cannot draw random {t.dtype} values; pass arrays for it"
            )
        if rr is not None:
            arrays[name] = rng.uniform(rr[0], rr[1], shape).astype(np.float32)
            lines.append(f"{name}: uniform real values in [{rr[0]:.4g}, {rr[1]:.4g}]")
        elif target.kind == "f" or target.kind == "c":
            lo, hi = FLOAT_RANGE
            arrays[name] = rng.uniform(lo, hi, shape).astype(target)
            lines.append(f"{name}: uniform {t.dtype} in [{lo:g}, {hi:g}]")
        elif target.kind == "b":
            arrays[name] = rng.random(shape) < 0.5
            lines.append(f"{name}: random bool")
        else:
            lo, hi = dtypes.INTEGER_RANGES.get(t.dtype, INT_RANGE)
            lo, hi = max(lo, INT_RANGE[0]), min(hi, INT_RANGE[1])
            arrays[name] = rng.integers(lo, hi, shape, endpoint=True).astype(target)
            lines.append(f"{name}: {t.dtype} integers in [{lo}, {hi}]")
        if any(d < 0 for d in sig[skip:]):  # the sample shape was given or guessed: say which
            lines[-1] += f", shape {list(shape)}"
            if guessed:
                lines[-1] += f" (dynamic dimensions drawn as 1; {hint})"
    return arrays, lines


def batch_size_of(x: Array | Sequence[Array] | Mapping[str, Array]) -> int:
    """Samples in a batch (axis 0 of the first array with a batch axis; 1 when all are 0-d)."""
    if isinstance(x, Mapping):
        values = list(x.values())
    else:
        values = [x] if isinstance(x, np.ndarray) else list(x)
    for v in values:
        if np.ndim(v) >= 1:
            return int(np.shape(v)[0])
    return 1


def take(x: Any, start: int, stop: int) -> Any:
    """Samples start..stop of an array, list or dict of arrays (0-d arrays unchanged)."""

    def part(a: Any) -> Any:
        return a[start:stop] if np.ndim(a) >= 1 else a

    if isinstance(x, Mapping):
        return {k: part(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [part(v) for v in x]
    return part(x)
