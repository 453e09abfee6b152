"""``compare()``: size, accuracy, agreement, error and speed of models side by side.

The first model (or ``reference=``) is the yardstick, usually the float32 conversion; the others
are its quantized conversions. Every model runs the same inputs through ``tflkit.Runner``, its
outputs dequantized to float32; errors are computed in float64 against the reference's outputs,
or against ``reference_outputs`` given as arrays (a framework's own outputs on the same data).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tflkit._inputs import batch_size_of, random_inputs, read_arrays, take
from tflkit.errors import InputError
from tflkit.model import ModelLike
from tflkit.speed import Latency, overhead_ms

__all__ = [
    "Comparison",
    "ModelResult",
    "OutputError",
    "OutputSums",
    "TensorError",
    "PerTensor",
    "compare",
    "compare_stream",
]

Array = npt.NDArray[Any]

DEFAULT_SAMPLES = 256  # drawn when no data is given
PER_TENSOR_SAMPLES = 64  # samples run with every intermediate tensor kept
#: Comparison.reference_outputs when they were given as arrays, not read from a file.
GIVEN_ARRAYS = "given arrays"


@dataclass(frozen=True, slots=True)
class OutputError:
    """How far one output of a model is from the reference's, on the same inputs.

    ``top1_agreement`` is the fraction of argmax positions (over the last axis) equal to the
    reference's, for outputs with a class axis of 2 or more, else None. ``snr_db`` is
    ``10 log10(sum(ref^2) / sum((out - ref)^2))``: infinite when the outputs are identical.
    ``mse`` is the mean of ``(out - ref)^2`` (``rmse`` squared, kept apart for rounding).
    """

    name: str
    top1_agreement: float | None
    max_abs: float
    mean_abs: float
    rmse: float
    snr_db: float
    mse: float = math.nan


@dataclass(frozen=True, slots=True)
class ModelResult:
    """One model's row of the comparison. Speed fields are None when speed was not measured.

    Two latencies of one sample: ``invoke``, the runtime's ``invoke()`` alone, answers "is this
    model faster on this machine?" (``invoke_speedup``: the reference's p50 / this one's);
    ``latency``, the whole ``Runner.predict`` call, is what an app pays per call. Their
    difference at the median, ``overhead_ms``, is the Runner's own work (quantize, dequantize,
    copies, Python). ``invoke`` is None for a signature on another subgraph than 0.
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


# ---------------------------------------------------------------------------- compare


