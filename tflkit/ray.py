"""Run and compare .tflite models over a Ray Dataset: one ``tflkit.Runner`` per actor.

``predict`` adds a model's outputs to a Dataset; ``compare`` returns the ``Comparison``
``tflkit.compare`` would, from error sums tallied per block and merged exactly. The private
``_start``, ``_run_shards`` and ``_compare_shards`` serve ``tflkit run/compare --ray``: one
shard per actor call, read where the actor runs.

The only importer of ``ray`` (extra ``tflkit[ray]``); ``import tflkit`` never imports it.
"""

from __future__ import annotations

import math
import os
import pickle
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from tflkit.errors import InputError, TflkitError, require_positive
from tflkit.model import ModelLike

if TYPE_CHECKING:
    import ray.data

    from tflkit._stream import ShardRun
    from tflkit.comparison import Comparison

__all__ = ["compare", "predict"]

#: The column a tally or shard result travels in (pickled, one row per batch or shard).
_RESULT = "tflkit_result"

Array = npt.NDArray[Any]
Batch = dict[str, Array]


def _model_bytes(model: ModelLike) -> bytes:
    """The model's bytes, so that actors on other machines need no copy of the file."""
    from tflkit.loader import interpreter_source, resolve

    source = interpreter_source(resolve(model))
    if isinstance(source, str):
        with open(source, "rb") as f:
            return f.read()
    return bytes(source)


def _column(name: str, where: str, col: Any, shape: tuple[int, ...]) -> Array:
    """A batch column as an array with the input's rank, batch on axis 0.

    Ray hands a fixed-shape tensor column (ArrowTensorArray) over as one (n, *shape) array, a
    variable-shape one as an object array of per-row arrays, and a flat list column as (n, k):
    stack the rows, then reshape a flat row to the input's static shape when the sizes agree.
    """
    a = _stacked(col)
    inner = shape[1:]
    if a.shape[1:] != inner and all(d >= 0 for d in inner):
        if math.prod(a.shape[1:]) != math.prod(inner):
            got = tuple(a.shape[1:])
            raise InputError(
                f"column {name!r} for {where}: expected rows of shape {inner}, got {got}"
            )
        a = a.reshape((a.shape[0], *inner))
    return a


def _inputs(batch: Batch, runner: Any) -> Batch:
    """The runner's inputs from a batch's columns of the same names (see ``_column``)."""
    feeds = {}
    for i, (name, t) in enumerate(zip(runner.input_names, runner.inputs, strict=True)):
        where = f"input {name!r} (index {i})"
        if name not in batch:
            raise InputError(f"{where}: no column {name!r}; columns: {sorted(batch)}")
        feeds[name] = _column(name, where, batch[name], t.shape_signature or t.shape)
    return feeds


def _stacked(col: Any) -> Array:
    """A batch column as one array, rows stacked when Ray gives an object array of them."""
    a: Array = np.asarray(col)
    if a.dtype == object:
        a = np.stack([np.asarray(row) for row in a]) if len(a) else a
    return a


def _preprocessed(preprocess: Callable[[Batch], Batch], batch: Batch) -> Batch:
    """``preprocess(batch)``, checked to be a dict of columns."""
    out = preprocess(batch)
    if not isinstance(out, dict):
        name = getattr(preprocess, "__name__", "preprocess")
        raise InputError(
            f"preprocess {name!r} must return a dict of columns (numpy arrays by name), "
            f"got {type(out).__name__}"
        )
    return out


