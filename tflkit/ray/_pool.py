"""The actors: Ray Data callable classes holding Runners, the one ``map_batches`` through an
actor pool (``on_actors``), the CPUs the actors reserve, and results (a tally, a shard's run,
or a TflkitError) sent back pickled in one column."""

from __future__ import annotations

import math
import os
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from tflkit import _tally
from tflkit.errors import InputError, TflkitError
from tflkit.model import ModelLike
from tflkit.ray._cluster import ray_data

if TYPE_CHECKING:
    import ray.data

    from tflkit._stream import ShardRun

__all__ = [
    "BlockComparer",
    "Predictor",
    "ShardComparer",
    "ShardRunner",
    "actor_resources",
    "inputs",
    "model_bytes",
    "on_actors",
    "preprocessed",
    "remove_partial",
    "results",
    "shard_pool",
    "stacked",
]

#: The column a tally or shard result travels in (pickled, one row per batch or shard).
RESULT = "tflkit_result"

Array = npt.NDArray[Any]
Batch = dict[str, Array]


def model_bytes(model: ModelLike) -> bytes:
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
    a = stacked(col)
    inner = shape[1:]
    if a.shape[1:] != inner and all(d >= 0 for d in inner):
        if math.prod(a.shape[1:]) != math.prod(inner):
            got = tuple(a.shape[1:])
            raise InputError(
                f"column {name!r} for {where}: expected rows of shape {inner}, got {got}"
            )
        a = a.reshape((a.shape[0], *inner))
    return a


def inputs(batch: Batch, runner: Any) -> Batch:
    """The runner's inputs from a batch's columns of the same names (see ``_column``)."""
    feeds = {}
    for i, (name, t) in enumerate(zip(runner.input_names, runner.inputs, strict=True)):
        where = f"input {name!r} (index {i})"
        if name not in batch:
            raise InputError(f"{where}: no column {name!r}; columns: {sorted(batch)}")
        feeds[name] = _column(name, where, batch[name], t.shape_signature or t.shape)
    return feeds


def stacked(col: Any) -> Array:
    """A batch column as one array, rows stacked when Ray gives an object array of them."""
    a: Array = np.asarray(col)
    if a.dtype == object:
        a = np.stack([np.asarray(row) for row in a]) if len(a) else a
    return a


def preprocessed(preprocess: Callable[[Batch], Batch], batch: Batch) -> Batch:
    """``preprocess(batch)``, checked to be a dict of columns."""
    out = preprocess(batch)
    if not isinstance(out, dict):
        name = getattr(preprocess, "__name__", "preprocess")
        raise InputError(
            f"preprocess {name!r} must return a dict of columns (numpy arrays by name), "
            f"got {type(out).__name__}"
        )
    return out


class Predictor:
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
            batch = preprocessed(self.preprocess, batch)
        feeds = inputs(batch, r)
        y = r.predict(feeds, raw=self.raw)
        outs = {r.output_names[0]: y} if isinstance(y, np.ndarray) else y
        if not self.keep:  # the inputs need not travel back through the object store
            batch = {k: v for k, v in batch.items() if k not in feeds}
        return {**batch, **outs}


def on_actors(
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
        compute=ray_data().ActorPoolStrategy(size=concurrency),
        fn_constructor_kwargs=kwargs,
        **remote_args,
    )


def actor_resources(
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


class _Comparer:
    """Ray Data callable class: every model opened once per actor (``_tally.setup``, as on
    the driver); each call returns its ``tally`` through ``guarded``."""

    def __init__(
        self,
        models: list[bytes],
        names: list[str],
        reference: int,
        num_threads: int | None,
        label_output: str | None,
        **options: Any,
    ) -> None:
        self.setup = _tally.setup(models, reference, num_threads, names, batched=True)
        self.label_output = label_output
        self.options = options

    def __call__(self, batch: Batch) -> Batch:
        return guarded(self.tally, batch)

    def tally(self, batch: Batch) -> Any:
        raise NotImplementedError


class BlockComparer(_Comparer):
    """A batch of rows (inputs from columns, labels from ``label_column``): its tally."""

    def tally(self, batch: Batch) -> Any:
        preprocess = self.options["preprocess"]
        if preprocess is not None:
            batch = preprocessed(preprocess, batch)
        x = inputs(batch, self.setup.ref)
        y = None
        label_column = self.options["label_column"]
        if label_column is not None:
            if label_column not in batch:
                raise InputError(f"no label column {label_column!r}; columns: {sorted(batch)}")
            y = stacked(batch[label_column])
        tally = _tally.Tally.empty(self.setup)
        tally.add(self.setup, x, y, self.label_output)
        return tally


class ShardComparer(_Comparer):
    """One shard (and its labels) per call, read in the actor: ``_tally.tally_shard``."""

    def tally(self, batch: Batch) -> tuple[_tally.Tally, list[str]]:
        return _tally.tally_shard(
            self.setup,
            str(batch["path"][0]),
            str(batch["labels"][0]) or None,
            batch_size=self.options["batch_size"],
            label_output=self.label_output,
            allow_nonfinite=self.options.get("allow_nonfinite", False),
        )


class ShardRunner:
    """A Runner per actor; each call runs one shard and writes its .npz (``run_shard``)."""

    def __init__(
        self, model: bytes, opened: dict[str, Any], raw: bool, chunk: int, output: str | None
    ) -> None:
        from tflkit.runner import Runner

        self.runner = Runner(model, **opened)
        self.raw, self.chunk, self.output = raw, chunk, output

    def __call__(self, batch: Batch) -> Batch:
        return guarded(self._run, batch)

    def _run(self, batch: Batch) -> tuple[ShardRun, list[str]]:
        from tflkit._stream import run_shard

        notes: list[str] = []
        path = str(batch["path"][0])
        done = run_shard(
            self.runner, path, raw=self.raw, chunk=self.chunk, output=self.output, notes=notes
        )
        return done, notes


def guarded(work: Any, batch: Batch) -> Batch:
    """``work(batch)`` as one row of a result column, pickled (Ray Data keeps it as Arrow
    binary). A TflkitError travels back the same way: Ray's wrapping of an exception raised
    in an actor keeps only its text, and logs a traceback on the way."""
    try:
        value: tuple[bool, Any] = (True, work(batch))
    except TflkitError as exc:
        value = (False, exc)
    out = np.empty(1, dtype=object)
    out[0] = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return {RESULT: out}


def results(dataset: Any) -> Iterator[Any]:
    """The values ``guarded`` returned, as the actors finish; an actor's TflkitError is
    raised here, as itself, and the dataset's execution is stopped."""
    rows = iter(dataset.iter_rows())
    try:
        for row in rows:
            ok, value = pickle.loads(row[RESULT])
            if not ok:
                raise value
            yield value
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()


def shard_pool(
    rows: list[dict[str, str]], worker: type, kwargs: dict[str, Any], concurrency: int, cpus: int
) -> Iterator[Any]:
    """Each row (a shard) through one call of ``worker`` on a pool of actors; the results."""
    ds = ray_data().from_items(rows, override_num_blocks=len(rows))
    size = max(1, min(concurrency, len(rows)))
    return results(on_actors(ds, worker, kwargs, 1, size, {"num_cpus": cpus}))


def remove_partial(output: str | os.PathLike[str], since: float) -> None:
    """Temporary files (``atomic_write``'s) that actors stopped mid-write left in ``output``."""
    import time

    time.sleep(0.5)  # let stopped actors' last renames land
    for p in Path(output).glob(".tflkit-*.tmp"):
        try:
            if p.stat().st_mtime >= since - 1:
                p.unlink()
        except OSError:
            pass