def compare(
    models: Sequence[ModelLike | Any],
    x: Any = None,
    y: Any = None,
    *,
    reference: int = 0,
    samples: int | None = None,
    seed: int = 0,
    num_threads: int | None = None,
    label_output: str | None = None,
    speed: bool = True,
    latency_repeat: int = 30,
    throughput_repeat: int = 5,
    per_tensor: bool = False,
    data: str | None = None,
    reference_outputs: Any = None,
    names: Sequence[str] | None = None,
) -> Comparison:
    """Run models on the same inputs and compare them with the reference.

    Args:
        models: paths, bytes, ``tflkit.Model`` or ``Runner`` objects (two or more; one is
            allowed).
        x: inputs as for ``Runner.predict`` (array, list or dict by the reference's input names);
            None draws ``samples`` (default 256) seeded random samples from each input's
            quantized range (a quantized model's range is used for the float models too).
        y: labels for top-1 accuracy: class indices, shape (n,), or one-hot, shape (n, classes).
        reference: index of the model the others are compared with.
        samples: use the first ``samples`` samples of ``x`` (or draw that many).
        seed: seed for drawn inputs.
        num_threads: threads for each model's runtime.
        label_output: the output ``y`` labels (default: the reference's first output).
        speed: measure per-sample latency (the runtime's invoke alone and the whole predict
            call) and batched throughput, interleaved across models.
        latency_repeat: single-sample calls (and invokes) timed per model (after two warm-up
            calls).
        throughput_repeat: whole-batch calls timed per model (median taken).
        per_tensor: also compare every intermediate tensor present in both models by name.
        data: what to call the data in reports (e.g. its file name).
        names: what to call the models in reports (default: their file names).
        reference_outputs: the outputs to measure every model's errors against, instead of
            the reference model's: an array (a single-output model), a dict by output name
            (the reference model's output names), or the path of a .npy / .npz file holding
            them. One row per sample of the data, each output's shape as the models give it
            (the first ``samples`` rows are taken when the arrays cover all of ``x``). Size,
            speed and accuracy stay relative to the reference model; per-tensor errors too.

    Returns:
        A Comparison; ``models[i].outputs`` holds model i's errors per output.

    Raises:
        InputError: models whose inputs or outputs do not match the reference's (names,
            shapes), bad labels, an out-of-range reference, reference outputs that miss an
            output or do not have its shape or the data's number of samples.

    Example:
        >>> c = tflkit.compare(["m_int8.tflite"], x, reference_outputs=keras_model.predict(x))
        >>> c.models[0].outputs[0].snr_db
        41.2
    """
    if not models:
        raise InputError("compare needs at least one model")
    source = None  # a Keras model or SavedModel as the reference: its outputs, through TF
    if reference == 0 and len(models) > 1 and _is_source(models[0]):
        if reference_outputs is not None:
            raise InputError("a source model and reference_outputs: give one reference")
        source, models = models[0], list(models[1:])
    if not 0 <= reference < len(models):
        raise InputError(f"reference must be in 0..{len(models) - 1}, got {reference}")
    read_refs: dict[str, Array] | Array | None = None
    given_refs: dict[str, Array] | None = None
    refs_source: str | None = None
    if reference_outputs is not None:
        refs_source, read_refs = _read_reference_outputs(reference_outputs)
    setup = _setup(models, reference, num_threads, names)
    runners, names, notes = setup.runners, setup.names, setup.notes
    in_maps, out_maps, ref = setup.in_maps, setup.out_maps, setup.ref

    n_data: int | None = None  # samples in the data given, before ``samples`` cuts them
    if x is None:
        ranges: dict[str, tuple[float, float]] = {}
        for r, m in zip(runners, in_maps, strict=True):
            ref_names = {v: k for k, v in m.items()}
            for t, name in zip(r.inputs, r.input_names, strict=True):
                if t.real_range is not None:
                    ranges.setdefault(ref_names[name], t.real_range)
        n = samples if samples is not None else DEFAULT_SAMPLES
        x, lines = random_inputs(
            ref.inputs,
            ref.input_names,
            n,
            seed=seed,
            ranges=ranges,
            hint="give --data",
            batch_axis=ref.batch_axis,
        )
        description = data or f"random inputs, seed {seed}"
    else:
        # The reference's own argument handling (array, list or dict, with its messages).
        x = dict(zip(ref.input_names, ref.input_arrays(x), strict=True))
        n_data = batch_size_of(x) if ref.batch_axis is not None else 1
        if samples is not None and ref.batch_axis is not None:
            x = take(x, 0, samples)
        lines = [f"{k}: {np.asarray(v).dtype} {list(np.shape(v))}" for k, v in x.items()]
        description = data or "given arrays"
    # A model without a batch axis runs its inputs in one call: one "sample"
    whole = ref.batch_axis is None
    n = 1 if whole else batch_size_of(x)
    if source is not None:
        from tflkit._source import source_outputs

        read_refs = source_outputs(source, x, ref.output_names)
        refs_source = f"{_source_name(source)} (run through TensorFlow)"
    if read_refs is not None:
        given_refs = _reference_samples(
            read_refs, ref.output_names, n, n if n_data is None else n_data, whole, notes
        )

    feeds, outputs = _run_all(runners, x, in_maps, out_maps, names, reference)
    against = outputs[reference]
    if given_refs is not None:
        for k in ref.output_names:
            want, shape = outputs[reference][k].shape, given_refs[k].shape
            if shape != want:
                raise InputError(
                    f"reference outputs: output {k!r}: expected shape {want} (what "
                    f"{names[reference]} gives), got {shape}"
                )
        against = given_refs
        if per_tensor:
            notes.append(
                f"per-tensor errors are against {names[reference]}'s tensors: reference "
                "outputs hold the outputs only"
            )

    label_key, accuracies = _accuracies(ref, outputs, y, n, label_output)

    latencies: list[Latency | None] = [None] * len(runners)
    invokes: list[Latency | None] = [None] * len(runners)
    throughputs: list[float | None] = [None] * len(runners)
    if speed and n > 0:
        latencies, invokes, throughputs = _measure_speed(
            runners, feeds, n, latency_repeat, throughput_repeat, whole=whole
        )

    errors = [
        tuple(_output_error(k, out[k], against[k]) for k in ref.output_names) for out in outputs
    ]
    results = _model_results(
        runners, names, reference, errors, accuracies, latencies, invokes, throughputs
    )

    per = None
    if per_tensor:
        count = min(n, PER_TENSOR_SAMPLES)
        traced = [
            r.intermediates(f if whole else take(f, 0, count))
            for r, f in zip(runners, feeds, strict=True)
        ]
        per = tuple(
            _per_tensor(names[i], traced[i], traced[reference], count, names[reference])
            for i in range(len(runners))
            if i != reference
        )
    return Comparison(
        models=tuple(results),
        reference=reference,
        samples=n,
        data=description,
        inputs=tuple(lines),
        label_output=label_key,
        per_tensor=per,
        notes=tuple(notes),
        reference_outputs=refs_source,
    )


