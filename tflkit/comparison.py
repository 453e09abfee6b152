"""``compare()``: size, accuracy, agreement, error and speed of models side by side.

The first model (or ``reference=``) is the yardstick, usually the float32 conversion; the others
are its quantized conversions. Every model runs the same inputs through ``tflkit.Runner``, its
outputs dequantized to float32; errors are computed in float64 against the reference's outputs,
or against ``reference_outputs`` given as arrays (a framework's own outputs on the same data).

``compare()`` holds the data in memory, ``compare_stream()`` streams shards, and
``tflkit.ray.compare`` / ``compare_shards`` run on Ray; ``compare_files()`` chooses among them
as ``tflkit compare`` does. What they share is in ``_tally`` (models, tallies, the shard loop)
and ``_metrics`` (the numbers); the result types are in ``_results``, re-exported here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt

from tflkit._arrays import labels_array, read_arrays, require_finite, require_samples
from tflkit._inputs import batch_size_of, random_inputs, take
from tflkit._metrics import OutputSums, label_hits, output_error
from tflkit._metrics import per_tensor as per_tensor_errors
from tflkit._results import Comparison, ModelResult, OutputError, PerTensor, TensorError
from tflkit._stream import is_shard_spec
from tflkit._tally import left_out_line, model_results, run_all, setup, shard_comparison
from tflkit.errors import InputError
from tflkit.model import ModelLike
from tflkit.speed import LATENCY_REPEAT, THROUGHPUT_REPEAT, measure_speed

__all__ = [
    "Comparison",
    "ModelResult",
    "OutputError",
    "OutputSums",
    "TensorError",
    "PerTensor",
    "compare",
    "compare_files",
    "reference_is_source",
    "streams",
    "compare_stream",
]

Array = npt.NDArray[Any]

DEFAULT_SAMPLES = 256  # drawn when no data is given
PER_TENSOR_SAMPLES = 64  # samples run with every intermediate tensor kept
#: Comparison.reference_outputs when they were given as arrays, not read from a file.
GIVEN_ARRAYS = "given arrays"


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
    latency_repeat: int = LATENCY_REPEAT,
    throughput_repeat: int = THROUGHPUT_REPEAT,
    per_tensor: bool = False,
    data: str | None = None,
    reference_outputs: Any = None,
    names: Sequence[str] | None = None,
    allow_nonfinite: bool = False,
    trust_source: bool = False,
    isolated: bool = False,
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
        speed: measure per-sample latency and batched throughput (each for the runtime's
            invokes alone and for the whole predict call), interleaved across models
            (``tflkit.speed.measure_speed``).
        latency_repeat: single-sample calls (and invokes) timed per model (after two warm-up
            calls).
        throughput_repeat: whole-batch calls (and their invokes) timed per model (median
            taken).
        per_tensor: also compare every intermediate tensor present in both models by name.
        data: what to call the data in reports (e.g. its file name).
        names: what to call the models in reports (default: their file names).
        reference_outputs: the outputs to measure every model's errors against, instead of
            the reference model's: an array (a single-output model), a dict by output name
            (the reference model's output names), or the path of a .npy / .npz file holding
            them. One row per sample of the data, each output's shape as the models give it
            (the first ``samples`` rows are taken when the arrays cover all of ``x``). Size,
            speed and accuracy stay relative to the reference model; per-tensor errors too.
        allow_nonfinite: compare on data (``x``, ``y``) holding NaN or inf all the same.
        trust_source: run a SavedModel (or Keras file) reference holding ops or layers that
            reach outside the model (files, Python, the network) instead of refusing it.
            Running a SavedModel or Keras model runs its code: trust its author.
        isolated: open the models given as files or bytes with ``Runner(isolated=True)``: a
            model (not the reference) whose runtime crashes opening it or on the data is left
            out, named in ``Comparison.crashed`` and the notes, and the others are compared.

    Returns:
        A Comparison; ``models[i].outputs`` holds model i's errors per output.

    Raises:
        InputError: models whose inputs or outputs do not match the reference's (names,
            shapes), bad labels, an out-of-range reference, reference outputs that miss an
            output or do not have its shape or the data's number of samples; data without
            samples; NaN or inf in ``x`` or ``y`` (counted, the first one's index given)
            unless ``allow_nonfinite``.
        RuntimeCrashError: (isolated) the reference's runtime crashed.

    Example:
        >>> c = tflkit.compare(["m_int8.tflite"], x, reference_outputs=keras_model.predict(x))
        >>> c.models[0].outputs[0].snr_db
        41.2
    """
    source = None  # a Keras model or SavedModel as the reference: its outputs, through TF
    if reference == 0 and reference_is_source(models):
        if reference_outputs is not None:
            raise InputError("a source model and reference_outputs: give one reference")
        source, models = models[0], list(models[1:])
    crashed: dict[int, Exception] | None = None
    left_out: list[str] = []
    mine: list[Any] = []  # isolated Runners opened here: closed on return
    if isolated:
        crashed = {}
        models, names, reference = _open_isolated(
            models, names, reference, num_threads, left_out, mine
        )
    try:
        return _compare(
            models, x, y, source, reference, samples, seed, num_threads, label_output, speed,
            latency_repeat, throughput_repeat, per_tensor, data, reference_outputs, names,
            allow_nonfinite, trust_source, crashed, left_out,
        )  # fmt: skip
    finally:
        for r in mine:
            r.close()


