"""Arrays from users' files: the one loader of .npy / .npz / .parquet inputs and labels, and
the checks every array of data passes (numbers only, finite where it matters, not empty).

``read_arrays(path)`` reads a .npy (one array), a .npz (arrays by key) or a .parquet (one
array per column) and turns every way such a file can be wrong into one ``InputError`` naming
the file: empty, truncated, a bad header, a header that claims more bytes than the file holds
(checked before anything is allocated), pickles (never loaded), and values that are not real
numbers (objects, strings, complex, structured records, dates). ``require_finite`` refuses NaN
and inf with their counts and the first index; ``nonfinite_text`` says the same for a warning;
``require_samples`` refuses data without samples. pyarrow is imported only for a .parquet;
numpy only otherwise.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping, Sequence
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from tflkit._files import require_regular
from tflkit.errors import InputError

__all__ = [
    "SUFFIXES",
    "arrays_of",
    "labels_array",
    "check_numbers",
    "nonfinite_text",
    "read_arrays",
    "read_parquet",
    "require_finite",
    "require_samples",
]

Array = npt.NDArray[Any]

#: The files ``read_arrays`` reads.
SUFFIXES = (".npy", ".npz", ".parquet")
#: The longest .npy header read (numpy's own default limit).
_MAX_HEADER = 10_000


# ---------------------------------------------------------------- the loader


def read_arrays(
    path: str | os.PathLike[str],
    *,
    input_names: Sequence[str] = (),
    shapes: Mapping[str, Sequence[int]] | None = None,
) -> Array | dict[str, Array]:
    """A .npy file's array, a .npz file's arrays by key, or a .parquet file's columns by
    name (read eagerly, file closed); every array holds real numbers (``check_numbers``).

    ``input_names`` and ``shapes`` only matter for a .parquet (``read_parquet``).

    Raises:
        InputError: the file cannot be read as what its name says, or holds no numbers; the
            message names the file. (``OSError`` for a missing or unreadable file.)
    """
    name = os.fspath(path)
    require_regular(name)
    if name.endswith(".parquet"):
        return read_parquet(name, shapes or {}, input_names)
    with open(name, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise InputError(f"{name}: empty file (0 bytes), expected a .npy or .npz array")
        magic = f.read(6)
        f.seek(0)
        if magic.startswith(b"PK"):
            return _read_npz(name, f)
        if magic == b"\x93NUMPY":
            return _read_npy(name, f, size, name)
    raise InputError(
        f"{name}: not a .npy or .npz file (it starts with {magic[:6]!r}, expected "
        "b'\\x93NUMPY' or a zip archive)"
    )


def _read_npy(name: str, f: IO[bytes], size: int, where: str) -> Array:
    """One .npy from ``f`` (at its start; ``size`` bytes in all): header checked, then read."""
    start = f.tell()
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(
                f, max_header_size=_MAX_HEADER
            )
        else:  # 2.0, and 3.0 (the same layout, a UTF-8 header: only for non-latin field names)
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(
                f, max_header_size=_MAX_HEADER
            )
    except (ValueError, EOFError, OSError, SyntaxError, UnicodeDecodeError) as exc:
        raise InputError(f"{where}: not a .npy array numpy can read ({_reason(exc)})") from None
    if dtype.hasobject:
        raise InputError(f"{where}: a pickled object array ({dtype}), which tflkit never loads")
    check_numbers(dtype, where)
    count = 1
    for d in shape:
        count *= int(d)
    need = count * dtype.itemsize
    have = size - (f.tell() - start)
    if need > have:
        raise InputError(
            f"{where}: the header declares {dtype} {_shape(shape)} ({need:,} bytes), the file "
            f"holds {max(have, 0):,} bytes after it (truncated or corrupt)"
        )
    f.seek(start)
    try:
        array = np.lib.format.read_array(f, allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:
        raise InputError(f"{where}: not a .npy array numpy can read ({_reason(exc)})") from None
    return np.asarray(array)


def _read_npz(name: str, f: IO[bytes]) -> dict[str, Array]:
    """Every array of a .npz, each member checked as a .npy against its declared size."""
    try:
        with zipfile.ZipFile(f) as z:
            out: dict[str, Array] = {}
            for info in z.infolist():
                if info.is_dir():
                    continue
                if not info.filename.endswith(".npy"):
                    raise InputError(
                        f"{name}: member {info.filename!r} is not a .npy array (a .npz holds "
                        "only .npy members)"
                    )
                key = info.filename[: -len(".npy")]
                with z.open(info) as member:
                    out[key] = _read_npy(name, member, info.file_size, f"{name}: array {key!r}")
            return out
    except InputError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
        # a truncated archive, a bad CRC, a member cut short, a compression method unknown
        raise InputError(f"{name}: not a .npz archive numpy can read ({_reason(exc)})") from None
    except NotImplementedError as exc:
        raise InputError(f"{name}: not a .npz archive numpy can read ({_reason(exc)})") from None


def read_parquet(
    path: str | os.PathLike[str],
    shapes: Mapping[str, Sequence[int]],
    input_names: Sequence[str],
) -> dict[str, Array]:
    """A .parquet file's columns by name, one array each; a list or fixed-size-list column
    becomes an array of shape (rows, *shapes[name]) when ``shapes`` gives the sample shape
    (the dimensions after the batch axis), else (rows, length). One column feeds a
    single-input model whatever its name (its shape then comes from that input's).

    Raises:
        InputError: pyarrow missing, not a parquet file, lists of different lengths, values
            that are not numbers (the message names the file and the column).
    """
    name = os.fspath(path)
    require_regular(name)
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow is an optional dependency
        raise InputError(f"{name}: reading .parquet needs pyarrow (pip install pyarrow)") from None
    try:
        table = pq.read_table(name)
    except Exception as exc:  # ArrowInvalid, OSError, ...: anything pyarrow cannot read
        raise InputError(f"{name}: not a parquet file pyarrow can read ({_reason(exc)})") from exc
    out: dict[str, Array] = {}
    single = len(input_names) == 1 and table.num_columns == 1
    for column in table.column_names:
        target = input_names[0] if single else column
        try:
            array = _column_array(name, column, table.column(column), shapes.get(target))
        except InputError:
            raise
        except Exception as exc:  # nulls, nested types numpy cannot hold
            raise InputError(
                f"{name}: column {column!r}: cannot make an array of it ({_reason(exc)})"
            ) from exc
        check_numbers(array.dtype, f"{name}: column {column!r}")
        out[column] = array
    return out


def _column_array(path: str, name: str, column: Any, shape: Sequence[int] | None) -> Array:
    import pyarrow as pa

    rows = len(column)
    kind = column.type
    depth = 0
    lists = (pa.types.is_list, pa.types.is_fixed_size_list, pa.types.is_large_list)
    while any(is_list(kind) for is_list in lists):
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


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _shape(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


# ---------------------------------------------------------------- what arrays hold


def check_numbers(dtype: Any, where: str) -> None:
    """InputError unless ``dtype`` holds real numbers (bool, integers, floats): objects,
    strings, complex numbers, structured records and dates are named and refused."""
    dt = np.dtype(dtype)
    if dt.kind in "biuf" and dt.names is None and not dt.hasobject:
        return
    if dt.hasobject and dt.names is None:
        why = "Python objects (dtype object), not numbers"
    elif dt.names is not None:
        why = f"structured records ({dt}), not an array of numbers"
    elif dt.kind == "V":
        why = f"raw bytes ({dt.str}), not numbers"
    elif dt.kind in "SU":
        why = f"strings ({dt.str}), not numbers"
    elif dt.kind == "c":
        why = f"{dt.name} values: the imaginary part would be lost; give real numbers"
    elif dt.kind in "mM":
        why = f"{dt.name} values (dates or durations), not numbers"
    else:
        why = f"{dt} values, not numbers"
    raise InputError(f"{where}: {why}")


def arrays_of(data: Any) -> list[tuple[str, Array]]:
    """(key, array) for an array (key ''), a list (its index) or a mapping (its key), the
    inputs of a model; what numpy cannot make an array of (ragged lists) is left out, for the
    checks of the model's inputs to refuse."""
    if isinstance(data, Mapping):
        items = [(str(k), v) for k, v in data.items()]
    elif isinstance(data, (list, tuple)):
        items = [(str(i), v) for i, v in enumerate(data)]
    else:
        items = [("", data)]
    out = []
    for k, v in items:
        try:
            out.append((k, np.asarray(v)))
        except (ValueError, TypeError):
            continue
    return out


def labels_array(y: Any) -> Any:
    """Labels as one array (a list of class indices is one array, not a list of inputs);
    ``y`` itself when numpy cannot make an array of it (the label checks refuse it)."""
    try:
        return np.asarray(y)
    except (ValueError, TypeError):
        return y


def nonfinite_text(array: Any) -> str | None:
    """``"3 NaN and 1 inf values, the first at index (12, 4)"``, or None when every value is
    finite (integer and bool arrays always are)."""
    a = np.asarray(array)
    if a.dtype.kind not in "fc" or not a.size:
        return None
    finite = np.isfinite(a)
    if finite.all():
        return None
    nan = int(np.count_nonzero(np.isnan(a)))
    inf = int(a.size - np.count_nonzero(finite)) - nan
    parts = [f"{nan} NaN"] if nan else []
    if inf:
        parts.append(f"{inf} inf")
    first = tuple(int(i) for i in np.unravel_index(int(np.argmin(finite)), a.shape))
    where = ", ".join(map(str, first)) + ("," if len(first) == 1 else "")
    values = "value" if nan + inf == 1 else "values"
    return f"{' and '.join(parts)} {values}, the first at index ({where})"


def require_finite(array: Any, what: str, *, allow_nonfinite: bool = False) -> None:
    """InputError when ``array`` (an array, a list or a dict of arrays by input) holds NaN or inf,
    with the counts and the first index: ``calibration data 'x.npy': 3 NaN and 1 inf values,
    the first at index (12, 4); pass allow_nonfinite=True to use them anyway``. Nothing when
    ``allow_nonfinite``."""
    if allow_nonfinite:
        return
    for key, a in arrays_of(array):
        text = nonfinite_text(a)
        if text is not None:
            which = f", input {key!r}" if isinstance(array, Mapping) else ""
            which = which or (f", input {key}" if key else "")
            raise InputError(f"{what}{which}: {text}; pass allow_nonfinite=True to use them anyway")


def require_samples(n: int, what: str, data: Any = None) -> None:
    """InputError when data has no samples (``n == 0``), saying what came (the shapes)."""
    if n > 0:
        return
    shapes = ""
    if data is not None:
        named = isinstance(data, (Mapping, list, tuple))
        shapes = ", ".join(
            (f"input {k!r} of " if isinstance(data, Mapping) else f"input {k} of " if named else "")
            + f"shape {_shape(np.shape(a))}"
            for k, a in arrays_of(data)
        )
        shapes = f" ({shapes})"
    raise InputError(f"{what}: no samples{shapes}; give at least one")