def _model_results(
    runners: Sequence[Any],
    names: Sequence[str],
    reference: int,
    errors: Sequence[tuple[OutputError, ...]],
    accuracies: Sequence[float] | None,
    latencies: Sequence[Latency | None],
    invokes: Sequence[Latency | None],
    throughputs: Sequence[float | None],
) -> list[ModelResult]:
    """One ModelResult per model: sizes, errors, accuracy and speed relative to the reference."""
    from tflkit.kinds import quantization_kind

    ref_size = runners[reference].model.size_bytes
    ref_lat, ref_inv, ref_thr = latencies[reference], invokes[reference], throughputs[reference]
    results = []
    for i, (r, name) in enumerate(zip(runners, names, strict=True)):
        lat, inv, thr = latencies[i], invokes[i], throughputs[i]
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
                latency=lat,
                latency_speedup=(
                    ref_lat.p50_ms / lat.p50_ms if lat and ref_lat and lat.p50_ms > 0 else None
                ),
                samples_per_second=thr,
                throughput_speedup=thr / ref_thr if thr and ref_thr else None,
                batching=r.batching,
                invoke=inv,
                invoke_speedup=(
                    ref_inv.p50_ms / inv.p50_ms if inv and ref_inv and inv.p50_ms > 0 else None
                ),
                overhead_ms=overhead_ms(lat, inv),
            )
        )
    return results