def _compare(
    models: Sequence[ModelLike | Any],
    x: Any,
    y: Any,
    source: Any,
    reference: int,
    samples: int | None,
    seed: int,
    num_threads: int | None,
    label_output: str | None,
    speed: bool,
    latency_repeat: int,
    throughput_repeat: int,
    per_tensor: bool,
    data: str | None,
    reference_outputs: Any,
    names: Sequence[str] | None,
    allow_nonfinite: bool,
    trust_source: bool,
    crashed: dict[int, Exception] | None,
    left_out: list[str],
) -> Comparison:
    opened = setup(models, reference, num_threads, names)  # no model, a bad reference: refused
    read_refs: dict[str, Array] | Array | None = None
    given_refs: dict[str, Array] | None = None
    refs_source: str | None = None
    if reference_outputs is not None:
        refs_source, read_refs = _read_reference_outputs(reference_outputs)
    runners, names, notes, ref = opened.runners, opened.names, opened.notes, opened.ref

    n_data: int | None = None  # samples in the data given, before ``samples`` cuts them
    if x is None:
        ranges: dict[str, tuple[float, float]] = {}
        for r, m in zip(runners, opened.in_maps, strict=True):
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
            hint="give x=",
            batch_axis=ref.batch_axis,
        )
        description = data or f"random inputs, seed {seed}"
    else:
        # The reference's own argument handling (array, list or dict, with its messages).
        x = dict(zip(ref.input_names, ref.input_arrays(x), strict=True))
        n_data = batch_size_of(x) if ref.batch_axis is not None else 1
        what = f"data {data!r}" if data else "the data (x)"
        require_samples(n_data, what, x)
        if samples is not None and ref.batch_axis is not None:
            x = take(x, 0, samples)
        require_finite(x, what, allow_nonfinite=allow_nonfinite)
        lines = [f"{k}: {np.asarray(v).dtype} {list(np.shape(v))}" for k, v in x.items()]
        description = data or "given arrays"
    # A model without a batch axis runs its inputs in one call: one "sample"
    whole = ref.batch_axis is None
    n = 1 if whole else batch_size_of(x)
    if n == 0:
        raise InputError(f"{description}: no samples: an empty comparison measures nothing")
    if source is not None:
        from tflkit._source import source_outputs

        read_refs = source_outputs(source, x, ref.output_names, trust_source=trust_source)
        refs_source = f"{_source_name(source)} (run through TensorFlow)"
    if read_refs is not None:
        given_refs = _reference_samples(
            read_refs, ref.output_names, n, n if n_data is None else n_data, whole, notes
        )
        notes += _nonfinite_notes(given_refs)

    if y is not None:
        require_finite(labels_array(y), "the labels (y)", allow_nonfinite=allow_nonfinite)
    feeds, outputs = run_all(opened, x, crashed=crashed)
    if crashed:  # isolated: the models whose runtime crashed on the data are left out
        left_out += [left_out_line(crashed[i]) for i in sorted(crashed)]
        feeds = [f for i, f in enumerate(feeds) if i not in crashed]
        outputs = [o for i, o in enumerate(outputs) if i not in crashed]
        opened = opened.without(crashed)
        reference = opened.reference
        runners, names, ref = opened.runners, opened.names, opened.ref
    notes += left_out
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

    speeds = None
    if speed and n > 0:
        speeds = measure_speed(
            runners,
            feeds,
            n,
            latency_repeat=latency_repeat,
            throughput_repeat=throughput_repeat,
            whole=whole,
        )

    errors = [
        tuple(output_error(k, out[k], against[k]) for k in ref.output_names) for out in outputs
    ]
    results = model_results(opened, errors, accuracies, speeds)

    per = None
    ref_ranges: tuple[tuple[str, float, float], ...] = ()
    if per_tensor:
        count = min(n, PER_TENSOR_SAMPLES)
        traced = [
            r.intermediates(f if whole else take(f, 0, count))
            for r, f in zip(runners, feeds, strict=True)
        ]
        per = tuple(
            per_tensor_errors(names[i], traced[i], traced[reference], count, names[reference])
            for i in range(len(runners))
            if i != reference
        )
        ref_ranges = tuple(
            (k, float(np.min(v)), float(np.max(v)))
            for k, v in traced[reference].items()
            if v.size and v.dtype.kind in "iufb"
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
        crashed=tuple(left_out),
        reference_ranges=ref_ranges if per_tensor else None,
    )


