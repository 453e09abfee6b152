"""The machinery ``compare()``, ``compare_stream()`` and ``tflkit.ray`` share.

``setup`` opens the models and matches them with the reference; ``Tally`` runs every model on
a batch and adds up exact error sums and label hits (tallies of batches run apart merge into
the tally of one pass); ``tally_shard`` tallies one shard, here or in a Ray actor;
``shard_comparison`` is the one shard loop (the tallies made here or on Ray, merged; speed
measured here on the first slice); ``finish`` turns a tally into the ``Comparison``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tflkit._arrays import require_finite, require_samples
from tflkit._inputs import batch_size_of, take
from tflkit._metrics import OutputSums, label_hits
from tflkit._results import Comparison, ModelResult, OutputError
from tflkit._stream import paired_shards, read_shard, runner_shard
from tflkit.errors import InputError, RuntimeCrashError
from tflkit.speed import LATENCY_REPEAT, THROUGHPUT_REPEAT, ModelSpeed, measure_speed, overhead_ms

__all__ = [
    "Setup",
    "ShardTallier",
    "Tally",
    "finish",
    "label_shard",
    "model_results",
    "run_all",
    "setup",
    "shard_comparison",
    "tally_shard",
]

Array = npt.NDArray[Any]


@dataclass(slots=True)
class Setup:
    """The models of a comparison, opened, named and matched with the reference's inputs and
    outputs (``in_maps`` / ``out_maps``: reference name -> the model's own)."""

    runners: list[Any]
    names: list[str]
    reference: int
    in_maps: list[dict[str, str]]
    out_maps: list[dict[str, str]]
    notes: list[str]

    @property
    def ref(self) -> Any:
        return self.runners[self.reference]

    def feeds(self, x: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Each model's feed of inputs ``x`` (by the reference's input names)."""
        return [{m[k]: v for k, v in x.items()} for m in self.in_maps]

    def without(self, dropped: Iterable[int]) -> Setup:
        """The same comparison without the models at ``dropped`` (never the reference)."""
        gone = set(dropped)
        keep = [i for i in range(len(self.runners)) if i not in gone]
        return Setup(
            [self.runners[i] for i in keep],
            [self.names[i] for i in keep],
            keep.index(self.reference),
            [self.in_maps[i] for i in keep],
            [self.out_maps[i] for i in keep],
            self.notes,
        )


def left_out_line(crash: Exception) -> str:
    """The line, in the notes and ``Comparison.crashed``, for a model left out of an isolated
    comparison because its runtime crashed (opening it, or on the data)."""
    return f"{crash}; left out of the comparison"


def setup(
    models: Sequence[Any],
    reference: int,
    num_threads: int | None,
    names: Sequence[str] | None,
    *,
    batched: bool = False,
) -> Setup:
    """Open the models (Runners are taken as they are) and check they fit the reference.

    ``batched``: the data comes in batches (shards, Ray blocks), so the reference needs a
    batch axis.
    """
    from tflkit.runner import Runner

    if not models:
        raise InputError("compare needs at least one model")
    if not 0 <= reference < len(models):
        raise InputError(f"reference must be in 0..{len(models) - 1}, got {reference}")
    runners = [m if isinstance(m, Runner) else Runner(m, num_threads=num_threads) for m in models]
    if names is not None and len(names) != len(runners):
        raise InputError(f"{len(names)} names for {len(runners)} models")
    names = list(names) if names is not None else _display_names(runners)
    ref = runners[reference]
    if batched and ref.batch_axis is None:
        raise InputError(f"{names[reference]} has no batch axis: batched data needs one")
    notes: list[str] = []
    in_maps, out_maps = [], []
    for r, name in zip(runners, names, strict=True):
        in_maps.append(_match("input", ref.input_names, r.input_names, name, notes))
        _check_input_shapes(ref, r, in_maps[-1], name)
        out_maps.append(_match("output", ref.output_names, r.output_names, name, notes))
    return Setup(runners, names, reference, in_maps, out_maps, notes)


def _display_names(runners: Sequence[Any]) -> list[str]:
    """File base names without .tflite ("model N" for bytes); an index suffix when they repeat."""
    base = []
    for i, r in enumerate(runners):
        name = r.model.name
        if r.model.path is None:
            name = f"model {i}"
        elif name.endswith(".tflite"):
            name = name[: -len(".tflite")]
        base.append(name)
    if len(set(base)) == len(base):
        return base
    return [f"{b} [{i}]" for i, b in enumerate(base)]


def _match(
    what: str, ref_names: Sequence[str], names: Sequence[str], model: str, notes: list[str]
) -> dict[str, str]:
    """Reference input/output name -> the other model's; refuse models whose names differ."""
    if sorted(names) == sorted(ref_names):
        return {n: n for n in ref_names}
    if len(names) == 1 and len(ref_names) == 1:
        notes.append(
            f"{model}: {what} {names[0]!r} taken as the reference's {ref_names[0]!r} "
            "(one each, names differ)"
        )
        return {ref_names[0]: names[0]}
    raise InputError(
        f"{model} does not take the reference's {what}s: it has "
        f"{', '.join(repr(n) for n in names) or 'none'}, the reference has "
        f"{', '.join(repr(n) for n in ref_names) or 'none'}"
    )


def _check_input_shapes(ref: Any, other: Any, mapping: dict[str, str], model: str) -> None:
    """Same rank and the same non-batch dimensions (-1 matches anything)."""
    ref_by_name = dict(zip(ref.input_names, ref.inputs, strict=True))
    by_name = dict(zip(other.input_names, other.inputs, strict=True))
    for rn, on in mapping.items():
        a, b = ref_by_name[rn].shape_signature, by_name[on].shape_signature
        same = len(a) == len(b) and all(
            p == q or p < 0 or q < 0 for p, q in zip(a[1:], b[1:], strict=True)
        )
        if not same:
            raise InputError(
                f"{model}: input {on!r} has shape {list(b)}, the reference's {rn!r} has {list(a)}"
            )


def run_all(
    setup: Setup, x: Mapping[str, Any], *, crashed: dict[int, Exception] | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Array]]]:
    """Every model on the same inputs (x by the reference's input names): the feeds, and the
    outputs by the reference's output names; outputs of another shape are refused by name.

    ``crashed`` (isolated runs): a model other than the reference whose runtime crashes
    (RuntimeCrashError) is recorded there by index and gets empty outputs, instead of raising.
    """
    ref_outputs = setup.ref.output_names
    feeds = setup.feeds(x)
    outputs: list[dict[str, Array]] = []
    for i, (r, feed, m) in enumerate(zip(setup.runners, feeds, setup.out_maps, strict=True)):
        try:
            out = r.predict(feed)
        except RuntimeCrashError as exc:
            if crashed is None or i == setup.reference:
                raise
            crashed[i] = exc
            outputs.append({})
            continue
        got = out if isinstance(out, dict) else {r.output_names[0]: out}
        outputs.append({k: np.asarray(got[m[k]]) for k in ref_outputs})
    names, reference = setup.names, setup.reference
    for name, out in zip(names, outputs, strict=True):
        for k in ref_outputs if out else ():
            if out[k].shape != outputs[reference][k].shape:
                raise InputError(
                    f"{name}: output {k!r} has shape {out[k].shape}, the reference "
                    f"{names[reference]} gives {outputs[reference][k].shape}"
                )
    return feeds, outputs


