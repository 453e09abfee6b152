"""Model Explorer node data from a comparison: per-tensor errors and ranges on the graph.

``Comparison.to_explorer(dir)`` and ``tflkit compare --explorer DIR`` write, for each compared
model, one node-data file per metric (``<stem>.snr.json``, ``<stem>.rmse.json``,
``<stem>.max_abs.json``: the numbers of ``--per-tensor``) and the reference's value range per
tensor (``<reference stem>.range.json``). Open one with
``model-explorer int8.tflite --node_data_paths=DIR/int8.snr.json``.

The files are plain JSON built here: writing them needs no Model Explorer package. Their shape
is the one ``GraphNodeData.to_json_string`` writes (ai-edge-model-explorer 0.1.34,
``model_explorer/node_data_builder.py`` lines 50-153; google-ai-edge/model-explorer
``src/server/package/src/model_explorer/node_data_builder.py`` at a6b260d71956): ``results``
keyed by a node's output tensor name, each ``{"value": number}``, and a ``gradient`` whose stop 0
is the smallest value and stop 1 the largest. The web app takes a file with a top-level
``results`` as the data of the graph on screen (``getNodeDataProviderData`` in the wheel's
``web_app/main-*.js``), so no graph id is needed.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from tflkit.errors import InputError, TflkitError

if TYPE_CHECKING:
    from tflkit._results import Comparison

__all__ = [
    "METRICS",
    "ExplorerFile",
    "documents",
    "node_data",
    "write_explorer",
]

# Colours of the gradient: low SNR or high error red, the best green (Material palette).
_RED, _YELLOW, _GREEN = "#d93025", "#fbbc04", "#34a853"
_LIGHT, _BLUE = "#e8f0fe", "#1967d2"


@dataclass(frozen=True, slots=True)
class _Metric:
    key: str  # the file's middle name: int8.snr.json
    field: str  # TensorError's attribute, also the key of --per-tensor's JSON
    title: str
    higher_is_better: bool


#: The metrics written per compared model, in file order.
METRICS = (
    _Metric("snr", "snr_db", "SNR (dB)", True),
    _Metric("rmse", "rmse", "RMSE", False),
    _Metric("max_abs", "max_abs", "max abs error", False),
)


@dataclass(frozen=True, slots=True)
class ExplorerFile:
    """One Model Explorer node-data file that ``Comparison.to_explorer`` wrote
    (``tflkit.ExplorerFile``; ``tflkit compare --explorer DIR --json`` lists them under
    ``"explorer"`` in the shape of ``to_dict``).

    Attributes:
        path: where it was written (``DIR/<model stem>.<metric>.json``).
        model: the name of the model it colours (the reference's for ``"range"``).
        metric: ``"snr"`` (dB), ``"rmse"``, ``"max_abs"`` (against the reference's tensors,
            as ``per_tensor``) or ``"range"`` (max - min of the reference's tensors).
        tensors: how many tensors it gives a value.
        nonfinite: the tensors left out because their value is NaN or infinite (an SNR of
            identical tensors is infinite: JSON and the gradient need a finite number).

    Example:
        >>> files = tflkit.compare(paths, x, per_tensor=True).to_explorer("nodes")
        >>> [f.path for f in files if f.metric == "snr"]
        ['nodes/mlp_int8.snr.json']
    """

    path: str
    model: str
    metric: str
    tensors: int
    nonfinite: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "model": self.model,
            "metric": self.metric,
            "tensors": self.tensors,
            "nonfinite": list(self.nonfinite),
        }


def _gradient(colours: Sequence[str]) -> list[dict[str, Any]]:
    last = len(colours) - 1
    return [{"stop": i / last, "bgColor": c} for i, c in enumerate(colours)]


def node_data(
    name: str, values: Iterable[tuple[str, float]], colours: Sequence[str]
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """A ``GraphNodeData`` document (every field, as ``to_json_string`` writes it) and the
    names left out because their value is not finite. ``colours`` run from the smallest value
    (stop 0) to the largest (stop 1)."""
    results: dict[str, dict[str, float]] = {}
    left_out: list[str] = []
    for key, value in values:
        if key in results:
            continue
        if math.isfinite(value):
            results[key] = {"value": float(value)}
        else:
            left_out.append(key)
    doc = {
        "results": results,
        "name": name,
        "thresholds": [],
        "gradient": _gradient(colours),
        "hideInAggregatedStatsTable": False,
        "hideInChildrenStatsTable": False,
        "showExpandedSummaryOnGroupNode": False,
        "showLabelCountColumnsInChildrenStatsTable": False,
    }
    return doc, tuple(left_out)


def _stem(name: str) -> str:
    """A file stem from a display name: "int8" stays, "int8 [1]" -> "int8_1"."""
    return re.sub(r"[^\w.-]+", "_", name).strip("_.") or "model"


def _operator_outputs(path: str | None) -> set[str] | None:
    """The names of the tensors the operators of subgraph 0 write: the keys Model Explorer
    matches (a node's output tensor names); None when the model has no file to read."""
    if path is None or not os.path.isfile(path):
        return None
    from tflkit.loader import load

    try:
        model = load(path)
    except TflkitError:  # not a .tflite (a Keras reference): its names are not checked
        return None
    return set(model.subgraphs[0].operator_output_names())


def documents(c: Comparison) -> list[tuple[str, str, str, dict[str, Any], tuple[str, ...]]]:
    """(file name, model, metric, document, names left out) for every file ``write_explorer``
    writes, computed before anything is written."""
    if c.per_tensor is None:
        raise InputError(
            "the comparison has no per-tensor errors: tflkit.compare(..., per_tensor=True) "
            "(tflkit compare --per-tensor) computes them; compare_stream and "
            "tflkit.ray.compare do not"
        )
    by_name = {m.name: m for m in c.models}
    reference = c.models[c.reference]
    stems: dict[str, str] = {}
    for m in c.models:  # one stem per model, unique after the characters are replaced
        stem = _stem(m.name)
        while stem in stems.values():
            stem += "_"
        stems[m.name] = stem
    out: list[tuple[str, str, str, dict[str, Any], tuple[str, ...]]] = []
    for per in c.per_tensor:
        model = by_name.get(per.model)
        keep = _operator_outputs(model.path if model else None)
        tensors = [t for t in per.tensors if keep is None or t.name in keep]
        stem = stems.get(per.model, _stem(per.model))
        for metric in METRICS:
            colours = (
                (_RED, _YELLOW, _GREEN) if metric.higher_is_better else (_GREEN, _YELLOW, _RED)
            )
            title = f"{metric.title} of {per.model} vs {reference.name}"
            values = [(t.name, float(getattr(t, metric.field))) for t in tensors]
            doc, left = node_data(title, values, colours)
            out.append((f"{stem}.{metric.key}.json", per.model, metric.key, doc, left))
    ranges = c.reference_ranges or ()
    keep = _operator_outputs(reference.path)
    spans = [(name, hi - lo) for name, lo, hi in ranges if keep is None or name in keep]
    title = f"value range (max - min) of {reference.name}"
    doc, left = node_data(title, spans, (_LIGHT, _BLUE))
    out.append((f"{stems[reference.name]}.range.json", reference.name, "range", doc, left))
    return out


def write_explorer(c: Comparison, directory: str | os.PathLike[str]) -> list[ExplorerFile]:
    """Write the node-data files of ``c`` into ``directory`` (made if missing), all or none:
    every document is built, then every file written to a temporary name, then all renamed
    (``atomic_write_all``): a full disk leaves every file in it as it was."""
    from tflkit._files import atomic_write_all, require_directory, require_writable

    require_directory(directory, "explorer")
    docs = documents(c)  # everything computed before the first byte is written
    folder = os.fspath(directory)
    data = [json.dumps(d[3], indent=1, allow_nan=False).encode() + b"\n" for d in docs]
    paths = [os.path.join(folder, d[0]) for d in docs]
    os.makedirs(folder, exist_ok=True)
    for path in paths:  # a target that is a folder or a FIFO: named as what it is for
        require_writable(path, "explorer file")

    def writer(b: bytes) -> Callable[[IO[bytes]], None]:
        def write(f: IO[bytes]) -> None:
            f.write(b)

        return write

    atomic_write_all([(path, writer(b)) for path, b in zip(paths, data, strict=True)])
    return [
        ExplorerFile(path, model, metric, len(doc["results"]), left)
        for path, (_, model, metric, doc, left) in zip(paths, docs, strict=True)
    ]