def _open_isolated(
    models: Sequence[ModelLike | Any],
    names: Sequence[str] | None,
    reference: int,
    num_threads: int | None,
    left_out: list[str],
    mine: list[Any],
) -> tuple[list[Any], list[str] | None, int]:
    """Models as isolated Runners (Runners given are kept as they are): those whose runtime
    crashes opening them are left out (a line each in ``left_out``), except the reference;
    the Runners opened here are appended to ``mine``. The models, their names and the
    reference's index among them."""
    from tflkit.errors import RuntimeCrashError
    from tflkit.runner import Runner

    kept: list[Any] = []
    kept_names: list[str] | None = None if names is None else []
    new_reference = reference
    for i, m in enumerate(models):
        if isinstance(m, Runner):
            runner = m
        else:
            try:
                runner = Runner(m, num_threads=num_threads, isolated=True)
            except RuntimeCrashError as exc:
                if i == reference:
                    for r in mine:
                        r.close()
                    raise
                left_out.append(left_out_line(exc))
                if i < reference:
                    new_reference -= 1
                continue
            mine.append(runner)
        kept.append(runner)
        if kept_names is not None and names is not None:
            kept_names.append(names[i])
    return kept, kept_names, new_reference


def _nonfinite_notes(given: dict[str, Array]) -> list[str]:
    """A note for each given reference output holding NaN or inf (every error against it is
    then NaN or infinite: ``Comparison.has_nonfinite``)."""
    notes = []
    for k, a in given.items():
        if a.dtype.kind in "fc":
            nan, inf = int(np.count_nonzero(np.isnan(a))), int(np.count_nonzero(np.isinf(a)))
            if nan or inf:
                notes.append(f"reference outputs: output {k!r} holds {nan} NaN and {inf} inf")
    return notes


def _accuracies(
    ref: Any, outputs: list[dict[str, Array]], y: Any, n: int, label_output: str | None
) -> tuple[str | None, list[float] | None]:
    """Top-1 accuracy of every model on labels ``y`` (None without labels)."""
    key, hits = label_hits(ref.output_names, outputs, y, n, label_output)
    return key, None if hits is None else [h / n if n else float("nan") for h in hits]


