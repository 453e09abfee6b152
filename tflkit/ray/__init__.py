"""Run and compare .tflite models on Ray: one ``tflkit.Runner`` per actor.

Over a Ray Dataset, ``predict`` adds a model's outputs and ``compare`` returns the
``Comparison`` ``tflkit.compare`` would, from error sums tallied per block and merged exactly.
Over shards (a directory or glob of .npy/.npz/.parquet files where every node can read them),
``run_shards`` runs a model on each (what ``tflkit.run(..., ray=True)`` and ``tflkit run --ray``
do) and ``compare_shards`` is ``tflkit.compare_stream`` with the shards tallied on actors: one
shard per actor call, read where the actor runs. ``start`` starts a local Ray or joins a cluster.

The only importer of ``ray`` (extra ``tflkit[ray]``); ``import tflkit`` never imports it.
``_cluster`` starts and joins Ray; ``_pool`` holds the actors.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from tflkit import _tally
from tflkit.errors import InputError, require_positive
from tflkit.model import ModelLike
from tflkit.ray import _pool
from tflkit.ray._cluster import ray_data, start

if TYPE_CHECKING:
    import ray.data

    from tflkit._results import Comparison
    from tflkit._stream import ShardRun

__all__ = ["compare", "compare_shards", "predict", "run_shards", "start"]

Batch = dict[str, Any]


def predict(
    dataset: ray.data.Dataset,
    model: ModelLike,
    *,
    batch_size: int,
    concurrency: int,
    num_threads: int | None = 1,
    raw: bool = False,
    keep_inputs: bool = True,
    preprocess: Callable[[Batch], Batch] | None = None,
    **ray_remote_args: Any,
) -> ray.data.Dataset:
    """Add a model's outputs to a Ray Dataset, one column per output.

    Each of ``concurrency`` actors opens one ``tflkit.Runner`` and runs ``Runner.predict`` on
    batches of ``batch_size`` rows; the inputs come from the columns named as the model's inputs
    (``Runner.input_names``), and the outputs are added as columns named as its outputs
    (``Runner.output_names``; a column of that name is replaced). Tensor columns (fixed-shape
    or variable-shape) and flat list columns (reshaped to the input's static shape) are read.
    Lazy, as Ray Data is: nothing runs until the dataset is consumed.

    Args:
        dataset: the rows, with one column per model input.
        model: a path, the model's bytes or a ``tflkit.Model``; its bytes go to every actor.
        batch_size: rows per ``Runner.predict`` call.
        concurrency: number of actors (one Runner each).
        num_threads: threads of each Runner's CPU kernels.
        raw: feed and return the stored dtypes (see ``Runner.predict``).
        keep_inputs: keep the input columns in the result (False: the other columns and the
            outputs only, which saves copying the inputs back).
        preprocess: a function of a batch (a dict of numpy columns) returning the batch the
            inputs are taken from, called in the actor just before ``Runner.predict``: decode,
            scale or generate the inputs there, and they never become Ray blocks (a float32
            tensor column costs Ray Data a copy into Arrow and back per batch). Must pickle
            (a function the workers can import, or one defined in a function or in
            ``__main__``, which cloudpickle sends by value).
        **ray_remote_args: passed to ``map_batches`` for the actors. ``num_cpus`` defaults to
            ``num_threads``, lowered so that the actors leave one CPU of the running Ray to the
            tasks that feed them (an actor pool holding every CPU starves ``read_parquet`` or
            ``range`` and Ray Data waits forever); the actors still run ``num_threads``
            threads each.

    Returns:
        A new, lazy ``ray.data.Dataset``: the dataset's columns plus one per output.

    Raises:
        InvalidModelError: not a TFLite file (checked here, before any actor starts).
        UnsupportedModelError: the runtime cannot run it.
        InputError: a model without a batch axis; a missing column or a wrong shape (raised
            in the actor, surfacing when the dataset is consumed).

    Example:
        >>> ds = ray.data.from_items([{"keras_tensor": x} for x in xs], override_num_blocks=8)
        >>> out = tflkit.ray.predict(ds, "mlp_int8.tflite", batch_size=256, concurrency=2)
        >>> probs = np.stack(out.to_pandas()["output_0"])
    """
    ray_data()  # Ray Data installed, or a TflkitError naming the extra
    from tflkit.runner import Runner

    _check_sizes(batch_size, concurrency)
    data = _pool.model_bytes(model)
    probe = Runner(data, num_threads=1)  # fails here, not in an actor, on an unrunnable model
    if probe.batch_axis is None:
        raise InputError(
            f"{probe.model.name}: the model has no batch axis; Ray Data batches need one"
        )
    del probe
    kwargs = {
        "model": data,
        "num_threads": num_threads,
        "raw": raw,
        "keep": keep_inputs,
        "preprocess": preprocess,
    }
    resources = _pool.actor_resources(concurrency, num_threads, ray_remote_args)
    return _pool.on_actors(dataset, _pool.Predictor, kwargs, batch_size, concurrency, resources)


def _check_sizes(batch_size: int, concurrency: int) -> None:
    require_positive("batch_size", batch_size)
    require_positive("concurrency", concurrency)


def compare(
    dataset: ray.data.Dataset,
    models: Sequence[ModelLike | Any],
    *,
    batch_size: int,
    concurrency: int,
    num_threads: int | None = 1,
    reference: int = 0,
    label_column: str | None = None,
    label_output: str | None = None,
    names: Sequence[str] | None = None,
    data: str | None = None,
    speed: bool = False,
    preprocess: Callable[[Batch], Batch] | None = None,
    **ray_remote_args: Any,
) -> Comparison:
    """``tflkit.compare`` over a Ray Dataset: the same ``Comparison``, computed on actors.

    Each of ``concurrency`` actors opens every model once and runs them on batches of
    ``batch_size`` rows (inputs from the columns named as the reference's inputs, as in
    ``predict``); per batch it adds up counts and float64 sums of ``|d|``, ``d^2`` and
    ``ref^2``, the largest ``|d|``, top-1 agreements and label hits
    (``tflkit.comparison.OutputSums``), and the driver merges them. So errors, SNR, RMSE, MSE,
    agreement and accuracy equal ``tflkit.compare`` on the same rows, up to float64 summation
    order (~1e-16 relative). ``to_dict``, ``to_markdown`` and ``plot`` work unchanged.

    Args:
        dataset: the rows, with one column per input of the reference model (and the labels).
        models: paths, bytes, ``tflkit.Model`` or ``Runner`` objects (Runners are re-opened
            from their model in each actor); the first (or ``reference``) is the yardstick.
        batch_size: rows per batch (each batch runs every model once).
        concurrency: number of actors (one Runner each).
        num_threads: threads of each Runner's CPU kernels.
        reference, label_output, names: as for ``tflkit.compare``.
        label_column: a column of class labels (indices, or one-hot) for top-1 accuracy.
        data: what to call the data in reports (default "Ray Dataset").
        speed: also measure latency and throughput on the driver, on the first batch only
            (the actors share their machines with the pipeline, so timing them says little).
        preprocess: as for ``predict``: a function of a batch returning the batch the inputs
            (and the label column) are taken from, called in the actor.
        **ray_remote_args: passed to ``map_batches`` for the actors; ``num_cpus`` as for
            ``predict``.

    Returns:
        A ``tflkit.comparison.Comparison``; ``samples`` counts every row.

    Raises:
        InputError: models whose inputs or outputs do not match the reference's, a reference
            without a batch axis (checked on the driver, before any actor starts); a missing
            column, a wrong shape or bad labels (raised in an actor, re-raised here).

    Example:
        >>> c = tflkit.ray.compare(ds, ["m_f32.tflite", "m_int8.tflite"], batch_size=1024,
        ...                        concurrency=4, label_column="label")
        >>> print(c.to_markdown())
    """
    ray_data()  # Ray Data installed, or a TflkitError naming the extra
    from tflkit.speed import measure_speed

    _check_sizes(batch_size, concurrency)
    setup = _tally.setup(models, reference, num_threads, names, batched=True)
    blobs = [_pool.model_bytes(r.model) for r in setup.runners]
    kwargs = {
        "models": blobs,
        "names": setup.names,
        "reference": setup.reference,
        "num_threads": num_threads,
        "label_column": label_column,
        "label_output": label_output,
        "preprocess": preprocess,
    }
    resources = _pool.actor_resources(concurrency, num_threads, ray_remote_args)
    out = _pool.on_actors(dataset, _pool.BlockComparer, kwargs, batch_size, concurrency, resources)
    tally = _tally.Tally.empty(setup)
    for part in _pool.results(out):
        tally.merge(part)
    speeds = None
    if speed and tally.samples:
        first = dataset.limit(batch_size).take_batch(batch_size, batch_format="numpy")
        if preprocess is not None:
            first = _pool.preprocessed(preprocess, first)
        x = _pool.inputs(first, setup.ref)
        n = len(next(iter(x.values())))
        speeds = measure_speed(setup.runners, setup.feeds(x), n)
        setup.notes.append(f"speed measured on the driver, on the first {n} rows only")
    return _tally.finish(setup, tally, data or "Ray Dataset", speeds)


def run_shards(
    model: ModelLike,
    data: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    output: str | os.PathLike[str] | None = None,
    raw: bool = False,
    batch_size: int | None = None,
    num_threads: int = 1,
    signature: str | None = None,
    concurrency: int | None = None,
    address: str | None = None,
) -> Iterator[tuple[ShardRun, list[str]]]:
    """Run a model on every shard on Ray actors, one shard per actor call; as each finishes,
    what running it gave and the notes reading it made.

    Each actor opens one ``tflkit.Runner`` and runs the shards it gets in slices of
    ``batch_size`` samples (default 4096), reading them and, with ``output``, writing
    ``output/<shard stem>.npz`` where it runs: the shards and ``output`` must be where every
    node can read and write them (one machine, or a shared file system). If a shard fails, the
    run stops: finished shards keep their complete .npz, the one that failed and those under
    way leave none (temporary files of actors stopped mid-write are removed).
    ``tflkit.run(model, data, ray=True)`` adds the results up.

    Args:
        model: a path, the model's bytes or a ``tflkit.Model``; its bytes go to every actor.
        data: a directory or a glob of .npy/.npz/.parquet shards, or a list of shard files.
        output: a directory for the outputs, one .npz per shard (None: run only).
        raw: feed and return the stored dtypes (see ``Runner.predict``).
        batch_size: samples per ``predict`` call (and the Runner's batch size).
        num_threads: threads of each Runner's CPU kernels (and CPUs each actor reserves).
        signature: the signature to run.
        concurrency: number of actors (default: what ``start`` says fits).
        address: the Ray cluster to join (default: the running Ray, or a local one).

    Yields:
        (``ShardRun``: samples, seconds in ``predict``, outputs' dtypes and sample shapes,
        the inputs' clipping; the notes), in the order the shards finish.

    Raises:
        InputError: a shard that cannot be read or does not fit the model (named), two shards
            that would write one output file.
        TflkitError: Ray is not installed or cannot be reached.
    """
    import time

    from tflkit._stream import STREAM_CHUNK, output_dir, shards

    if isinstance(data, (str, os.PathLike)):
        files = shards(data)
    else:
        from pathlib import Path

        files = [Path(f) for f in data]
    output_dir(data if isinstance(data, (str, os.PathLike)) else "shards", files, output)
    concurrency = _workers(concurrency, address, num_threads)
    started = time.time()
    kwargs = {
        "model": _pool.model_bytes(model),
        "opened": {"num_threads": num_threads, "signature": signature, "batch_size": batch_size},
        "raw": raw,
        "chunk": batch_size or STREAM_CHUNK,
        "output": None if output is None else os.fspath(output),
    }
    rows = [{"path": os.fspath(f)} for f in files]
    try:
        yield from _pool.shard_pool(rows, _pool.ShardRunner, kwargs, concurrency, num_threads)
    except BaseException:
        if output is not None:
            _pool.remove_partial(output, started)
        raise


def compare_shards(
    models: Sequence[ModelLike | Any],
    data: str | os.PathLike[str],
    labels: str | os.PathLike[str] | None = None,
    *,
    concurrency: int | None = None,
    address: str | None = None,
    num_threads: int | None = 1,
    reference: int = 0,
    label_output: str | None = None,
    speed: bool = True,
    batch_size: int = 4096,
    names: Sequence[str] | None = None,
    allow_nonfinite: bool = False,
) -> Comparison:
    """``tflkit.compare_stream`` with the shards tallied on Ray actors, one shard per call.

    Each actor opens every model once and tallies the shards it gets (read where it runs, in
    slices of ``batch_size``); the driver merges the tallies exactly, so the result equals
    ``compare_stream`` on the same shards (to float64 summation order). Speed, when asked, is
    measured here, on the first slice of the first shard; a note says so.

    Args:
        models: paths, bytes, ``tflkit.Model`` or ``Runner`` objects (Runners are re-opened
            from their model in each actor).
        data: a directory of .npy/.npz/.parquet shards, or a glob pattern, where every node
            can read them.
        labels: shards of class labels, paired with the data's in sorted order.
        concurrency: number of actors (default: what ``start`` says fits).
        address: the Ray cluster to join (default: the running Ray, or a local one).
        num_threads, reference, label_output, speed, batch_size, names, allow_nonfinite: as
            for ``compare_stream``.

    Returns:
        A ``Comparison``; ``samples`` counts every shard's samples.

    Raises:
        InputError: a shard that cannot be read or does not fit (named, raised in an actor,
            re-raised here), label shards that do not pair, models that do not match.
        TflkitError: Ray is not installed or cannot be reached.
    """
    setup = _tally.setup(models, reference, num_threads, names, batched=True)
    threads = num_threads or 1
    workers = _workers(concurrency, address, threads)
    kwargs = {
        "models": [_pool.model_bytes(r.model) for r in setup.runners],
        "names": setup.names,
        "reference": setup.reference,
        "num_threads": num_threads,
        "batch_size": batch_size,
        "label_output": label_output,
        "allow_nonfinite": allow_nonfinite,
    }

    def on_actors(jobs: list[tuple[Any, Any]]) -> Iterator[tuple[_tally.Tally, list[str]]]:
        rows = [
            {"path": os.fspath(f), "labels": "" if lf is None else os.fspath(lf)} for f, lf in jobs
        ]
        return _pool.shard_pool(rows, _pool.ShardComparer, kwargs, workers, threads)

    return _tally.shard_comparison(
        setup,
        data,
        labels,
        batch_size=batch_size,
        label_output=label_output,
        speed=speed,
        tallier=on_actors,
        allow_nonfinite=allow_nonfinite,
    )


def _workers(concurrency: int | None, address: str | None, threads: int) -> int:
    """``concurrency`` actors, or as many as fit: Ray started or joined (``start``) when no
    concurrency is given or an address is."""
    if concurrency is not None:
        require_positive("concurrency", concurrency)
    if concurrency is None or address is not None:
        fit = start(address, threads)
        return concurrency or fit
    return concurrency
