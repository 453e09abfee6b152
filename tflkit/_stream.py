"""Shards in: a directory or glob of .npy / .npz / .parquet files, read one at a time.

``shards(spec)`` lists the files; ``read_shard(path, ...)`` reads one into arrays by input name.
pyarrow is imported only to read a .parquet shard. Numpy only otherwise.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tflkit._inputs import inputs_for, read_arrays
from tflkit.errors import InputError

Array = npt.NDArray[Any]

#: File suffixes a directory of shards is scanned for.
SUFFIXES = (".npy", ".npz", ".parquet")


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
    try:
        if p.suffix == ".parquet":
            data: Array | dict[str, Array] = _read_parquet(p, shapes or {}, input_names)
        else:
            data = read_arrays(p)
    except InputError:
        raise
    except Exception as exc:  # a truncated .npy raises ValueError, EOFError, OSError, ...
        raise InputError(f"{p}: cannot read this shard ({type(exc).__name__}: {exc})") from exc
    return inputs_for(data, input_names, tensor_names, source=p.name, notes=notes)


def _read_parquet(
    path: Path, shapes: Mapping[str, Sequence[int]], input_names: Sequence[str]
) -> dict[str, Array]:
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow is an optional dependency
        raise InputError(f"{path}: reading .parquet needs pyarrow (pip install pyarrow)") from None
    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise InputError(f"{path}: not a parquet file pyarrow can read ({exc})") from exc
    out: dict[str, Array] = {}
    single = len(input_names) == 1 and table.num_columns == 1
    for name in table.column_names:
        target = input_names[0] if single else name
        out[name] = _column_array(path, name, table.column(name), shapes.get(target))
    return out


def _column_array(path: Path, name: str, column: Any, shape: Sequence[int] | None) -> Array:
    import pyarrow as pa

    rows = len(column)
    kind = column.type
    depth = 0
    while (
        pa.types.is_list(kind)
        or pa.types.is_fixed_size_list(kind)
        or (pa.types.is_large_list(kind))
    ):
        kind = kind.value_type
        depth += 1
    if depth == 0:
        return np.asarray(column.to_numpy())
    flat = column.combine_chunks()
    for _ in range(depth):
        flat = flat.flatten()
    values = np.asarray(flat.to_numpy(zero_copy_only=False))
    trailing = [int(d) for d in shape] if shape is not None and all(d >= 0 for d in shape) else None
    if trailing is not None and values.size == rows * int(np.prod(trailing)):
        return values.reshape(rows, *trailing)
    if rows == 0 or values.size % rows:
        raise InputError(
            f"{path}: column {name!r}: lists of different lengths ({values.size} values in "
            f"{rows} rows)"
        )
    return values.reshape(rows, values.size // rows)
