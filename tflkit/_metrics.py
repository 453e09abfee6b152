"""The numbers of a comparison, numpy only: exact error sums, per-tensor errors, label hits.

``OutputSums`` adds batches and merges partial sums, so errors over shards or Ray blocks equal
those of one pass; ``compare()``, ``compare_stream()`` and ``tflkit.ray`` all count with it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tflkit._results import OutputError, PerTensor, TensorError
from tflkit.errors import InputError

__all__ = ["OutputSums", "errors", "label_hits", "output_error", "per_tensor"]

Array = npt.NDArray[Any]


@dataclass(slots=True)
class OutputSums:
    """Exact running sums for one output's errors: add batches, merge partial sums.

    Counts and float64 sums of ``|d|``, ``d^2`` and ``ref^2`` (``d = out - ref``), the largest
    ``|d|`` and the top-1 agreements: MSE, RMSE and SNR come from the sums, so errors
    accumulated over shards equal those of one pass over the same data (up to float64
    summation order, ~1e-16 relative). ``compare()`` and the streamed compare share them.
    """

    count: int = 0
    sum_abs: float = 0.0
    sum_sq: float = 0.0
    sum_ref_sq: float = 0.0
    max_abs: float = 0.0
    top1_hits: int = 0
    top1_count: int = 0
    top1: bool | None = None  # None until a batch says whether the output has a class axis
    nan: int = 0  # NaN values among the model's own outputs
    inf: int = 0  # +-inf values among them

    def add(self, out: Array, ref: Array) -> None:
        """Add one batch of outputs and the reference's for the same samples.

        NaN and inf are data: they are counted, and they reach the sums (a NaN makes every
        error NaN), never dropped.
        """
        a = ref.astype(np.float64, copy=False)
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN: counted, kept
            d = out.astype(np.float64) - a
        if out.dtype.kind in "fc" and out.size:
            self.nan += int(np.count_nonzero(np.isnan(out)))
            self.inf += int(np.count_nonzero(np.isinf(out)))
        if d.size:
            self.count += d.size
            ad = np.abs(d)
            with np.errstate(invalid="ignore", over="ignore"):
                self.sum_abs += float(np.sum(ad))
                self.sum_sq += float(np.sum(d * d))
                self.sum_ref_sq += float(np.sum(a * a))
            self.max_abs = _max(self.max_abs, float(np.max(ad)))  # np.max keeps a NaN
        if out.ndim >= 2 and out.shape[-1] >= 2:
            self.top1 = True
            if out.size:
                hits = out.argmax(axis=-1) == ref.argmax(axis=-1)
                self.top1_hits += int(np.count_nonzero(hits))
                self.top1_count += int(hits.size)
        elif self.top1 is None:
            self.top1 = False

    def merge(self, other: OutputSums) -> None:
        """Add another accumulator's sums (shards run apart)."""
        self.count += other.count
        self.sum_abs += other.sum_abs
        self.sum_sq += other.sum_sq
        self.sum_ref_sq += other.sum_ref_sq
        self.max_abs = _max(self.max_abs, other.max_abs)
        self.nan += other.nan
        self.inf += other.inf
        self.top1_hits += other.top1_hits
        self.top1_count += other.top1_count
        if other.top1 is not None:
            self.top1 = bool(self.top1) or other.top1

    def errors(self) -> tuple[float, float, float, float, float]:
        """max abs, mean abs, RMSE, SNR (dB) and MSE from the sums; NaN when a NaN was added.

        Raises:
            InputError: nothing was added: no samples is no evidence, not a perfect match
                (MSE 0, SNR inf).
        """
        if self.count == 0:
            raise InputError("no samples to compare: an empty comparison measures nothing")
        mse = self.sum_sq / self.count
        return self.max_abs, self.sum_abs / self.count, math.sqrt(mse), _snr_db(self), mse

    def output_error(self, name: str) -> OutputError:
        top1 = self.top1_hits / self.top1_count if self.top1 and self.top1_count else None
        mx, mean, rmse, snr, mse = self.errors()
        return OutputError(name, top1, mx, mean, rmse, snr, mse, self.nan, self.inf)


def _max(a: float, b: float) -> float:
    """The larger, NaN when either is NaN (Python's ``max(0.0, nan)`` is 0.0)."""
    return float(np.maximum(a, b))


