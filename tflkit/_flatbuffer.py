"""Reading the TFLite flatbuffer: the only module that imports ``tflite`` / ``flatbuffers``.

Values are read by the ``tflite`` package's generated schema bindings (``tflite.Model``,
``tflite.Tensor``, ``tflite.QuantizationParameters`` ...), which run on ``flatbuffers``. Those
readers check nothing: a bad offset surfaces as IndexError, struct.error or TypeError deep inside
``flatbuffers``, a string past the end of the file comes back short, and a crafted vector length
can make a loop run for hours. So before a binding reads anything, this module checks where it
will read (https://flatbuffers.dev/internals/): each table's start, its vtable and its inline
fields against the end of the file, each string's and vector's length against the bytes left
(before anyone loops over it), and the entries read against a budget. A truncated or crafted file
gives an ``InvalidModelError`` that says which byte it wanted and how long the file is; whatever
the readers still raise is turned into ``InvalidModelError(...) from exc``.

Union members newer than the bindings (LiteRT's ``BlockwiseQuantization``) are read with the
``flatbuffers`` table API the same way: ``union`` checks the table, ``int32`` / ``int32s`` its
fields, ``values`` the numbers a tensor's buffer holds.

Operators' builtin options (``Conv2DOptions`` ...) are many small tables, one an operator:
``option_layouts`` learns once per options class where each wanted getter of the bindings
reads (vtable slot, number type, default), and ``Reader.builtin_options`` reads those fields
with ``struct``, checked like the rest: each vtable once, and each distinct table once, per load
(the options of 3,000 convolutions cost ~3% of their load, calling the getters ~25%).

This module knows the flatbuffer format and the bindings; ``tflkit.loader`` knows the schema
(which field of which table holds what). Importing it imports ``tflite`` (~190 modules),
``flatbuffers`` and numpy, so ``tflkit.loader`` imports it on first use.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from typing import Any

import numpy as np
import tflite
from flatbuffers.table import Table

from tflkit.errors import InvalidModelError

__all__ = ["READER_ERRORS", "OptionLayouts", "Reader", "op_name", "option_layouts"]

_I32 = struct.Struct("<i").unpack_from
_U32 = struct.Struct("<I").unpack_from
_U16 = struct.Struct("<H").unpack_from
_U8 = struct.Struct("<B").unpack_from
_VTABLE = struct.Struct("<HH").unpack_from  # a vtable starts: its own size, the table's size

_IDENTIFIER = b"TFL3"
# What a file given in a .tflite's place often is, by its first bytes, so that the identifier
# error says what came, not only four bytes at offset 4: a Keras model (.keras is a zip, .h5 is
# HDF5), a NumPy array, an image renamed
_OTHER_FORMATS = (
    (b"PK\x03\x04", "a zip archive, as a .keras model or an .npz is: convert a Keras model first"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file, as a Keras .h5 model is: convert it first"),
    (b"\x93NUMPY", "a NumPy .npy array"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
)

#: What the generated readers raise on a file the checks here let through (a field placed by
#: a crafted vtable past the end of the file, bytes that are not UTF-8 where text is decoded).
READER_ERRORS = (
    IndexError,
    struct.error,
    ValueError,
    TypeError,
    OverflowError,
    UnicodeDecodeError,
    RecursionError,
)

# BuiltinOperator code -> name: the bindings' own enum, plus the codes LiteRT's schema.fbs added
# after the tflite 2.18 package (which stops at 208 STABLEHLO_CBRT). Newer codes: BUILTIN_<n>.
_OP_NAMES: dict[int, str] = {
    v: k
    for k, v in vars(tflite.BuiltinOperator).items()
    if not k.startswith("_") and isinstance(v, int)
}
for _code, _name in {209: "STABLEHLO_CASE"}.items():
    _OP_NAMES.setdefault(_code, _name)


# (name, vtable slot, struct unpack, width in bytes, default) of one scalar options field
_Field = tuple[str, int, Any, int, Any]
# (name, offset after the table's vtable offset or -1 when absent, struct unpack, default)
_Placed = tuple[str, int, Any, Any]


class _Probe:
    """Stands in for the ``flatbuffers.table.Table`` of a binding's options object, to learn
    where one of its scalar getters reads: the vtable slot and the number type (and, when told
    the field is absent, the default the getter returns)."""

    __slots__ = ("Pos", "present", "slot", "flags")

    def __init__(self, present: bool) -> None:
        self.Pos, self.present, self.slot = 0, present, -1
        self.flags: Any = None

    def Offset(self, slot: int) -> int:  # noqa: N802 (flatbuffers' name)
        self.slot = slot
        return 4 if self.present else 0

    def Get(self, flags: Any, off: int) -> int:  # noqa: N802
        self.flags = flags
        return 0


def _field(cls: Any, getter: str, name: str) -> _Field:
    """Where the bindings' ``cls.getter`` reads its scalar, learnt by calling it on probes."""
    obj = cls.__new__(cls)
    obj._tab = _Probe(False)
    default = getattr(obj, getter)()
    obj._tab = probe = _Probe(True)
    getattr(obj, getter)()
    packer = probe.flags.packer_type  # struct.Struct("<i") ...
    return (name, probe.slot, packer.unpack_from, packer.size, default)