class _Predictor:
    """Ray Data callable class: the Runner is opened once per actor, then reused per batch."""

    def __init__(
        self,
        model: bytes,
        num_threads: int | None,
        raw: bool,
        keep: bool,
        preprocess: Callable[[Batch], Batch] | None = None,
    ) -> None:
        from tflkit.runner import Runner

        self.runner = Runner(model, num_threads=num_threads)
        self.raw = raw
        self.keep = keep
        self.preprocess = preprocess

    def __call__(self, batch: Batch) -> Batch:
        r = self.runner
        if self.preprocess is not None:
            batch = _preprocessed(self.preprocess, batch)
        feeds = _inputs(batch, r)
        y = r.predict(feeds, raw=self.raw)
        outs = {r.output_names[0]: y} if isinstance(y, np.ndarray) else y
        if not self.keep:  # the inputs need not travel back through the object store
            batch = {k: v for k, v in batch.items() if k not in feeds}
        return {**batch, **outs}


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
    _ray_data()  # Ray Data installed, or a TflkitError naming the extra
    from tflkit.runner import Runner

    _check_sizes(batch_size, concurrency)
    data = _model_bytes(model)
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
    resources = _actor_resources(concurrency, num_threads, ray_remote_args)
    return _on_actors(dataset, _Predictor, kwargs, batch_size, concurrency, resources)


def _ray_data() -> Any:
    """``ray.data``, or a TflkitError saying which extra installs it."""
    try:
        import ray.data
    except ImportError as exc:
        raise TflkitError("tflkit.ray needs Ray Data: pip install 'tflkit[ray]'") from exc
    return ray.data


def _on_actors(
    dataset: ray.data.Dataset,
    worker: type,
    kwargs: dict[str, Any],
    batch_size: int,
    concurrency: int,
    remote_args: dict[str, Any],
) -> ray.data.Dataset:
    """``dataset.map_batches`` through a pool of ``concurrency`` actors of ``worker`` (built
    with ``kwargs``), batches of ``batch_size`` rows as numpy: the one place tflkit calls it.

    ``compute=ActorPoolStrategy``: Ray 2.51+ deprecates ``map_batches(concurrency=...)``.
    ``zero_copy_batch``: read-only views of the blocks, since no worker writes to its batch
    (a copy of each batch cost a few percent of the throughput, bench/ray_bench.py).
    """
    return dataset.map_batches(
        worker,
        batch_size=batch_size,
        batch_format="numpy",
        zero_copy_batch=True,
        compute=_ray_data().ActorPoolStrategy(size=concurrency),
        fn_constructor_kwargs=kwargs,
        **remote_args,
    )


def _actor_resources(
    concurrency: int, num_threads: int | None, ray_remote_args: dict[str, Any]
) -> dict[str, Any]:
    """``map_batches``' remote args for the actors: ``num_cpus`` defaults to ``num_threads``,
    lowered so that the pool leaves one CPU of the cluster to the tasks upstream.

    An actor pool that reserves every CPU starves the read and map tasks that feed it, and Ray
    Data then waits forever (``read_parquet`` or ``range`` on a 2-CPU Ray with 2 actors: no
    progress). The actors still run ``num_threads`` threads each; only Ray's bookkeeping of
    CPUs changes. Given ``num_cpus`` is kept as it is; without a running Ray the default stays.
    """
    if "num_cpus" in ray_remote_args:
        return dict(ray_remote_args)
    wanted = float(num_threads or 1)
    import ray

    if ray.is_initialized():
        cpus = float(ray.cluster_resources().get("CPU", 0))  # type: ignore[no-untyped-call]
        if concurrency * wanted > cpus - 1:
            wanted = max(0.0, cpus - 1) / concurrency
    return {"num_cpus": wanted, **ray_remote_args}


def _check_sizes(batch_size: int, concurrency: int) -> None:
    require_positive("batch_size", batch_size)
    require_positive("concurrency", concurrency)


class _Comparer:
    """Ray Data callable class: every model opened once per actor (``_setup``, as on the
    driver); each call returns its tally through ``_guarded``."""

    def __init__(
        self,
        models: list[bytes],
        names: list[str],
        reference: int,
        num_threads: int | None,
        label_output: str | None,
        **options: Any,
    ) -> None:
        from tflkit.comparison import _setup

        self.setup = _setup(models, reference, num_threads, names, batched=True)
        self.label_output = label_output
        self.options = options

    def __call__(self, batch: Batch) -> Batch:
        return _guarded(self._tally, batch)

    def _tally(self, batch: Batch) -> Any:
        raise NotImplementedError


