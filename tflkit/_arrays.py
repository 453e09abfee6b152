"""Arrays from users: checks shared by every reader of data (calibration, evaluation, inputs)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from tflkit.errors import InputError

__all__ = ["require_finite"]


def require_finite(array: npt.NDArray[Any], what: str, *, allow_nonfinite: bool = False) -> None:
    """InputError unless every value of a floating (or complex) ``array`` is finite: the count
    of NaN / inf values and the index of the first, e.g. ``calibration for input 'x': 1 of
    128 values are NaN or inf (first at index (3, 5)); pass allow_nonfinite=True to use them``.
    Integer and boolean arrays are finite by construction; ``allow_nonfinite`` skips the check.
    """
    if allow_nonfinite or array.dtype.kind not in "fc":
        return
    bad = ~np.isfinite(array)
    count = int(np.count_nonzero(bad))
    if count == 0:
        return
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    where = first[0] if len(first) == 1 else first
    raise InputError(
        f"{what}: {count} of {array.size} values are NaN or inf (first at index {where}); "
        "pass allow_nonfinite=True to use them"
    )