class OptionLayouts(dict[int, tuple[_Field, ...]]):
    """BuiltinOptions union code -> the fields of its options class to read, learnt from the
    bindings' getters on first use (each class once per process)."""

    def __init__(self, getters: tuple[tuple[str, str], ...]) -> None:
        super().__init__()
        self.getters = getters

    def __missing__(self, code: int) -> tuple[_Field, ...]:
        cls = getattr(tflite, _OPTION_CLASSES.get(code, ""), None)
        methods = vars(cls) if cls is not None else {}
        fields = tuple(_field(cls, g, name) for g, name in self.getters if g in methods)
        self[code] = fields
        return fields


# BuiltinOptions union code -> the name of the bindings' options class (``Conv2DOptions``)
_OPTION_CLASSES: dict[int, str] = {
    code: name for name, code in vars(tflite.BuiltinOptions).items() if isinstance(code, int)
}


@functools.cache
def option_layouts(getters: tuple[tuple[str, str], ...]) -> OptionLayouts:
    """What ``Reader.builtin_options`` reads: ``getters`` pairs a getter of the bindings'
    options classes (``"StrideW"``) with the name the value gets (``"stride_w"``)."""
    return OptionLayouts(getters)


def op_name(code: int) -> str:
    """BuiltinOperator name for a code; ``BUILTIN_<code>`` if the code is newer than we know."""
    return _OP_NAMES.get(code, f"BUILTIN_{code}")


class _TableView:
    """A table reached through a union the bindings have no class for (``_tab`` only)."""

    __slots__ = ("_tab",)

    def __init__(self, tab: Any) -> None:
        self._tab = tab