def compare_stream(
    models: Sequence[ModelLike | Any],
    data: str | os.PathLike[str],
    labels: str | os.PathLike[str] | None = None,
    *,
    reference: int = 0,
    num_threads: int | None = None,
    label_output: str | None = None,
    speed: bool = True,
    latency_repeat: int = LATENCY_REPEAT,
    throughput_repeat: int = THROUGHPUT_REPEAT,
    batch_size: int = 4096,
    names: Sequence[str] | None = None,
    allow_nonfinite: bool = False,
) -> Comparison:
    """``compare()`` over shards that need not fit in memory, one slice at a time.

    Errors and accuracy are accumulated exactly (counts and float64 sums, ``OutputSums``), so
    the result equals ``compare()`` on the concatenated data (to float64 summation order).
    Speed is measured on the first slice of the first shard only; a note says so.

    Args:
        models: as for ``compare()`` (tflite models or Runners; no Keras source).
        data: a directory of .npy/.npz/.parquet shards, a glob pattern, or one file.
        labels: shards of class labels, matched to the data's shards in sorted order.
        reference, num_threads, label_output, speed, latency_repeat, throughput_repeat, names,
            allow_nonfinite: as for ``compare()``.
        batch_size: samples run per predict call (a few such slices are held in memory).

    Returns:
        A Comparison; ``samples`` counts every shard's samples.

    Raises:
        InputError: a shard that cannot be read (named), label shards that do not pair with
            the data's, or inputs and outputs that do not match, as for ``compare()``; NaN or
            inf in a shard (unless ``allow_nonfinite``); no samples in any shard.

    Example:
        >>> c = tflkit.compare_stream(["m_f32.tflite", "m_int8.tflite"], "eval/*.npy")
        >>> c.models[1].outputs[0].snr_db
    """
    opened = setup(models, reference, num_threads, names, batched=True)
    return shard_comparison(
        opened,
        data,
        labels,
        batch_size=batch_size,
        label_output=label_output,
        speed=speed,
        latency_repeat=latency_repeat,
        throughput_repeat=throughput_repeat,
        allow_nonfinite=allow_nonfinite,
    )


def compare_files(
    models: Sequence[ModelLike | Any],
    data: str | os.PathLike[str] | None = None,
    labels: str | os.PathLike[str] | None = None,
    *,
    samples: int | None = None,
    seed: int = 0,
    num_threads: int | None = None,
    label_output: str | None = None,
    speed: bool = True,
    per_tensor: bool = False,
    reference_outputs: str | os.PathLike[str] | None = None,
    ray: bool = False,
    address: str | None = None,
    notes: list[str] | None = None,
    allow_nonfinite: bool = False,
    trust_source: bool = False,
    isolated: bool = False,
) -> Comparison:
    """What ``tflkit compare`` does: compare models on data in files, the engine chosen by it.

    ``data`` a directory or a glob of shards: ``compare_stream`` streams them (``labels``: label
    shards paired in sorted order), on Ray actors with ``ray=True`` or an ``address``
    (``tflkit.ray.compare_shards``: a local Ray with this machine's CPUs, or the cluster at
    ``address``). Otherwise ``compare()`` in memory: ``data`` one .npy, or a .npz keyed by input
    name (None: random samples), ``labels`` one .npy; the first model may be a Keras model or a
    SavedModel (the reference, run through TensorFlow).

    Args:
        models, samples, seed, num_threads, label_output, speed, per_tensor,
            reference_outputs, allow_nonfinite: as for ``compare()``.
        notes: notes reading ``data`` made (a .npz key fed to an input of another name) are
            appended here; the caller shows them.
        trust_source, isolated: as for ``compare()`` (isolated: in memory, or shards streamed
            here; a crash while streaming shards is raised).

    Raises:
        InputError: ``ray=True`` without shards; shards with what only ``compare()`` does (a
            Keras reference, ``reference_outputs``, ``per_tensor``, ``samples``); as
            ``compare()``, ``compare_stream()`` and ``tflkit.ray.compare_shards``.
    """
    from tflkit.runner import Runner

    on_ray = ray or address is not None
    shards = data is not None and is_shard_spec(data)
    if on_ray and not shards:
        raise InputError("ray=True compares shards: give data= a directory or a glob of shards")
    if on_ray and isolated:
        raise InputError("isolated=True runs the models here: leave out ray= and address=")
    # A Keras file or SavedModel first: the reference, run through TensorFlow by compare()
    source = list(models[:1]) if reference_is_source(models) else []
    left_out: list[str] = []
    mine: list[Any] = []
    if isolated:
        runners, _, _ = _open_isolated(models[len(source) :], None, 0, num_threads, left_out, mine)
    else:
        runners = [
            m if isinstance(m, Runner) else Runner(m, num_threads=num_threads)
            for m in models[len(source) :]
        ]
    try:
        result = _compare_files(
            runners, source, data, labels, samples, seed, num_threads, label_output, speed,
            per_tensor, reference_outputs, ray, address, notes, allow_nonfinite, trust_source,
            isolated,
        )  # fmt: skip
    finally:
        for r in mine:
            r.close()
    if left_out:
        result = replace(
            result,
            notes=(*left_out, *result.notes),
            crashed=(*left_out, *result.crashed),
        )
    return result


