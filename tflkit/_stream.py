"""Shards in: a directory or glob of .npy / .npz / .parquet files, read one at a time.

``shards(spec)`` lists the files; ``read_shard(path, ...)`` reads one into arrays by input name;
``run_shard(runner, path, ...)`` runs one in slices (``run_slices``, which ``tflkit.run`` uses on
arrays too) and writes its outputs (``tflkit.run`` on one machine and on Ray actors).
Files are read by ``_arrays.read_arrays``. Numpy only.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tflkit._arrays import SUFFIXES, read_arrays
from tflkit._inputs import inputs_for
from tflkit.errors import InputError
from tflkit.quant import QuantizeStats

Array = npt.NDArray[Any]

#: Samples per predict call when shards are run without a batch size: a few batches in memory.
STREAM_CHUNK = 4096


def is_shard_spec(spec: str | os.PathLike[str]) -> bool:
    """True for a directory or a glob pattern (a single file is read the old way)."""
    text = os.fspath(spec)
    return os.path.isdir(text) or (glob.has_magic(text) and not os.path.exists(text))


def shards(spec: str | os.PathLike[str]) -> list[Path]:
    """The shard files of ``spec``, in sorted order.

    A directory: its .npy, .npz and .parquet files (not recursive); a glob pattern: the files it
    matches; an existing file: that file.

    Raises:
        InputError: nothing matches, or a directory holds no shard.
    """
    text = os.fspath(spec)
    if os.path.isdir(text):
        found = sorted(p for p in Path(text).iterdir() if p.is_file() and p.suffix in SUFFIXES)
        if not found:
            raise InputError(f"{text}: no {', '.join(SUFFIXES)} files in this directory")
        return found
    if os.path.exists(text):
        return [Path(text)]
    found = sorted(Path(p) for p in glob.glob(text) if os.path.isfile(p))
    if not found:
        raise InputError(f"{text}: no file matches")
    return found


def paired_shards(
    data: str | os.PathLike[str], labels: str | os.PathLike[str] | None
) -> tuple[list[Path], list[Path] | None]:
    """The data's shards and, when given, the label shards paired with them in sorted order.

    Raises:
        InputError: no shard matches, or the label shards do not pair one for one.
    """
    files = shards(data)
    label_files = shards(labels) if labels is not None else None
    if label_files is not None and len(label_files) != len(files):
        raise InputError(
            f"{os.fspath(labels or '')}: {len(label_files)} label shards for {len(files)} data "
            "shards (paired in sorted order)"
        )
    return files, label_files


def read_inputs(
    path: str | os.PathLike[str], runner: Any, notes: list[str] | None = None
) -> Array | list[Array] | dict[str, Array]:
    """One .npy (a single-input model's) or .npz file's arrays for ``runner``'s inputs (keys
    are input names or tensor names, or one array); ``notes`` says which array went where when
    a key names no input."""
    return inputs_for(
        read_arrays(path),
        runner.input_names,
        [t.name for t in runner.inputs],
        source=os.path.basename(os.fspath(path)),
        notes=notes,
    )


def read_shard(
    path: str | os.PathLike[str],
    input_names: Sequence[str],
    *,
    shapes: Mapping[str, Sequence[int]] | None = None,
    tensor_names: Sequence[str] = (),
    notes: list[str] | None = None,
) -> Array | list[Array] | dict[str, Array]:
    """One shard's arrays, arranged for a model with these input names.

    .npy and .npz as ``tflkit run -i`` reads them; .parquet: one column per input, named after
    it (one column feeds a single-input model whatever its name). A list or fixed-size-list
    column becomes an array of shape (rows, *shapes[name]) when ``shapes`` gives the sample
    shape (the input's dimensions after the batch axis), else (rows, length).

    Raises:
        InputError: the file cannot be read, or its columns do not fit; the message names it.
    """
    p = Path(path)
    data = read_arrays(p, input_names=input_names, shapes=shapes)
    return inputs_for(data, input_names, tensor_names, source=p.name, notes=notes)


def runner_shard(
    path: str | os.PathLike[str], runner: Any, notes: list[str] | None = None
) -> Array | list[Array] | dict[str, Array]:
    """``read_shard`` for ``runner``'s inputs: their names, tensor names and sample shapes."""
    names = runner.input_names
    shapes = {n: list(t.shape_signature[1:]) for n, t in zip(names, runner.inputs, strict=True)}
    tensor_names = [t.name for t in runner.inputs]
    return read_shard(path, names, shapes=shapes, tensor_names=tensor_names, notes=notes)


@dataclass(slots=True)
class ShardRun:
    """What running one shard gave: samples, seconds spent in ``Runner.predict``, each
    output's dtype and sample shape, and the inputs' quantization clipping, summed over the
    shard's slices (merge() adds another shard's)."""

    samples: int = 0
    seconds: float = 0.0
    outputs: dict[str, tuple[str, list[int]]] = field(default_factory=dict)
    saturation: dict[str, QuantizeStats] = field(default_factory=dict)

    def merge(self, other: ShardRun) -> None:
        self.samples += other.samples
        self.seconds += other.seconds
        for k, v in other.outputs.items():
            self.outputs.setdefault(k, v)
        add_stats(self.saturation, other.saturation)


def add_stats(into: dict[str, QuantizeStats], more: Mapping[str, QuantizeStats]) -> None:
    """Add clipping counts (``Runner.saturation`` of another call) into ``into``, by input."""
    for k, s in more.items():
        a = into.get(k)
        into[k] = (
            s
            if a is None
            else QuantizeStats(
                a.total + s.total,
                a.saturated_low + s.saturated_low,
                a.saturated_high + s.saturated_high,
                a.nan + s.nan,
            )
        )


def run_shard(
    runner: Any,
    path: str | os.PathLike[str],
    *,
    raw: bool,
    chunk: int,
    output: str | os.PathLike[str] | None,
    notes: list[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ShardRun:
    """Run one shard through ``runner`` in slices of ``chunk`` samples (``run_slices``); with
    ``output`` (a directory), write its outputs to ``output/<shard stem>.npz`` all at once (a
    temporary file, then a rename: never a partial file). ``progress(n)`` after each slice.

    Raises:
        InputError: the shard cannot be read or does not fit the model (the message names it).
    """
    p = Path(path)
    held = [runner_shard(p, runner, notes)]
    warn_nonfinite(held[0], f"inputs {os.fspath(p)!r}")
    try:  # run_slices gets the only reference to the shard: freed before the outputs join
        outs, result = run_slices(runner, held.pop(), raw=raw, chunk=chunk, progress=progress)
    except InputError as exc:
        raise InputError(f"{p}: {exc}") from exc
    if output is not None and outs:
        save_npz(Path(output) / f"{p.stem}.npz", outs)
    return result


def run_slices(
    runner: Any,
    x: Any,
    n: int | None = None,
    *,
    raw: bool,
    chunk: int,
    progress: Callable[[int], None] | None = None,
) -> tuple[dict[str, Array], ShardRun]:
    """Run ``x`` (``n`` samples, default: its batch size) through ``runner`` in slices of
    ``chunk`` samples (one call, ``x`` as it is, when ``chunk >= n``): the outputs by name,
    joined, and the figures of the whole run (the seconds of the ``predict`` calls alone,
    summed; the inputs' clipping summed over the slices), whatever the slicing.
    ``progress(k)`` after each slice of ``k`` samples. ``x`` is let go before the outputs
    are joined: a caller that keeps no reference of its own never holds both.
    """
    import time

    from tflkit._inputs import batch_size_of, take

    n = batch_size_of(x) if n is None else n
    result = ShardRun(samples=n)
    pieces: dict[str, list[Array]] = {}
    part = None
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        part = x if s == 0 and e >= n else take(x, s, e)
        runner.saturation.clear()  # what this call clipped, nothing older
        start = time.perf_counter()
        got = runner.predict(part, raw=raw)
        result.seconds += time.perf_counter() - start
        add_stats(result.saturation, runner.saturation)
        got = got if isinstance(got, dict) else {runner.output_names[0]: got}
        for k, v in got.items():
            pieces.setdefault(k, []).append(np.asarray(v))
        if progress is not None:
            progress(e - s)
    del x, part
    outs = {k: v[0] if len(v) == 1 else np.concatenate(v) for k, v in pieces.items()}
    result.outputs = {k: (str(v.dtype), list(v.shape[1:])) for k, v in outs.items()}
    return outs, result


def warn_nonfinite(x: Any, what: str) -> None:
    """A ``NonFiniteWarning`` with the counts when inputs ``x`` hold NaN or inf (``tflkit.run``
    runs them as they are: the outputs are what the model makes of them)."""
    import warnings

    from tflkit._arrays import arrays_of, nonfinite_text
    from tflkit.errors import NonFiniteWarning, caller_stacklevel

    for key, a in arrays_of(x):
        text = nonfinite_text(a)
        if text is not None:
            which = f", input {key!r}" if isinstance(x, Mapping) else ""
            warnings.warn(
                f"{what}{which}: {text}; run as they are",
                NonFiniteWarning,
                stacklevel=caller_stacklevel(),
            )


def save_npz(path: str | os.PathLike[str], arrays: Mapping[str, Any]) -> None:
    """Write a .npz to a temporary name, then rename: never a half-written file."""
    from tflkit._files import atomic_write

    atomic_write(path, lambda f: np.savez(f, **arrays))


def output_dir(
    spec: str | os.PathLike[str], files: Sequence[Path], output: str | os.PathLike[str] | None
) -> None:
    """Check that the shards' outputs can go to ``output`` (a directory, one .npz per shard
    stem) and create it."""
    stems = [f.stem for f in files]
    if len(set(stems)) != len(stems):
        dup = next(s for s in stems if stems.count(s) > 1)
        raise InputError(f"{os.fspath(spec)}: two shards named {dup!r} would write one output file")
    if output is not None:
        if os.path.exists(output) and not os.path.isdir(output):
            raise InputError(
                f"{os.fspath(output)}: shards write a directory of .npz files, not one file"
            )
        os.makedirs(output, exist_ok=True)