def compare_stream(
    models: Sequence[ModelLike | Any],
    data: str | os.PathLike[str],
    labels: str | os.PathLike[str] | None = None,
    *,
    reference: int = 0,
    num_threads: int | None = None,
    label_output: str | None = None,
    speed: bool = True,
    latency_repeat: int = 30,
    throughput_repeat: int = 5,
    batch_size: int = 4096,
    names: Sequence[str] | None = None,
) -> Comparison:
    """``compare()`` over shards that need not fit in memory, one slice at a time.

    Errors and accuracy are accumulated exactly (counts and float64 sums, ``OutputSums``), so
    the result equals ``compare()`` on the concatenated data (to float64 summation order).
    Speed is measured on the first slice of the first shard only; a note says so.

    Args:
        models: as for ``compare()`` (tflite models or Runners; no Keras source).
        data: a directory of .npy/.npz/.parquet shards, a glob pattern, or one file.
        labels: shards of class labels, matched to the data's shards in sorted order.
        reference, num_threads, label_output, speed, latency_repeat, throughput_repeat, names:
            as for ``compare()``.
        batch_size: samples run per predict call (a few such slices are held in memory).

    Returns:
        A Comparison; ``samples`` counts every shard's samples.

    Raises:
        InputError: a shard that cannot be read (named), label shards that do not pair with
            the data's, or inputs and outputs that do not match, as for ``compare()``.

    Example:
        >>> c = tflkit.compare_stream(["m_f32.tflite", "m_int8.tflite"], "eval/*.npy")
        >>> c.models[1].outputs[0].snr_db
    """
    from tflkit._stream import paired_shards

    setup = _setup(models, reference, num_threads, names, batched=True)
    files, label_files = paired_shards(data, labels)
    tally = _Tally.empty(setup)
    timing: tuple[list[Latency | None], list[Latency | None], list[float | None]] | None = None
    for i, f in enumerate(files):
        label_file = label_files[i] if label_files is not None else None
        for feeds, count in _tally_shard(
            setup, tally, f, label_file, batch_size=batch_size, label_output=label_output
        ):
            if speed and timing is None and count > 0:
                timing = _measure_speed(
                    setup.runners, feeds, count, latency_repeat, throughput_repeat
                )
                setup.notes.append(
                    f"speed measured on the first {count} samples of {f.name} only "
                    "(the first shard)"
                )
    plural = "s" if len(files) != 1 else ""
    return _finish(setup, tally, f"{os.fspath(data)} ({len(files)} shard{plural})", timing)


@dataclass(slots=True)
class _Setup:
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


def _setup(
    models: Sequence[Any],
    reference: int,
    num_threads: int | None,
    names: Sequence[str] | None,
    *,
    batched: bool = False,
) -> _Setup:
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
    return _Setup(runners, names, reference, in_maps, out_maps, notes)


@dataclass(slots=True)
class _Tally:
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
    def empty(cls, setup: _Setup) -> _Tally:
        keys = setup.ref.output_names
        return cls(
            [{k: OutputSums() for k in keys} for _ in setup.runners], [0] * len(setup.runners)
        )

    def add(
        self, setup: _Setup, x: dict[str, Any], y: Any = None, label_output: str | None = None
    ) -> list[dict[str, Any]]:
        """Run every model on one batch (by the reference's input names) and add it; the
        feeds each model got."""
        n = batch_size_of(x)
        if self.inputs is None:
            self.inputs = [
                (k, str(np.asarray(v).dtype), list(np.shape(v)[1:])) for k, v in x.items()
            ]
        feeds, outputs = _run_all(
            setup.runners, x, setup.in_maps, setup.out_maps, setup.names, setup.reference
        )
        ref_out = outputs[setup.reference]
        for sums, out in zip(self.sums, outputs, strict=True):
            for k, acc in sums.items():
                acc.add(out[k], ref_out[k])
        if y is not None:
            self.label_key, hits = _label_hits(setup.ref, outputs, y, n, label_output)
            for i, h in enumerate(hits or []):
                self.hits[i] += h
            self.labelled += n
        self.samples += n
        return feeds

    def merge(self, other: _Tally) -> None:
        for mine, theirs in zip(self.sums, other.sums, strict=True):
            for k, acc in mine.items():
                acc.merge(theirs[k])
        self.hits = [a + b for a, b in zip(self.hits, other.hits, strict=True)]
        self.samples += other.samples
        self.labelled += other.labelled
        self.label_key = self.label_key or other.label_key
        self.inputs = self.inputs or other.inputs