def _compare_files(
    runners: list[Any],
    source: list[Any],
    data: str | os.PathLike[str] | None,
    labels: str | os.PathLike[str] | None,
    samples: int | None,
    seed: int,
    num_threads: int | None,
    label_output: str | None,
    speed: bool,
    per_tensor: bool,
    reference_outputs: str | os.PathLike[str] | None,
    ray: bool,
    address: str | None,
    notes: list[str] | None,
    allow_nonfinite: bool,
    trust_source: bool,
    isolated: bool,
) -> Comparison:
    from tflkit._stream import read_inputs

    on_ray = ray or address is not None
    if streams(data):
        assert data is not None
        given = [  # name what came, not every argument streaming cannot take
            what
            for what, there in (
                ("the Keras or SavedModel reference", bool(source)),
                ("reference_outputs=", reference_outputs is not None),
                ("per_tensor=True", per_tensor),
                ("samples=", samples is not None),
            )
            if there
        ]
        if given:
            raise InputError(
                "shards in data= stream through tflite models only: leave out "
                + " and ".join(given)
            )
        if on_ray:
            from tflkit import ray as on

            return on.compare_shards(
                runners,
                data,
                labels,
                address=address,
                num_threads=num_threads or 1,
                speed=speed,
                label_output=label_output,
                allow_nonfinite=allow_nonfinite,
            )
        return compare_stream(
            runners,
            data,
            labels,
            num_threads=num_threads,
            speed=speed,
            label_output=label_output,
            allow_nonfinite=allow_nonfinite,
        )
    x = None if data is None else read_inputs(data, runners[0], notes)
    y = None
    if labels is not None:
        y = read_arrays(labels)
        if isinstance(y, dict):
            if len(y) != 1:
                raise InputError(
                    f"{os.fspath(labels)}: expected one array of labels, found {len(y)}"
                )
            y = next(iter(y.values()))
        require_finite(y, f"labels {os.fspath(labels)!r}", allow_nonfinite=allow_nonfinite)
        require_samples(int(np.shape(y)[0]) if np.ndim(y) else 1, f"labels {os.fspath(labels)!r}")
    return compare(
        [*source, *runners],
        x,
        y,
        samples=samples,
        seed=seed,
        num_threads=num_threads,
        speed=speed,
        per_tensor=per_tensor,
        label_output=label_output,
        data=os.fspath(data) if data is not None else None,
        reference_outputs=reference_outputs,
        allow_nonfinite=allow_nonfinite,
        trust_source=trust_source,
        isolated=isolated,
    )


def streams(data: str | os.PathLike[str] | None) -> bool:
    """True when ``compare_files`` streams ``data``: a directory or glob of shards (then no
    per-tensor errors, no samples=, no Keras reference)."""
    return data is not None and is_shard_spec(data)


def reference_is_source(models: Sequence[ModelLike | Any]) -> bool:
    """True when ``compare`` runs the first of ``models`` through TensorFlow: a Keras model (in
    memory or a .keras / .h5 file) or a SavedModel directory, compared with .tflite models."""
    from tflkit._source import is_source_model

    return len(models) > 1 and is_source_model(models[0])


def _source_name(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.path.basename(os.path.normpath(os.fspath(source)))
    return f"Keras model {getattr(source, 'name', '')!r}"


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