@dataclass(slots=True)
class Tally:
    """What a comparison adds up over batches: exact error sums per model and output, label
    hits per model, the sample count and the inputs' dtypes and sample shapes. Tallies of
    batches run apart (shards, Ray blocks) ``merge`` into the tally of one pass."""

    sums: list[dict[str, OutputSums]]
    hits: list[int]
    samples: int = 0
    labelled: int = 0
    label_key: str | None = None
    inputs: list[tuple[str, str, list[int]]] | None = None

    @classmethod
    def empty(cls, setup: Setup) -> Tally:
        keys = setup.ref.output_names
        return cls(
            [{k: OutputSums() for k in keys} for _ in setup.runners], [0] * len(setup.runners)
        )

    def add(
        self, setup: Setup, x: dict[str, Any], y: Any = None, label_output: str | None = None
    ) -> None:
        """Run every model on one batch (by the reference's input names) and add it."""
        n = batch_size_of(x)
        if self.inputs is None:
            self.inputs = [
                (k, str(np.asarray(v).dtype), list(np.shape(v)[1:])) for k, v in x.items()
            ]
        _, outputs = run_all(setup, x)
        ref_out = outputs[setup.reference]
        for sums, out in zip(self.sums, outputs, strict=True):
            for k, acc in sums.items():
                acc.add(out[k], ref_out[k])
        if y is not None:
            self.label_key, hits = label_hits(setup.ref.output_names, outputs, y, n, label_output)
            for i, h in enumerate(hits or []):
                self.hits[i] += h
            self.labelled += n
        self.samples += n

    def merge(self, other: Tally) -> None:
        for mine, theirs in zip(self.sums, other.sums, strict=True):
            for k, acc in mine.items():
                acc.merge(theirs[k])
        self.hits = [a + b for a, b in zip(self.hits, other.hits, strict=True)]
        self.samples += other.samples
        self.labelled += other.labelled
        self.label_key = self.label_key or other.label_key
        self.inputs = self.inputs or other.inputs