class Reader:
    """A flatbuffer in memory (bytes or a read-only mmap), read through the bindings, checked.

    Args:
        data: the buffer.
        where: what to call it in messages (the file's base name, or ``<bytes>``).
    """

    __slots__ = ("data", "size", "where", "_budget", "_option_fields")

    def __init__(self, data: Any, where: str) -> None:
        self.data = data
        self.size = len(data)
        self.where = where
        # Entries read into Python objects, all vectors together. A file stores each entry in
        # at least 4 bytes, but offsets may point many times at the same table or vector: a
        # 1 MB file whose 250,000 tensors share one 250,000-entry shape asks for 62.5 billion
        # entries. A converter writes each vector once, so the file's size (4x headroom)
        # bounds what a real model needs.
        self._budget = self.size + (1 << 16)
        # options vtable position * 256 + options type -> (table size, where its fields are,
        # table bytes -> options read from them): builtin_options
        self._option_fields: dict[int, tuple[int, tuple[_Placed, ...], dict[bytes, Any]]] = {}

    # ------------------------------------------------------------ messages
    def fail(self, what: str) -> InvalidModelError:
        """An InvalidModelError for this file: ``m.tflite: <what>``."""
        return InvalidModelError(f"{self.where}: {what}")

    def past_end(self, pos: int) -> InvalidModelError:
        """The error for a read at ``pos`` that does not fit the file."""
        if pos < 0:
            return self.fail(
                f"truncated or corrupt: the flatbuffer refers to byte {pos:,}, "
                "before the start of the file"
            )
        # Name the first byte the read needs that the file lacks: the file has bytes
        # 0..size-1, so that byte is never below size.
        return self.fail(
            f"truncated or corrupt: the flatbuffer refers to byte {max(pos, self.size):,} "
            f"but the file has {self.size:,} bytes"
        )

    def unreadable(self, what: str, exc: BaseException) -> InvalidModelError:
        """The error for whatever a generated reader raised while reading ``what``."""
        if isinstance(exc, UnicodeDecodeError):
            return self.fail(f"corrupt: {what} holds text that is not UTF-8")
        return self.fail(f"corrupt: {what} could not be read (a field points outside its data)")

    def _spend(self, n: int) -> None:
        self._budget -= n
        if self._budget < 0:
            raise self.fail(
                f"corrupt: its tables and vectors add up to more than {self.size + (1 << 16):,} "
                f"entries, expected at most one per byte of the {self.size:,}-byte file "
                "(the same data is referred to over and over)"
            )

    # ------------------------------------------------------------ structure checks
    def _u32(self, pos: int) -> int:
        if pos < 0 or pos + 4 > self.size:
            raise self.past_end(pos)
        return int(_U32(self.data, pos)[0])

    def table(self, obj: Any) -> Any:
        """Check the table a binding object points at (start, vtable, inline fields); return it."""
        pos, size, data = obj._tab.Pos, self.size, self.data
        if pos + 4 > size:
            raise self.past_end(pos)
        vt = pos - _I32(data, pos)[0]
        if vt < 0 or vt + 4 > size:
            raise self.past_end(vt)
        vsize, tsize = _VTABLE(data, vt)
        if vsize < 4 or vsize % 2:
            # the vtable: the list of where each field of the table sits
            raise self.fail(
                f"corrupt: the table at byte {pos:,} lists its fields in {vsize} bytes, "
                "expected an even number of at least 4"
            )
        if vt + vsize > size:
            raise self.past_end(vt + vsize - 1)
        if pos + tsize > size:  # the table's own bytes: every scalar field sits in them
            raise self.past_end(pos + tsize - 1)
        return obj

    def root(self) -> Any:
        """The root table as a ``tflite.Model``, after the identifier and root offset checks."""
        if self.size < 8:
            raise self.fail(
                f"file is {self.size} bytes, too short for a TFLite model (at least 8: an offset "
                "and the identifier)"
            )
        ident = bytes(self.data[4:8])
        if ident != _IDENTIFIER:
            head = bytes(self.data[:8])
            known = next((what for magic, what in _OTHER_FORMATS if head.startswith(magic)), None)
            hint = "" if known is None else f" (the file is {known})"
            raise self.fail(f"file identifier is {ident!r}, expected {_IDENTIFIER!r}{hint}")
        root = self._u32(0)
        if root >= self.size:
            raise self.fail(
                f"truncated or corrupt: the root table is at byte {root:,} "
                f"but the file has {self.size:,} bytes"
            )
        return self.table(tflite.Model.GetRootAs(self.data, 0))

    def _target(self, obj: Any, slot: int) -> int:
        """Where the offset field at vtable ``slot`` points (its string/vector/table); 0: absent."""
        # The vtable was checked by table(); read it here with struct rather than through
        # the binding's Offset() (three flatbuffers Table.Get calls, ~1 us each).
        data = self.data
        pos: int = obj._tab.Pos
        vt = pos - _I32(data, pos)[0]
        if slot >= _U16(data, vt)[0]:
            return 0
        off = _U16(data, vt + slot)[0]
        if not off:
            return 0
        p = pos + off
        if p + 4 > self.size:
            raise self.past_end(p)
        target: int = p + _U32(data, p)[0]
        return target

    def length(self, obj: Any, slot: int, elem_size: int, what: str) -> int:
        """Entries of the vector at vtable ``slot`` (0 when absent), checked against the file."""
        p = self._target(obj, slot)
        if not p:
            return 0
        size = self.size
        if p + 4 > size:
            raise self.past_end(p)
        n: int = _U32(self.data, p)[0]
        end = p + 4 + n * elem_size
        if end > size:
            raise self.fail(
                f"truncated or corrupt: the vector of {what} claims {n:,} entries, up to byte "
                f"{end - 1:,}, but the file has {size:,} bytes"
            )
        return n

    def span(self, obj: Any, slot: int, what: str) -> tuple[int, int]:
        """(position of the first byte, length) of a byte vector; (0, 0) when absent."""
        n = self.length(obj, slot, 1, what)
        return (self._target(obj, slot) + 4, n) if n else (0, 0)

    def tables(self, obj: Any, slot: int, what: str) -> int:
        """Entries of a vector of tables, checked and counted against the budget."""
        n = self.length(obj, slot, 4, what)
        self._spend(n)
        return n

    def numbers(
        self, obj: Any, slot: int, elem_size: int, as_numpy: Callable[[], Any], what: str
    ) -> tuple[Any, ...]:
        """A vector of numbers, read by the binding's ``...AsNumpy`` in one call; () if absent."""
        n = self.length(obj, slot, elem_size, what)
        if not n:
            return ()
        self._spend(n)
        return tuple(as_numpy().tolist())

    def string(self, obj: Any, slot: int, get: Callable[[], bytes | None]) -> str | None:
        """A string field as text (stray bytes replaced: names are data, not structure)."""
        p = self._target(obj, slot)
        if not p:
            return None
        n = self._u32(p)
        if p + 4 + n > self.size:
            raise self.past_end(p + 4 + n - 1)
        self._spend(n // 4)  # a name shared by every tensor is as costly as a shared vector
        raw = get()
        return None if raw is None else raw.decode("utf-8", "replace")

    def sub(self, obj: Any, slot: int, get: Callable[[], Any]) -> Any:
        """A table field through its binding getter, checked; None when absent."""
        if not self._target(obj, slot):
            return None
        return self.table(get())

    def union(self, obj: Any, slot: int) -> Any:
        """The table a union field at vtable ``slot`` points at, checked; None when absent.

        For union members newer than the bindings (LiteRT's ``BlockwiseQuantization``): the
        result has only ``_tab``; read its fields with ``int32`` and ``int32s``.
        """
        target = self._target(obj, slot)
        if not target:
            return None
        return self.table(_TableView(Table(self.data, target)))

    def int32(self, obj: Any, slot: int, default: int) -> int:
        """The int32 scalar field at vtable ``slot`` of a checked table; ``default`` if absent."""
        data = self.data
        pos: int = obj._tab.Pos
        vt = pos - _I32(data, pos)[0]
        if slot >= _U16(data, vt)[0]:
            return default
        off = _U16(data, vt + slot)[0]
        if not off:
            return default
        if pos + off + 4 > self.size:
            raise self.past_end(pos + off)
        return int(_I32(data, pos + off)[0])

    def builtin_options(
        self, op: Any, type_slot: int, slot: int, layouts: OptionLayouts
    ) -> tuple[tuple[str, Any], ...]:
        """An operator's builtin options, ``(name, value)`` for the fields ``layouts`` (from
        ``option_layouts``) knows in its options class (``Conv2DOptions`` ...), in their order.

        ``type_slot`` / ``slot``: the vtable slots of the operator's ``builtin_options_type``
        and ``builtin_options`` (the union). A field the table leaves out reads as the
        schema's default, as the bindings read it. () when the operator stores no options,
        when their type is newer than the bindings, or when the table cannot be read (a crafted
        offset): the options are then absent, which is what a rule that reads them has always
        made of such a file, and the rest of the model loads.
        """
        data, size = self.data, self.size
        try:
            # the operator's table was checked by table(); read its two fields with struct
            op_pos: int = op._tab.Pos
            op_vt = op_pos - _I32(data, op_pos)[0]
            if slot >= _U16(data, op_vt)[0]:
                return ()
            type_at, value_at = _U16(data, op_vt + type_slot)[0], _U16(data, op_vt + slot)[0]
            code = _U8(data, op_pos + type_at)[0] if type_at and value_at else 0
            fields = layouts[code] if code else ()
            if not fields:
                return ()
            pos = op_pos + value_at
            pos += _U32(data, pos)[0]
            if pos + 4 > size:
                raise self.past_end(pos)
            # Tables of one options class mostly share one vtable (builders write each once):
            # check it and find the fields in it once per load; and many tables hold the same
            # bytes (every 1x1 stride SAME RELU6 convolution): read those once too.
            key = (pos - _I32(data, pos)[0]) * 256 + code
            placed = self._option_fields.get(key)
            if placed is None:
                placed = self._option_fields[key] = (*self._place_fields(pos, fields), {})
            tsize, where, seen = placed
            if pos + tsize > size:
                raise self.past_end(pos + tsize - 1)
            table = data[pos + 4 : pos + tsize]  # after the offset to the vtable: the fields
            found = seen.get(table)
            if found is None:
                found = seen[table] = tuple(
                    (name, unpack(table, off)[0] if off >= 0 else default)
                    for name, off, unpack, default in where
                )
            return found
        except (InvalidModelError, *READER_ERRORS):
            return ()

    def _place_fields(
        self, pos: int, fields: tuple[_Field, ...]
    ) -> tuple[int, tuple[_Placed, ...]]:
        """(size of the table at ``pos``, where each of ``fields`` is: ``_Placed``), from the
        table's vtable, checked."""
        data = self.data
        self.table(_TableView(Table(data, pos)))
        vt = pos - _I32(data, pos)[0]
        vsize, tsize = _VTABLE(data, vt)
        where = []
        for name, slot, unpack, width, default in fields:
            off = _U16(data, vt + slot)[0] if slot < vsize else 0
            if off and (off < 4 or off + width > tsize):
                raise self.fail(f"corrupt: the table at byte {pos:,} places a field outside it")
            where.append((name, off - 4 if off else -1, unpack, default))
        return tsize, tuple(where)

    def int32s(self, obj: Any, slot: int, what: str) -> tuple[int, ...]:
        """The vector of int32 at vtable ``slot`` of a checked table; () when absent."""
        n = self.length(obj, slot, 4, what)
        if not n:
            return ()
        self._spend(n)
        return tuple(struct.unpack_from(f"<{n}i", self.data, self._target(obj, slot) + 4))

    def values(self, start: int, count: int, dtype: str, what: str) -> tuple[Any, ...]:
        """``count`` little-endian numbers of numpy ``dtype`` from byte ``start``, as Python
        numbers; float16 and bfloat16 come back as the float32 values they widen to."""
        item = 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize
        end = start + count * item
        if start < 0 or end > self.size:
            raise self.fail(
                f"truncated or corrupt: {what} needs bytes {start:,} to {end - 1:,} "
                f"but the file has {self.size:,} bytes"
            )
        self._spend(count)
        if dtype == "bfloat16":  # the upper half of a float32
            raw = np.frombuffer(self.data, "<u2", count, start).astype(np.uint32) << 16
            return tuple(raw.view(np.float32).tolist())
        arr = np.frombuffer(self.data, np.dtype(dtype).newbyteorder("<"), count, start)
        if arr.dtype.kind == "f":
            arr = arr.astype(np.float32)
        return tuple(arr.tolist())