def _tally_shard(
    setup: _Setup,
    tally: _Tally,
    path: Any,
    label_path: Any = None,
    *,
    batch_size: int,
    label_output: str | None,
) -> Iterator[tuple[list[dict[str, Any]], int]]:
    """Read one shard (and its labels), add it to ``tally`` in slices of ``batch_size``;
    yields each slice's feeds and size (the caller may time the first)."""
    from tflkit._stream import read_shard

    ref = setup.ref
    shapes = {
        n: list(t.shape_signature[1:]) for n, t in zip(ref.input_names, ref.inputs, strict=True)
    }
    tensor_names = [t.name for t in ref.inputs]
    raw = read_shard(
        path, ref.input_names, shapes=shapes, tensor_names=tensor_names, notes=setup.notes
    )
    try:
        x = dict(zip(ref.input_names, ref.input_arrays(raw), strict=True))
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from exc
    n = batch_size_of(x)
    y = _label_shard(label_path, n, path) if label_path is not None else None
    for s in range(0, n, batch_size):
        e = min(n, s + batch_size)
        part = take(x, s, e)
        try:
            feeds = tally.add(setup, part, None if y is None else y[s:e], label_output)
        except InputError as exc:  # a model refused the shard's arrays: say which shard
            raise InputError(f"{path}: {exc}") from exc
        yield feeds, e - s


def _label_shard(path: Any, n: int, data: Any) -> Array:
    """One shard of labels: one array of ``n`` rows (the samples of shard ``data``)."""
    from pathlib import Path

    from tflkit._stream import read_shard

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


def _finish(
    setup: _Setup,
    tally: _Tally,
    data: str,
    timing: tuple[list[Latency | None], list[Latency | None], list[float | None]] | None,
) -> Comparison:
    """The Comparison of a tallied run (the errors, accuracies and sample count from the sums)."""
    runners, ref = setup.runners, setup.ref
    none: list[Any] = [None] * len(runners)
    latencies, invokes, throughputs = timing or (none, none, none)
    errors = [tuple(sums[k].output_error(k) for k in ref.output_names) for sums in tally.sums]
    accuracies = [h / tally.labelled for h in tally.hits] if tally.labelled else None
    results = _model_results(
        runners, setup.names, setup.reference, errors, accuracies, latencies, invokes, throughputs
    )
    lines = [f"{k}: {dtype} {[tally.samples, *rest]}" for k, dtype, rest in tally.inputs or []]
    return Comparison(
        models=tuple(results),
        reference=setup.reference,
        samples=tally.samples,
        data=data,
        inputs=tuple(lines),
        label_output=tally.label_key,
        per_tensor=None,
        notes=tuple(setup.notes),
    )


def _is_source(model: Any) -> bool:
    from tflkit._source import is_source_model

    return is_source_model(model)


def _source_name(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.path.basename(os.path.normpath(os.fspath(source)))
    return f"Keras model {getattr(source, 'name', '')!r}"


def _run_all(
    runners: Sequence[Any],
    x: Mapping[str, Any],
    in_maps: Sequence[dict[str, str]],
    out_maps: Sequence[dict[str, str]],
    names: Sequence[str],
    reference: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Array]]]:
    """Every model on the same inputs (x by the reference's input names): the feeds, and the
    outputs by the reference's output names; outputs of another shape are refused by name."""
    ref_outputs = runners[reference].output_names
    feeds = [{m[k]: v for k, v in x.items()} for m in in_maps]
    outputs: list[dict[str, Array]] = []
    for r, feed, m in zip(runners, feeds, out_maps, strict=True):
        out = r.predict(feed)
        got = out if isinstance(out, dict) else {r.output_names[0]: out}
        outputs.append({k: np.asarray(got[m[k]]) for k in ref_outputs})
    for name, out in zip(names, outputs, strict=True):
        for k in ref_outputs:
            if out[k].shape != outputs[reference][k].shape:
                raise InputError(
                    f"{name}: output {k!r} has shape {out[k].shape}, the reference "
                    f"{names[reference]} gives {outputs[reference][k].shape}"
                )
    return feeds, outputs


def _read_reference_outputs(given: Any) -> tuple[str, dict[str, Array] | Array]:
    """(where they came from, an array or arrays by name) from an array, a dict or a file."""
    if isinstance(given, (str, os.PathLike)):
        return os.fspath(given), read_arrays(given)
    if isinstance(given, dict):
        return GIVEN_ARRAYS, {str(k): np.asarray(v) for k, v in given.items()}
    return GIVEN_ARRAYS, np.asarray(given)


