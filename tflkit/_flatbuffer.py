"""Bounds-checked reads of a flatbuffer: tables, scalars, strings and vectors.

A flatbuffer is a tree of tables found through offsets (https://flatbuffers.dev/internals/): a
table starts with a signed offset back to its vtable, the vtable lists where each field sits
(0: absent, use the default), and a string or vector field holds an unsigned offset forward to
its length and data. Every read here checks its bytes against the end of the file first, and
every vector's length against the bytes left, so a truncated or crafted file gives an
``InvalidModelError`` that says which byte it wanted and how long the file is, promptly (a
crafted length can neither hang a loop nor ask for gigabytes). The ``tflite`` package's
generated readers check nothing: a bad offset surfaces as IndexError or struct.error deep inside
``flatbuffers``. Reading with ``struct`` also keeps ``tflite`` (~190 modules), ``flatbuffers``
and numpy out of ``tflkit inspect``.

This module knows the flatbuffer format, not the TFLite schema (``tflkit.loader`` does).
"""

from __future__ import annotations

import struct
from typing import Any

from tflkit.errors import InvalidModelError

__all__ = ["FlatBuffer", "Table"]

_I32 = struct.Struct("<i").unpack_from
_U32 = struct.Struct("<I").unpack_from
_U16 = struct.Struct("<H").unpack_from
_SCALARS = {fmt: struct.Struct("<" + fmt).unpack_from for fmt in "bBhHiIqQfd?"}

#: A table: (position of the table, position of its vtable, vtable size in bytes).
Table = tuple[int, int, int]


class FlatBuffer:
    """A flatbuffer in memory (bytes or a read-only mmap), read with bounds checks.

    Args:
        data: the buffer.
        where: what to call it in messages (the file's base name, or ``<bytes>``).
    """

    __slots__ = ("data", "size", "where", "_budget")

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

    def fail(self, what: str) -> InvalidModelError:
        """An InvalidModelError for this file: ``m.tflite: <what>``."""
        return InvalidModelError(f"{self.where}: {what}")

    def past_end(self, pos: int, nbytes: int) -> InvalidModelError:
        """The error for a read of ``nbytes`` at ``pos`` that does not fit the file."""
        if pos < 0:
            return self.fail(
                f"truncated or corrupt: the flatbuffer refers to byte {pos:,}, "
                "before the start of the file"
            )
        # Name the first byte the read needs that the file lacks: the file has bytes
        # 0..size-1, so that byte is never below size.
        byte = max(pos, self.size)
        return self.fail(
            f"truncated or corrupt: the flatbuffer refers to byte {byte:,} "
            f"but the file has {self.size:,} bytes"
        )

    def need(self, pos: int, nbytes: int) -> None:
        """Check that bytes ``pos .. pos + nbytes - 1`` are in the file."""
        if pos < 0 or pos + nbytes > self.size:
            raise self.past_end(pos, nbytes)

    def u32(self, pos: int) -> int:
        if pos < 0 or pos + 4 > self.size:
            raise self.past_end(pos, 4)
        return int(_U32(self.data, pos)[0])

    def scalar(self, pos: int, fmt: str) -> Any:
        """One little-endian scalar of struct format ``fmt`` (``"i"``, ``"Q"``, ...) at ``pos``."""
        unpack = _SCALARS[fmt]
        n = struct.calcsize(fmt)
        if pos < 0 or pos + n > self.size:
            raise self.past_end(pos, n)
        return unpack(self.data, pos)[0]

    def table(self, pos: int) -> Table:
        """The table at ``pos``, with its vtable located and checked."""
        if pos < 0 or pos + 4 > self.size:
            raise self.past_end(pos, 4)
        vt = pos - int(_I32(self.data, pos)[0])
        if vt < 0 or vt + 4 > self.size:
            raise self.past_end(vt, 4)
        vsize = int(_U16(self.data, vt)[0])
        if vsize < 4 or vsize % 2:
            # the vtable: the list of where each field of the table sits
            raise self.fail(
                f"corrupt: the table at byte {pos:,} lists its fields in {vsize} bytes, "
                "expected an even number of at least 4"
            )
        if vt + vsize > self.size:
            raise self.past_end(vt, vsize)
        return (pos, vt, vsize)

    def root(self) -> Table:
        """The root table (its offset is the file's first four bytes)."""
        return self.table(self.u32(0))

    def field(self, t: Table, slot: int) -> int:
        """Position of field number ``slot`` of table ``t``, or 0 when the field is absent."""
        pos, vt, vsize = t
        o = 4 + 2 * slot
        if o >= vsize:
            return 0
        off = int(_U16(self.data, vt + o)[0])
        return pos + off if off else 0

    def get(self, t: Table, slot: int, fmt: str, default: Any) -> Any:
        """A scalar field, or its schema default when absent."""
        p = self.field(t, slot)
        return default if p == 0 else self.scalar(p, fmt)

    def ref(self, t: Table, slot: int) -> int:
        """Where an offset field (table, string or vector) points, or 0 when absent."""
        p = self.field(t, slot)
        return 0 if p == 0 else p + self.u32(p)

    def sub(self, t: Table, slot: int) -> Table | None:
        """A table field, or None."""
        p = self.ref(t, slot)
        return None if p == 0 else self.table(p)

    def vector(self, t: Table, slot: int, elem_size: int, what: str) -> tuple[int, int]:
        """(position of the first element, length) of a vector field; (0, 0) when absent.

        The length is checked against the bytes left in the file before anyone loops over it.
        """
        p = self.ref(t, slot)
        if p == 0:
            return (0, 0)
        n = self.u32(p)
        start = p + 4
        if start + n * elem_size > self.size:
            raise self.fail(
                f"truncated or corrupt: the vector of {what} claims {n:,} entries, up to byte "
                f"{start + n * elem_size - 1:,}, but the file has {self.size:,} bytes"
            )
        return (start, n)

    def _spend(self, n: int) -> None:
        self._budget -= n
        if self._budget < 0:
            raise self.fail(
                f"corrupt: its tables and vectors add up to more than {self.size + (1 << 16):,} "
                f"entries, expected at most one per byte of the {self.size:,}-byte file "
                "(the same data is referred to over and over)"
            )

    def scalars(self, t: Table, slot: int, fmt: str, what: str) -> tuple[Any, ...]:
        """A vector of scalars (``fmt`` ``"i"``, ``"f"``, ``"q"``) as a tuple; () when absent."""
        start, n = self.vector(t, slot, struct.calcsize(fmt), what)
        if n == 0:
            return ()
        self._spend(n)
        return struct.unpack_from(f"<{n}{fmt}", self.data, start)

    def tables(self, t: Table, slot: int, what: str) -> list[Table]:
        """A vector of tables."""
        start, n = self.vector(t, slot, 4, what)
        self._spend(n)
        return [self.table(p + self.u32(p)) for p in range(start, start + 4 * n, 4)]

    def string(self, t: Table, slot: int) -> str | None:
        """A string field as text (stray bytes replaced: names are data, not structure)."""
        p = self.ref(t, slot)
        if p == 0:
            return None
        n = self.u32(p)
        if p + 4 + n > self.size:
            raise self.past_end(p + 4, n)
        self._spend(n // 4)  # a name shared by every tensor is as costly as a shared vector
        return bytes(self.data[p + 4 : p + 4 + n]).decode("utf-8", "replace")