def _shard_inputs(setup: Setup, path: Any, notes: list[str] | None) -> dict[str, Any]:
    """One shard's arrays by the reference's input names (the reference's own checks)."""
    ref = setup.ref
    raw = runner_shard(path, ref, notes)
    try:
        return dict(zip(ref.input_names, ref.input_arrays(raw), strict=True))
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from exc


def tally_shard(
    setup: Setup,
    path: Any,
    label_path: Any = None,
    *,
    batch_size: int,
    label_output: str | None,
    allow_nonfinite: bool = False,
) -> tuple[Tally, list[str]]:
    """Read one shard (and its labels) and tally it in slices of ``batch_size``: its tally
    and the notes reading it made. Runs where the shard is read (here, or in a Ray actor).
    NaN or inf in the shard or its labels is refused unless ``allow_nonfinite``."""
    notes: list[str] = []
    tally = Tally.empty(setup)
    x = _shard_inputs(setup, path, notes)
    require_finite(x, f"data {os.fspath(path)!r}", allow_nonfinite=allow_nonfinite)
    n = batch_size_of(x)
    y = label_shard(label_path, n, path) if label_path is not None else None
    if y is not None:
        require_finite(y, f"labels {os.fspath(label_path)!r}", allow_nonfinite=allow_nonfinite)
    for s in range(0, n, batch_size):
        e = min(n, s + batch_size)
        try:
            tally.add(setup, take(x, s, e), None if y is None else y[s:e], label_output)
        except InputError as exc:  # a model refused the shard's arrays: say which shard
            raise InputError(f"{path}: {exc}") from exc
    return tally, notes


def label_shard(path: Any, n: int, data: Any) -> Array:
    """One shard of labels: one array of ``n`` rows (the samples of shard ``data``)."""
    y_raw = read_shard(path, ["labels"])
    if isinstance(y_raw, (dict, list)):
        values = list(y_raw.values()) if isinstance(y_raw, dict) else y_raw
        if len(values) != 1:
            raise InputError(f"{path}: expected one array of labels, found {len(values)}")
        y_raw = values[0]
    y = np.asarray(y_raw)
    if y.ndim == 0 or y.shape[0] != n:
        raise InputError(
            f"{path}: {y.shape[0] if y.ndim else 0} labels for the {n} samples of {Path(data).name}"
        )
    return y


#: Tallies shards elsewhere (``tflkit.ray``: on actors): given the (data shard, label shard or
#: None) pairs, yields each shard's ``tally_shard`` result as it finishes.
ShardTallier = Callable[[list[tuple[Path, Path | None]]], Iterable[tuple[Tally, list[str]]]]


def shard_comparison(
    setup: Setup,
    data: str | os.PathLike[str],
    labels: str | os.PathLike[str] | None,
    *,
    batch_size: int,
    label_output: str | None,
    speed: bool,
    latency_repeat: int = LATENCY_REPEAT,
    throughput_repeat: int = THROUGHPUT_REPEAT,
    tallier: ShardTallier | None = None,
    allow_nonfinite: bool = False,
) -> Comparison:
    """The shard loop of ``compare_stream`` and ``tflkit.ray.compare_shards``.

    Every shard of ``data`` (with its label shard) is tallied here one after the other, or by
    ``tallier``; the tallies are merged exactly, the notes kept once each. Speed, when asked,
    is measured here on the first slice of the first shard with samples, and a note says so.

    Raises:
        InputError: as ``tally_shard``; no samples in any shard.
    """
    files, label_files = paired_shards(data, labels)
    jobs = [(f, None if label_files is None else label_files[i]) for i, f in enumerate(files)]
    parts = (
        (
            tally_shard(
                setup,
                f,
                lf,
                batch_size=batch_size,
                label_output=label_output,
                allow_nonfinite=allow_nonfinite,
            )
            for f, lf in jobs
        )
        if tallier is None
        else tallier(jobs)
    )
    tally = Tally.empty(setup)
    notes: list[str] = []
    for part, part_notes in parts:
        tally.merge(part)
        notes += [n for n in part_notes if n not in notes]
    require_samples(tally.samples, f"data {os.fspath(data)!r} ({len(files)} shards)")
    setup.notes += notes
    speeds = None
    if speed and tally.samples:
        first, x = next((f, x) for f in files if batch_size_of(x := _shard_inputs(setup, f, None)))
        count = min(batch_size_of(x), batch_size)
        speeds = measure_speed(
            setup.runners,
            setup.feeds(take(x, 0, count)),
            count,
            latency_repeat=latency_repeat,
            throughput_repeat=throughput_repeat,
        )
        where = ("the first shard" if first == files[0] else "the first shard with samples") + (
            "" if tallier is None else ", on this machine"
        )
        setup.notes.append(
            f"speed measured on the first {count} samples of {first.name} only ({where})"
        )
    plural = "s" if len(files) != 1 else ""
    return finish(setup, tally, f"{os.fspath(data)} ({len(files)} shard{plural})", speeds)