def _reference_samples(
    given: dict[str, Array] | Array,
    names: Sequence[str],
    n: int,
    n_data: int,
    whole: bool,
    notes: list[str],
) -> dict[str, Array]:
    """Reference outputs by output name, cut to the ``n`` samples compared; refuse arrays for
    no output, outputs without an array, non-numeric arrays and another number of samples."""
    listed = ", ".join(map(repr, names))
    if not isinstance(given, dict):
        if len(names) != 1:
            raise InputError(
                f"reference outputs: one array given, the models have {len(names)} outputs "
                f"({listed}): give them by output name (a dict, or a .npz)"
            )
        by_name = {names[0]: given}
    elif set(given) == set(names):
        by_name = dict(given)
    elif len(given) == 1 and len(names) == 1:
        key = next(iter(given))
        notes.append(f"reference outputs: array {key!r} taken as output {names[0]!r} (one each)")
        by_name = {names[0]: given[key]}
    else:
        missing = [k for k in names if k not in given]
        unknown = [k for k in given if k not in names]
        parts = []
        if missing:
            parts.append(f"no array for output {', '.join(map(repr, missing))}")
        if unknown:
            parts.append(f"no output named {', '.join(map(repr, unknown))}")
        raise InputError(f"reference outputs: {'; '.join(parts)}; the outputs are {listed}")
    out = {}
    for k in names:
        a = np.asarray(by_name[k])
        if a.dtype.kind not in "iufb":
            raise InputError(f"reference outputs: output {k!r}: expected numbers, got {a.dtype}")
        if not whole:
            rows = a.shape[0] if a.ndim else None
            if rows == n_data and n < n_data:
                a = a[:n]  # the first `samples` rows, as the data was cut
            elif rows != n:
                raise InputError(
                    f"reference outputs: output {k!r} has "
                    f"{'no sample axis' if rows is None else f'{rows} samples'}, "
                    f"the data has {n_data}{'' if n == n_data else f' ({n} compared)'}"
                )
        out[k] = a
    return out


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


def _accuracies(
    ref: Any, outputs: list[dict[str, Array]], y: Any, n: int, label_output: str | None
) -> tuple[str | None, list[float] | None]:
    """Top-1 accuracy of every model on labels ``y`` (None without labels)."""
    key, hits = _label_hits(ref, outputs, y, n, label_output)
    return key, None if hits is None else [h / n if n else float("nan") for h in hits]


