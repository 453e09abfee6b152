"""Run a .tflite model over a Ray Dataset: one ``tflkit.Runner`` per actor.

The only importer of ``ray`` (extra ``tflkit[ray]``); ``import tflkit`` never imports it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from tflkit.errors import InputError
from tflkit.model import ModelLike

if TYPE_CHECKING:
    import ray.data

__all__ = ["predict"]

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
    a: Array = np.asarray(col)
    if a.dtype == object:
        a = np.stack([np.asarray(row) for row in a]) if len(a) else a
    inner = shape[1:]
    if a.shape[1:] != inner and all(d >= 0 for d in inner):
        if math.prod(a.shape[1:]) != math.prod(inner):
            got = tuple(a.shape[1:])
            raise InputError(
                f"column {name!r} for {where}: expected rows of shape {inner}, got {got}"
            )
        a = a.reshape((a.shape[0], *inner))
    return a


class _Predictor:
    """Ray Data callable class: the Runner is opened once per actor, then reused per batch."""

    def __init__(self, model: bytes, num_threads: int | None, raw: bool, keep: bool) -> None:
        from tflkit.runner import Runner

        self.runner = Runner(model, num_threads=num_threads)
        self.raw = raw
        self.keep = keep

    def __call__(self, batch: Batch) -> Batch:
        r = self.runner
        feeds = {}
        for i, (name, t) in enumerate(zip(r.input_names, r.inputs, strict=True)):
            where = f"input {name!r} (index {i})"
            if name not in batch:
                raise InputError(f"{where}: no column {name!r}; columns: {sorted(batch)}")
            feeds[name] = _column(name, where, batch[name], t.shape_signature or t.shape)
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
        concurrency: number of actors (each reserves ``num_threads`` CPUs).
        num_threads: threads of each Runner's CPU kernels.
        raw: feed and return the stored dtypes (see ``Runner.predict``).
        keep_inputs: keep the input columns in the result (False: the other columns and the
            outputs only, which saves copying the inputs back).
        **ray_remote_args: passed to ``map_batches`` for the actors; ``num_cpus`` defaults to
            ``num_threads``. Actors that hold every CPU leave none for read tasks upstream
            (``ray.data.range`` on a 2-CPU Ray with 2 actors stalls): lower it there.

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
    try:
        import ray.data
    except ImportError as exc:
        from tflkit.errors import TflkitError

        raise TflkitError("tflkit.ray needs Ray Data: pip install 'tflkit[ray]'") from exc

    from tflkit.runner import Runner

    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    data = _model_bytes(model)
    probe = Runner(data, num_threads=1)  # fails here, not in an actor, on an unrunnable model
    if probe.batch_axis is None:
        raise InputError(
            f"{probe.model.name}: the model has no batch axis; Ray Data batches need one"
        )
    del probe
    # compute=ActorPoolStrategy: Ray 2.51+ deprecates map_batches(concurrency=...)
    return dataset.map_batches(
        _Predictor,
        batch_size=batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=concurrency),
        fn_constructor_kwargs={
            "model": data,
            "num_threads": num_threads,
            "raw": raw,
            "keep": keep_inputs,
        },
        **{"num_cpus": num_threads or 1, **ray_remote_args},
    )