class _BlockComparer(_Comparer):
    """A batch of rows (inputs from columns, labels from ``label_column``): its tally."""

    def _tally(self, batch: Batch) -> Any:
        from tflkit.comparison import _Tally

        preprocess = self.options["preprocess"]
        if preprocess is not None:
            batch = _preprocessed(preprocess, batch)
        x = _inputs(batch, self.setup.ref)
        y = None
        label_column = self.options["label_column"]
        if label_column is not None:
            if label_column not in batch:
                raise InputError(f"no label column {label_column!r}; columns: {sorted(batch)}")
            y = _stacked(batch[label_column])
        tally = _Tally.empty(self.setup)
        tally.add(self.setup, x, y, self.label_output)
        return tally


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
    _ray_data()  # Ray Data installed, or a TflkitError naming the extra
    from tflkit.comparison import _finish, _measure_speed, _setup, _Tally

    _check_sizes(batch_size, concurrency)
    setup = _setup(models, reference, num_threads, names, batched=True)
    blobs = [_model_bytes(r.model) for r in setup.runners]
    kwargs = {
        "models": blobs,
        "names": setup.names,
        "reference": setup.reference,
        "num_threads": num_threads,
        "label_column": label_column,
        "label_output": label_output,
        "preprocess": preprocess,
    }
    resources = _actor_resources(concurrency, num_threads, ray_remote_args)
    out = _on_actors(dataset, _BlockComparer, kwargs, batch_size, concurrency, resources)
    tally = _Tally.empty(setup)
    for part in _results(out):
        tally.merge(part)
    timing = None
    if speed and tally.samples:
        first = dataset.limit(batch_size).take_batch(batch_size, batch_format="numpy")
        x = _inputs(first if preprocess is None else _preprocessed(preprocess, first), setup.ref)
        n = len(next(iter(x.values())))
        feeds = [{m[k]: v for k, v in x.items()} for m in setup.in_maps]
        timing = _measure_speed(setup.runners, feeds, n, 30, 5)
        setup.notes.append(f"speed measured on the driver, on the first {n} rows only")
    return _finish(setup, tally, data or "Ray Dataset", timing)


def _guarded(work: Any, batch: Batch) -> Batch:
    """``work(batch)`` as one row of a result column, pickled (Ray Data keeps it as Arrow
    binary). A TflkitError travels back the same way: Ray's wrapping of an exception raised
    in an actor keeps only its text, and logs a traceback on the way."""
    try:
        value: tuple[bool, Any] = (True, work(batch))
    except TflkitError as exc:
        value = (False, exc)
    out = np.empty(1, dtype=object)
    out[0] = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return {_RESULT: out}


def _results(dataset: Any) -> Iterator[Any]:
    """The values ``_guarded`` returned, as the actors finish; an actor's TflkitError is
    raised here, as itself, and the dataset's execution is stopped."""
    rows = iter(dataset.iter_rows())
    try:
        for row in rows:
            ok, value = pickle.loads(row[_RESULT])
            if not ok:
                raise value
            yield value
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()


# --- tflkit run/compare --ray: one shard per actor call -------------------------------------