def _label_hits(
    ref: Any, outputs: list[dict[str, Array]], y: Any, n: int, label_output: str | None
) -> tuple[str | None, list[int] | None]:
    """How many of the ``n`` samples each model labels right (argmax, or > 0.5 for one
    column), counted exactly; refuses labels that do not fit the output."""
    if y is None:
        return None, None
    key = label_output or ref.output_names[0]
    if key not in ref.output_names:
        raise InputError(
            f"label_output {key!r} is not an output; outputs: "
            f"{', '.join(map(repr, ref.output_names))}"
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

    def add(self, out: Array, ref: Array) -> None:
        """Add one batch of outputs and the reference's for the same samples."""
        a = ref.astype(np.float64, copy=False)
        d = out.astype(np.float64) - a
        if d.size:
            self.count += d.size
            ad = np.abs(d)
            self.sum_abs += float(np.sum(ad))
            self.sum_sq += float(np.sum(d * d))
            self.sum_ref_sq += float(np.sum(a * a))
            self.max_abs = max(self.max_abs, float(np.max(ad)))
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
        self.max_abs = max(self.max_abs, other.max_abs)
        self.top1_hits += other.top1_hits
        self.top1_count += other.top1_count
        if other.top1 is not None:
            self.top1 = bool(self.top1) or other.top1

    def errors(self) -> tuple[float, float, float, float, float]:
        """max abs, mean abs, RMSE, SNR (dB) and MSE from the sums."""
        if self.count == 0:
            return 0.0, 0.0, 0.0, math.inf, 0.0
        if self.sum_sq == 0:
            snr = math.inf
        elif self.sum_ref_sq == 0:
            snr = -math.inf
        else:
            snr = 10 * math.log10(self.sum_ref_sq / self.sum_sq)
        mse = self.sum_sq / self.count
        return self.max_abs, self.sum_abs / self.count, math.sqrt(mse), snr, mse

    def output_error(self, name: str) -> OutputError:
        top1 = self.top1_hits / self.top1_count if self.top1 and self.top1_count else None
        mx, mean, rmse, snr, mse = self.errors()
        return OutputError(name, top1, mx, mean, rmse, snr, mse)


def _errors(out: Array, ref: Array) -> tuple[float, float, float, float, float]:
    """max abs, mean abs, RMSE, SNR (dB) and MSE of ``out`` against ``ref``, in float64."""
    sums = OutputSums()
    sums.add(out, ref)
    return sums.errors()


def _output_error(name: str, out: Array, ref: Array) -> OutputError:
    sums = OutputSums()
    sums.add(out, ref)
    return sums.output_error(name)


def _measure_speed(
    runners: Sequence[Any],
    feeds: Sequence[dict[str, Array]],
    n: int,
    latency_repeat: int,
    throughput_repeat: int,
    *,
    whole: bool = False,
) -> tuple[list[Latency | None], list[Latency | None], list[float | None]]:
    """Per-sample latency (whole call, and invoke alone) and batched throughput, interleaved
    in rotating order; each timed call is followed by the invoke of the same sample."""
    from tflkit.errors import UnsupportedModelError

    count = len(runners)
    # one sample each; a model without a batch axis: its inputs as they are
    singles = [[f] if whole else [take(f, i, i + 1) for i in range(min(n, 16))] for f in feeds]

    def rotate(r: int) -> list[int]:
        return [(r + j) % count for j in range(count)]

    can_invoke = [True] * count
    for i, r in enumerate(runners):  # warm-up at batch 1
        for _ in range(2):
            r.predict(singles[i][0])
        try:
            r.time_invoke(singles[i][0], repeat=1)
        except UnsupportedModelError:  # a signature on another subgraph: no invoke of its own
            can_invoke[i] = False
    lat: list[list[float]] = [[] for _ in runners]
    inv: list[list[float]] = [[] for _ in runners]
    for rep in range(max(1, latency_repeat)):
        for i in rotate(rep):
            sample = singles[i][rep % len(singles[i])]
            t0 = time.perf_counter()
            runners[i].predict(sample)
            lat[i].append(time.perf_counter() - t0)
            if can_invoke[i]:
                inv[i].extend(runners[i].time_invoke(sample, repeat=1, warmup=0))
    batch: list[list[float]] = [[] for _ in runners]
    for i, r in enumerate(runners):  # warm-up at the full batch (re-allocation after resize)
        r.predict(feeds[i])
    for rep in range(max(1, throughput_repeat)):
        for i in rotate(rep):
            t0 = time.perf_counter()
            runners[i].predict(feeds[i])
            batch[i].append(time.perf_counter() - t0)
    latencies: list[Latency | None] = [Latency.of(t) for t in lat]
    invokes: list[Latency | None] = [Latency.of(t) if t else None for t in inv]
    throughputs: list[float | None] = []
    for t in batch:
        med = float(np.median(t))
        throughputs.append(n / med if med > 0 else None)
    return latencies, invokes, throughputs


def _per_tensor(
    name: str, traced: dict[str, Array], ref: dict[str, Array], samples: int, ref_name: str
) -> PerTensor:
    rows = []
    unmatched = 0
    for key, value in traced.items():
        other = ref.get(key)
        if other is None or other.shape != value.shape or value.dtype.kind not in "iufb":
            unmatched += 1
            continue
        mx, mean, rmse, snr, mse = _errors(value, other)
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