def _snr_db(s: OutputSums) -> float:
    """``10 log10(sum(ref^2) / sum(d^2))``: inf for identical outputs, -inf for a zero
    reference, NaN when a sum is NaN or both are infinite (no finite ratio to take)."""
    ref_sq, err_sq = s.sum_ref_sq, s.sum_sq
    if math.isnan(ref_sq) or math.isnan(err_sq):
        return math.nan
    if err_sq == 0:
        return math.inf
    ratio = ref_sq / err_sq  # inf / inf is NaN; a finite over inf is 0
    if math.isnan(ratio):
        return math.nan
    return -math.inf if ratio == 0 else 10 * math.log10(ratio)


def errors(out: Array, ref: Array) -> tuple[float, float, float, float, float]:
    """max abs, mean abs, RMSE, SNR (dB) and MSE of ``out`` against ``ref``, in float64."""
    sums = OutputSums()
    sums.add(out, ref)
    return sums.errors()


def output_error(name: str, out: Array, ref: Array) -> OutputError:
    """One output's errors against the reference's (one pass of ``OutputSums``)."""
    sums = OutputSums()
    sums.add(out, ref)
    return sums.output_error(name)


def label_hits(
    output_names: Sequence[str],
    outputs: Sequence[Mapping[str, Array]],
    y: Any,
    n: int,
    label_output: str | None,
) -> tuple[str | None, list[int] | None]:
    """How many of the ``n`` samples each model labels right (argmax, or > 0.5 for one
    column), counted exactly, on the output ``label_output`` (default: the first of
    ``output_names``); refuses labels that do not fit the output. (None, None) without ``y``."""
    if y is None:
        return None, None
    key = label_output or output_names[0]
    if key not in output_names:
        raise InputError(
            f"label_output {key!r} is not an output; outputs: {', '.join(map(repr, output_names))}"
        )
    labels = np.asarray(y)
    classes = int(outputs[0][key].reshape(n, -1).shape[1]) if n else 0
    if labels.ndim == 2 and labels.shape[1] > 1:
        if labels.shape[1] != classes:
            raise InputError(
                f"one-hot labels have {labels.shape[1]} columns, output {key!r} has {classes} "
                "classes"
            )
        labels = labels.argmax(axis=1)
    labels = labels.reshape(-1) if labels.ndim == 2 and labels.shape[1] == 1 else labels
    if labels.ndim != 1 or labels.shape[0] < n:
        raise InputError(
            f"labels must be class indices of shape ({n},) or one-hot ({n}, classes), got shape "
            f"{np.shape(y)}"
        )
    labels = labels[:n]
    if labels.dtype.kind not in "iuf" or (
        labels.dtype.kind == "f" and not np.all(labels == np.trunc(labels))
    ):
        raise InputError(f"labels must be integer class indices (or one-hot), got {labels.dtype}")
    top = max(classes, 2)  # one output column: a binary classifier, labels 0 or 1
    if labels.size and (labels.min() < 0 or labels.max() >= top):
        raise InputError(
            f"labels run {labels.min()}..{labels.max()}, output {key!r} has {top} classes "
            f"(0..{top - 1})"
        )
    hits = []
    for out in outputs:
        o = out[key].reshape(n, -1)
        pred = o.argmax(axis=1) if o.shape[1] > 1 else (o[:, 0] > 0.5).astype(np.int64)
        hits.append(int(np.count_nonzero(pred == labels)))
    return key, hits


def per_tensor(
    name: str, traced: Mapping[str, Array], ref: Mapping[str, Array], samples: int, ref_name: str
) -> PerTensor:
    """Errors of model ``name``'s intermediate tensors against the reference's tensors of the
    same name and shape, worst (lowest SNR) first; a note when few or none match."""
    rows = []
    unmatched = 0
    for key, value in traced.items():
        other = ref.get(key)
        if (
            other is None
            or other.shape != value.shape
            or value.dtype.kind not in "iufb"
            or not value.size  # nothing to measure
        ):
            unmatched += 1
            continue
        mx, mean, rmse, snr, mse = errors(value, other)
        rows.append(
            TensorError(key, str(value.dtype), tuple(value.shape), mx, mean, rmse, snr, mse)
        )
    rows.sort(key=lambda t: (t.snr_db if not math.isnan(t.snr_db) else math.inf, -t.rmse))
    note = None
    if not rows:
        note = (
            f"no tensor of {name} has the name and shape of a tensor of {ref_name}: per-tensor "
            "errors need the names the converter keeps when one model is converted two ways"
        )
    elif unmatched:
        note = f"{unmatched} of {len(traced)} tensors of {name} have no counterpart in {ref_name}"
    return PerTensor(name, samples, tuple(rows), unmatched, note)