def _start(address: str | None, threads: int = 1) -> int:
    """Start a local Ray with this machine's CPUs (no address) or connect to the cluster at
    ``address``, quietly (Ray's messages off stdout, its progress bars off: the CLI has its own);
    the number of actors that fit: the cluster's CPUs // ``threads``, at least 1.

    Raises:
        TflkitError: Ray is not installed, or the cluster cannot be reached.
    """
    import logging

    imported = sys.modules.get("ray")
    if address is not None and not (imported is not None and imported.is_initialized()):
        _reachable(address)
        if imported is None:
            _token_auth()  # before Ray is imported: it reads RAY_AUTH_MODE once, at import
    _ray_data()
    import ray

    if not ray.is_initialized():
        quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
        try:
            if address is None:  # a Ray of its own, even if a cluster runs here ("auto")
                ray.init(address="local", include_dashboard=False, **quiet)
            else:
                ray.init(address=address, **quiet)
        except Exception as exc:
            if address is None:
                raise TflkitError(f"cannot start a local Ray: {type(exc).__name__}: {exc}") from exc
            raise TflkitError(
                f"cannot connect to the Ray cluster at {address}: {exc} (a cluster with token "
                "authentication needs its token: RAY_AUTH_TOKEN or ~/.ray/auth_token)"
            ) from exc
    # Ray Data's INFO lines ("Starting execution ...") and its warning that progress bars are
    # off (the CLI draws its own) stay out of the terminal
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    ctx = _data_context()
    ctx.enable_progress_bars = False
    cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
    return max(1, cpus // max(1, threads))


def _token_auth() -> None:
    """Send the Ray token to the cluster when there is one and RAY_AUTH_MODE is unset.

    ``ray start`` (Ray 2.52+) turns token authentication on by itself when a token exists, but
    ``ray.init(address=...)`` does not: it retries unauthenticated for 20 s and fails. Turning
    it on with the user's own token (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token)
    connects as the ``ray`` command line does; RAY_AUTH_MODE, when set, is left as it is.
    """
    if "RAY_AUTH_MODE" in os.environ:
        return
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser("~/.ray/auth_token")
    if os.environ.get("RAY_AUTH_TOKEN") or os.path.isfile(path):
        os.environ["RAY_AUTH_MODE"] = "token"


def _reachable(address: str, timeout: float = 5.0) -> None:
    """Refuse at once a ``host:port`` (or ``ray://host:port``) that takes no connection: Ray
    itself retries an unreachable cluster for minutes. "auto" and the like are left to Ray."""
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise TflkitError(
            f"cannot reach the Ray cluster at {address}: {reason} (start one with "
            "'ray start --head', or leave out --address for a local Ray)"
        ) from None


def _data_context() -> Any:
    import warnings

    import ray.data

    with warnings.catch_warnings():
        # Ray 2.60's DataContext warns about its own deprecated fields when it is built.
        warnings.simplefilter("ignore", DeprecationWarning)
        return ray.data.DataContext.get_current()


def _shard_pool(
    rows: list[dict[str, str]], worker: type, kwargs: dict[str, Any], concurrency: int, cpus: int
) -> Iterator[Any]:
    """Each row (a shard) through one call of ``worker`` on a pool of actors; the results."""
    ds = _ray_data().from_items(rows, override_num_blocks=len(rows))
    size = max(1, min(concurrency, len(rows)))
    return _results(_on_actors(ds, worker, kwargs, 1, size, {"num_cpus": cpus}))


class _ShardRunner:
    """A Runner per actor; each call runs one shard and writes its .npz (``run_shard``)."""

    def __init__(
        self, model: bytes, opened: dict[str, Any], raw: bool, chunk: int, output: str | None
    ) -> None:
        from tflkit.runner import Runner

        self.runner = Runner(model, **opened)
        self.raw, self.chunk, self.output = raw, chunk, output

    def __call__(self, batch: Batch) -> Batch:
        return _guarded(self._run, batch)

    def _run(self, batch: Batch) -> tuple[ShardRun, list[str]]:
        from tflkit._stream import run_shard

        notes: list[str] = []
        path = str(batch["path"][0])
        done = run_shard(
            self.runner, path, raw=self.raw, chunk=self.chunk, output=self.output, notes=notes
        )
        return done, notes


def _run_shards(
    model: ModelLike,
    files: Sequence[Path],
    opened: dict[str, Any],
    *,
    raw: bool,
    chunk: int,
    output: Path | None,
    concurrency: int,
) -> Iterator[tuple[ShardRun, list[str]]]:
    """``run_shard`` on each shard, on Ray actors; (its result, its notes) as each finishes.

    The shards and ``output`` must be where every node can read and write them (one machine,
    or a shared file system). If a shard fails, the run stops: finished shards keep their
    complete .npz, the one that failed and those under way leave none (temporary files of
    actors stopped mid-write are removed).
    """
    import time

    started = time.time()
    kwargs = {
        "model": _model_bytes(model),
        "opened": opened,
        "raw": raw,
        "chunk": chunk,
        "output": None if output is None else os.fspath(output),
    }
    rows = [{"path": os.fspath(f)} for f in files]
    try:
        yield from _shard_pool(rows, _ShardRunner, kwargs, concurrency, opened["num_threads"])
    except BaseException:
        if output is not None:
            _remove_partial(output, started)
        raise


def _remove_partial(output: Path, since: float) -> None:
    """Temporary files (``atomic_write``'s) that actors stopped mid-write left in ``output``."""
    import time

    time.sleep(0.5)  # let stopped actors' last renames land
    for p in Path(output).glob(".tflkit-*.tmp"):
        try:
            if p.stat().st_mtime >= since - 1:
                p.unlink()
        except OSError:
            pass


class _ShardComparer(_Comparer):
    """One shard (and its labels) per call, read in the actor: its tally and notes."""

    def _tally(self, batch: Batch) -> tuple[Any, list[str]]:
        from tflkit.comparison import _Tally, _tally_shard

        self.setup.notes.clear()
        tally = _Tally.empty(self.setup)
        labels = str(batch["labels"][0]) or None
        for _ in _tally_shard(
            self.setup,
            tally,
            str(batch["path"][0]),
            labels,
            batch_size=self.options["batch_size"],
            label_output=self.label_output,
        ):
            pass
        return tally, list(self.setup.notes)


def _compare_shards(
    models: Sequence[Any],
    data: str | os.PathLike[str],
    labels: str | os.PathLike[str] | None = None,
    *,
    concurrency: int,
    num_threads: int | None = 1,
    label_output: str | None = None,
    speed: bool = True,
    batch_size: int = 4096,
) -> Comparison:
    """``tflkit.compare_stream`` with the shards tallied on Ray actors (one shard per call)
    and merged here; speed, when asked, measured here on the first slice of the first shard."""
    from tflkit._stream import paired_shards
    from tflkit.comparison import _finish, _measure_speed, _setup, _Tally, _tally_shard

    setup = _setup(models, 0, num_threads, None, batched=True)
    files, label_files = paired_shards(data, labels)
    kwargs = {
        "models": [_model_bytes(r.model) for r in setup.runners],
        "names": setup.names,
        "reference": 0,
        "num_threads": num_threads,
        "batch_size": batch_size,
        "label_output": label_output,
    }
    rows = [
        {"path": os.fspath(f), "labels": os.fspath(label_files[i]) if label_files else ""}
        for i, f in enumerate(files)
    ]
    tally = _Tally.empty(setup)
    notes: list[str] = []
    for part, part_notes in _shard_pool(
        rows, _ShardComparer, kwargs, concurrency, num_threads or 1
    ):
        tally.merge(part)
        notes += [n for n in part_notes if n not in notes]
    setup.notes += notes
    timing = None
    if speed and tally.samples:
        scratch = _Tally.empty(setup)
        label = label_files[0] if label_files else None
        first = _tally_shard(
            setup, scratch, files[0], label, batch_size=batch_size, label_output=label_output
        )
        feeds, count = next(first)
        timing = _measure_speed(setup.runners, feeds, count, 30, 5)
        setup.notes.append(
            f"speed measured on the first {count} samples of {files[0].name} only (the first "
            "shard, on this machine)"
        )
    plural = "s" if len(files) != 1 else ""
    return _finish(setup, tally, f"{os.fspath(data)} ({len(files)} shard{plural})", timing)
