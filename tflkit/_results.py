"""What ``compare()``, ``compare_stream()`` and ``tflkit.ray.compare`` return.

Plain data below the code that builds it (``_tally``, ``comparison``, ``tflkit.ray``), so that
``comparison.py`` can choose ``tflkit.ray`` without a circle; ``tflkit.comparison`` re-exports
every name. Showing them is ``tflkit.render``'s and ``tflkit._plot``'s, imported inside the
convenience methods.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tflkit.speed import Latency

if TYPE_CHECKING:
    from tflkit._explorer import ExplorerFile

__all__ = ["Comparison", "ModelResult", "OutputError", "PerTensor", "TensorError"]


@dataclass(frozen=True, slots=True)
class OutputError:
    """How far one output of a model is from the reference's, on the same inputs.

    ``top1_agreement`` is the fraction of argmax positions (over the last axis) equal to the
    reference's, for outputs with a class axis of 2 or more, else None. ``snr_db`` is
    ``10 log10(sum(ref^2) / sum((out - ref)^2))``: infinite when the outputs are identical.
    ``mse`` is the mean of ``(out - ref)^2`` (``rmse`` squared, kept apart for rounding).

    ``nan_count`` and ``inf_count`` count the NaN and infinite values among this model's own
    outputs (the reference model's row counts the reference's): with any, the errors are NaN or
    infinite and measure nothing (``nonfinite``; ``Comparison.has_nonfinite``).
    """

    name: str
    top1_agreement: float | None
    max_abs: float
    mean_abs: float
    rmse: float
    snr_db: float
    mse: float = math.nan
    nan_count: int = 0
    inf_count: int = 0

    @property
    def nonfinite(self) -> bool:
        """True when the errors are not a measure of agreement: the outputs held NaN or inf,
        or the outputs measured against did (given reference outputs)."""
        return bool(self.nan_count or self.inf_count) or not (
            math.isfinite(self.max_abs) and math.isfinite(self.mean_abs)
        )


@dataclass(frozen=True, slots=True)
class ModelResult:
    """One model's row of the comparison. Speed fields are None when speed was not measured.

    Two latencies of one sample: ``invoke``, the runtime's ``invoke()`` alone, answers "is this
    model faster on this machine?" (``invoke_speedup``: the reference's p50 / this one's);
    ``latency``, the whole ``Runner.predict`` call, is what an app pays per call. Their
    difference at the median, ``overhead_ms``, is the Runner's own work (quantize, dequantize,
    copies, Python). ``invoke`` is None for a signature on another subgraph than 0.

    Two rates of the whole batch likewise: ``samples_per_second``, the whole ``predict`` call
    (how fast tflkit's call is), and ``invoke_samples_per_second``, the runtime's invokes of
    that call alone (is this model faster on a batch here?), each with its ratio to the
    reference's (``throughput_speedup``, ``invoke_throughput_speedup``).
    """

    name: str
    path: str | None
    kind: str
    size_bytes: int
    size_ratio: float
    accuracy: float | None
    accuracy_delta: float | None
    outputs: tuple[OutputError, ...]
    latency: Latency | None
    latency_speedup: float | None
    samples_per_second: float | None
    throughput_speedup: float | None
    batching: str
    invoke: Latency | None = None
    invoke_speedup: float | None = None
    overhead_ms: float | None = None
    invoke_samples_per_second: float | None = None
    invoke_throughput_speedup: float | None = None

    @property
    def size_mib(self) -> float:
        return self.size_bytes / 2**20


@dataclass(frozen=True, slots=True)
class TensorError:
    """Error of one intermediate tensor of a model against the reference's tensor of that name."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    max_abs: float
    mean_abs: float
    rmse: float
    snr_db: float
    mse: float = math.nan


@dataclass(frozen=True, slots=True)
class PerTensor:
    """Per-tensor errors of one model, worst (lowest SNR) first."""

    model: str
    samples: int
    tensors: tuple[TensorError, ...]
    unmatched: int
    note: str | None


@dataclass(frozen=True, slots=True)
class Comparison:
    """The result of ``compare()``: one ``ModelResult`` per model, in the order given."""

    models: tuple[ModelResult, ...]
    reference: int
    samples: int
    data: str
    inputs: tuple[str, ...]
    label_output: str | None
    per_tensor: tuple[PerTensor, ...] | None
    notes: tuple[str, ...]
    #: Where the outputs every model's errors are measured against came from (a file name, or
    #: "given arrays") when ``reference_outputs`` was given; None: the reference model's.
    reference_outputs: str | None = None
    #: Models left out because their runtime crashed (``compare(..., isolated=True)``): one
    #: line each, as in the notes ("m.tflite: the runtime crashed (SIGABRT) during allocate;
    #: left out of the comparison"). ``tflkit compare --isolated`` then exits 1.
    crashed: tuple[str, ...] = ()
    #: With ``per_tensor``: (name, min, max) of every tensor of the reference model on the
    #: per-tensor samples, in the model's tensor order (``to_explorer``'s range file).
    reference_ranges: tuple[tuple[str, float, float], ...] | None = None

    @property
    def has_nonfinite(self) -> bool:
        """True when an output compared held NaN or inf (a model's, the reference model's, or
        given reference outputs): its errors measure nothing; ``tflkit compare`` exits 1."""
        return any(o.nonfinite for m in self.models for o in m.outputs)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``schemas/compare.schema.json``); infinities as the string "Infinity"."""
        from tflkit.render import comparison_to_dict

        return comparison_to_dict(self)

    def to_markdown(self) -> str:
        """The tables ``tflkit compare`` prints, in GitHub Markdown (every tensor listed)."""
        from tflkit.render import comparison_markdown

        return comparison_markdown(self)

    def plot(self, path: str | os.PathLike[str]) -> None:
        """Write a PNG with bars for size, latency and accuracy or agreement of each model.

        Needs matplotlib (``pip install 'tflkit[plot]'``). Written to a temporary file and
        renamed: a failure leaves nothing behind.
        """
        from tflkit._plot import plot_comparison

        plot_comparison(self, path)

    def to_explorer(self, directory: str | os.PathLike[str]) -> list[ExplorerFile]:
        """Write Model Explorer node data of the per-tensor errors into ``directory``.

        For each compared model ``<stem>.snr.json``, ``<stem>.rmse.json`` and
        ``<stem>.max_abs.json`` (the values of ``per_tensor``, keyed by the tensor names
        the model's operators write; non-finite values left out), and the reference's value
        range (max - min) per tensor as ``<reference stem>.range.json``. View one with
        ``model-explorer int8.tflite --node_data_paths=DIR/int8.snr.json``
        (``pip install 'tflkit[explorer]'``); writing needs no extra package.

        Returns:
            One ``tflkit.ExplorerFile`` per file written (``path``, ``model``, ``metric``,
            ``tensors``, and the ``nonfinite`` tensors left out), in the order written.

        Raises:
            InputError: the comparison has no per-tensor errors, or ``directory`` exists and is
                not a folder.
        """
        from tflkit._explorer import write_explorer

        return write_explorer(self, directory)

    def to_html(self, path: str | os.PathLike[str] | None = None) -> str:
        """One self-contained HTML page: the models (inputs and outputs with their scales and
        zero points), their checks, the tables of ``tflkit compare`` and, with per-tensor
        errors, a sortable table and a chart along the graph. No network, no server.

        Written atomically to ``path`` when given; the page is returned either way.
        """
        from tflkit.render.html import comparison_html, write_html

        page = comparison_html(self, **_html_context(self))
        if path is not None:
            write_html(page, path)
        return page

    def _repr_html_(self) -> str:
        """Jupyter shows a Comparison as its report."""
        from tflkit.render.html import comparison_html

        return comparison_html(self, **_html_context(self), fragment=True)


def _html_context(c: Comparison) -> dict[str, Any]:
    """What the page shows beside the comparison: each model read again from its file (its
    inputs and outputs, its graph order) and checked with the profile of its kind, where it has
    one (int8, int16x8, float16). A model given as bytes, or a Keras / SavedModel reference,
    is shown without."""
    from tflkit.checks import check
    from tflkit.checks.profiles import PROFILES
    from tflkit.errors import TflkitError
    from tflkit.loader import load

    models, reports = {}, []
    for m in c.models:
        if m.path is None:
            continue
        try:
            model = load(m.path)
        except (TflkitError, OSError):  # a Keras source, or moved since: shown without
            continue
        models[m.name] = model
        if m.kind in PROFILES:
            reports.append((m.name, check(model, m.kind)))
    return {"models": models, "reports": reports}