def model_results(
    setup: Setup,
    errors: Sequence[tuple[OutputError, ...]],
    accuracies: Sequence[float] | None,
    speeds: Sequence[ModelSpeed] | None,
) -> list[ModelResult]:
    """One ModelResult per model: sizes, errors, accuracy and speed relative to the reference."""
    from tflkit.kinds import quantization_kind

    runners, reference = setup.runners, setup.reference
    ref_size = runners[reference].model.size_bytes
    ref_speed = speeds[reference] if speeds else None
    results = []
    for i, (r, name) in enumerate(zip(runners, setup.names, strict=True)):
        s = speeds[i] if speeds else None
        acc = accuracies[i] if accuracies else None
        results.append(
            ModelResult(
                name=name,
                path=r.model.path,
                kind=quantization_kind(r.model),
                size_bytes=r.model.size_bytes,
                size_ratio=r.model.size_bytes / ref_size,  # a valid model is never empty
                accuracy=acc,
                accuracy_delta=(acc - accuracies[reference])
                if accuracies and acc is not None
                else None,
                outputs=errors[i],
                latency=s.latency if s else None,
                latency_speedup=_speedup(ref_speed, s, "latency"),
                samples_per_second=s.samples_per_second if s else None,
                throughput_speedup=_speedup(s, ref_speed, "samples_per_second"),
                batching=r.batching,
                invoke=s.invoke if s else None,
                invoke_speedup=_speedup(ref_speed, s, "invoke"),
                overhead_ms=overhead_ms(s.latency, s.invoke) if s else None,
                invoke_samples_per_second=s.invoke_samples_per_second if s else None,
                invoke_throughput_speedup=_speedup(s, ref_speed, "invoke_samples_per_second"),
            )
        )
    return results


def _speedup(a: ModelSpeed | None, b: ModelSpeed | None, field: str) -> float | None:
    """``a``'s figure over ``b``'s, None when either is unknown: for a latency (its median;
    None at 0) pass (reference, model), for a rate (None at 0) pass (model, reference)."""
    x = getattr(a, field) if a is not None else None
    y = getattr(b, field) if b is not None else None
    if x is None or y is None:
        return None
    if isinstance(x, float):  # a rate
        return x / y if x and y else None
    return float(x.p50_ms / y.p50_ms) if y.p50_ms > 0 else None


def finish(
    setup: Setup, tally: Tally, data: str, speeds: Sequence[ModelSpeed] | None
) -> Comparison:
    """The Comparison of a tallied run (the errors, accuracies and sample count from the sums);
    refuses a run without samples (no evidence is not a perfect match)."""
    if tally.samples == 0:
        raise InputError(f"{data}: no samples: an empty comparison measures nothing")
    ref = setup.ref
    errors = [tuple(sums[k].output_error(k) for k in ref.output_names) for sums in tally.sums]
    accuracies = [h / tally.labelled for h in tally.hits] if tally.labelled else None
    lines = [f"{k}: {dtype} {[tally.samples, *rest]}" for k, dtype, rest in tally.inputs or []]
    return Comparison(
        models=tuple(model_results(setup, errors, accuracies, speeds)),
        reference=setup.reference,
        samples=tally.samples,
        data=data,
        inputs=tuple(lines),
        label_output=tally.label_key,
        per_tensor=None,
        notes=tuple(setup.notes),
    )
