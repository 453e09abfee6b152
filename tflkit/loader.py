"""Loading: a path, ``os.PathLike``, bytes or a loaded Model -> ``tflkit.Model``.

The one rule for every public function that takes a model (``tflkit.check``,
``tflkit.quantization_kind``, ``tflkit.testing.assert_*``, ``tflkit.compare``, ...): it takes a
``ModelLike``, that is

- a path, as ``str`` or ``os.PathLike`` (``pathlib.Path``): the file is memory-mapped, not read;
- the model's bytes (``bytes``, ``bytearray``, ``memoryview``);
- a ``tflkit.Model`` from ``tflkit.load()``, used as it is (not read again),

and turns it into a Model with ``resolve()``. Anything else is a TypeError that names what was
expected and what came.

This module reads the TFLite schema (which field of which table holds what) through the
bounds-checked reads of ``tflkit._flatbuffer`` and builds the plain data of ``tflkit.model``.
"""

from __future__ import annotations

import mmap
import os
from typing import Any

from tflkit import dtypes
from tflkit._flatbuffer import FlatBuffer, Table
from tflkit._opcodes import CUSTOM, op_name
from tflkit.errors import InvalidModelError, TflkitError
from tflkit.model import (
    Metadata,
    Model,
    ModelLike,
    ModelSource,
    Operator,
    Quantization,
    Signature,
    SignatureTensor,
    Subgraph,
    Tensor,
)

__all__ = ["ModelLike", "ModelSource", "interpreter_source", "load", "resolve"]

_IDENTIFIER = b"TFL3"


class _Source:
    """The model's bytes (a read-only mmap of the file, or the bytes given), shared by its tensors.

    Pickles as the path it came from (re-mapped on first use) or as the bytes.
    """

    __slots__ = ("path", "_data")

    def __init__(self, path: str | None, data: Any = None) -> None:
        self.path = path
        self._data = data

    @property
    def data(self) -> Any:
        if self._data is None:
            if self.path is None:  # pragma: no cover - only by misuse
                raise TflkitError("the model's bytes are no longer available")
            self._data = _map_file(self.path)
        return self._data

    def __reduce__(self) -> tuple[Any, ...]:
        if self.path is not None:
            return (_Source, (self.path,))
        return (_Source, (None, bytes(self._data)))


def _map_file(path: str) -> Any:
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise InvalidModelError(
                f"{os.path.basename(path)}: file is empty, expected a TFLite model"
            )
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


def _type_name(value: object) -> str:
    cls = type(value)
    return cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


_EXPECTED = "a path (str or os.PathLike), bytes or a tflkit.Model"


def load(model: ModelLike) -> Model:
    """Read a .tflite model into a Model, without TensorFlow and without copying weights.

    Args:
        model: a path to a .tflite file (``str`` or ``os.PathLike``; the file is memory-mapped),
            or the model's bytes (``bytes``, ``bytearray``, ``memoryview``). A ``tflkit.Model``
            is returned as it is: ``load`` follows the rule of every function that takes a
            model (see ``resolve``).

    Returns:
        The immutable description of every subgraph, tensor, operator, signature and metadata
        entry. Constant data is read on request with ``Tensor.numpy()``.

    Raises:
        InvalidModelError: the file is not a valid TFLite flatbuffer (wrong identifier,
            truncated, offsets or indices out of range).
        OSError: the file cannot be read.
        TypeError: ``model`` is not a path, bytes or Model.

    Example:
        >>> m = tflkit.load("mlp_int8.tflite")
        >>> m.inputs[0].dtype, m.inputs[0].quantization.scale
        ('int8', 0.0039...)
    """
    return resolve(model)


def resolve(model: ModelLike) -> Model:
    """The Model for anything a tflkit function accepts as a model: the one rule.

    Every public function that takes a model calls this on it, so each takes the same four
    forms.

    Args:
        model: a path (``str`` or ``os.PathLike``), the model's bytes (``bytes``,
            ``bytearray``, ``memoryview``), or a ``tflkit.Model`` (returned as it is, not read
            again).

    Returns:
        The Model.

    Raises:
        TypeError: ``model`` is none of these; the message names the type that came.
        InvalidModelError: the file is not a valid TFLite flatbuffer.
        OSError: the file cannot be read.

    Example:
        >>> model = resolve("mlp_int8.tflite")
        >>> resolve(model) is model
        True
    """
    if isinstance(model, Model):
        return model
    if isinstance(model, (bytes, bytearray, memoryview)):
        data = bytes(model) if not isinstance(model, bytes) else model
        return _build(_Source(None, data), path=None, where="<bytes>")
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not isinstance(path, str):  # os.PathLike[bytes]
            raise TypeError(f"expected {_EXPECTED}, got a bytes path {path!r}")
        if os.path.isdir(path):
            raise InvalidModelError(f"{path}: is a directory, expected a .tflite file")
        return _build(_Source(path, _map_file(path)), path=path, where=os.path.basename(path))
    raise TypeError(f"expected {_EXPECTED}, got {_type_name(model)}")


def interpreter_source(model: Model) -> str | bytes:
    """What to give the LiteRT interpreter for ``model``: its path, or its bytes.

    The path when the model was loaded from a file (``Interpreter(model_path=...)``, so the
    runtime maps the file itself), else the bytes it was loaded from
    (``Interpreter(model_content=...)``).

    Raises:
        TypeError: ``model`` is not a Model.
        TflkitError: the Model was not built by ``load()`` and carries no bytes.

    Example:
        >>> src = interpreter_source(tflkit.load("m.tflite"))  # "m.tflite"
    """
    if not isinstance(model, Model):
        raise TypeError(f"expected a tflkit.Model, got {_type_name(model)}")
    source = model._source
    if isinstance(source, _Source):
        if source.path is not None:
            return source.path
        data = source.data
        return data if isinstance(data, bytes) else bytes(data)
    if model.path is not None:
        return model.path
    raise TflkitError(f"{model.name}: the model carries neither a path nor its bytes")


# ---------------------------------------------------------------- the TFLite schema
# Field numbers of the tables in LiteRT's schema.fbs (a field's vtable slot is 4 + 2 * number).
# Model: version 0, operator_codes 1, subgraphs 2, description 3, buffers 4, metadata 6,
# signature_defs 7. OperatorCode: deprecated_builtin_code 0 (int8), custom_code 1, version 2
# (default 1), builtin_code 3. SubGraph: tensors 0, inputs 1, outputs 2, operators 3, name 4.
# Tensor: shape 0, type 1 (int8), buffer 2, name 3, quantization 4, is_variable 5, sparsity 6,
# shape_signature 7. QuantizationParameters: min 0, max 1, scale 2, zero_point 3 (int64),
# quantized_dimension 6. Operator: opcode_index 0, inputs 1, outputs 2. Buffer: data 0,
# offset 1 (uint64), size 2 (uint64). Metadata: name 0, buffer 1. SignatureDef: inputs 0,
# outputs 1, signature_key 2, subgraph_index 4. TensorMap: name 0, tensor_index 1.


class _Builder:
    def __init__(self, fb: FlatBuffer, source: _Source) -> None:
        self.fb = fb
        self.source = source
        self.buffers: list[Table] = []
        self._buffer_info: dict[int, tuple[int, int]] = {}

    def buffer(self, index: int, what: str) -> tuple[int, int]:
        """(offset of the data in the file, size in bytes) of buffer ``index``; (-1, 0) if none."""
        info = self._buffer_info.get(index)
        if info is not None:
            return info
        fb, n = self.fb, len(self.buffers)
        if not 0 <= index < n:
            if index == 0:  # buffer 0 is the conventional empty sentinel
                return (-1, 0)
            raise fb.fail(f"{what} refers to buffer {index}, the model has {n}")
        b = self.buffers[index]
        offset, size = fb.get(b, 1, "Q", 0), fb.get(b, 2, "Q", 0)
        if offset > 1:
            # Data stored after the flatbuffer (models over 2 GB); offset 1 is the converter's
            # placeholder, meaning "no data".
            if offset + size > fb.size:
                raise fb.fail(
                    f"truncated or corrupt: buffer {index} refers to bytes {offset:,} to "
                    f"{offset + size - 1:,} but the file has {fb.size:,} bytes"
                )
            info = (offset, size) if size > 0 else (-1, 0)
        else:
            start, length = fb.vector(b, 0, 1, f"buffer {index} data")
            info = (start, length) if length > 0 else (-1, 0)
        self._buffer_info[index] = info
        return info

    def model(self, path: str | None) -> Model:
        fb = self.fb
        if fb.size < 8:
            raise fb.fail(
                f"file is {fb.size} bytes, too short for a TFLite model (at least 8: an offset "
                "and the identifier)"
            )
        ident = bytes(fb.data[4:8])
        if ident != _IDENTIFIER:
            raise fb.fail(f"file identifier is {ident!r}, expected {_IDENTIFIER!r}")
        root = fb.u32(0)
        if root >= fb.size:
            raise fb.fail(
                f"truncated or corrupt: the root table is at byte {root:,} "
                f"but the file has {fb.size:,} bytes"
            )
        m = fb.root()
        self.buffers = fb.tables(m, 4, "buffers")
        opcodes: list[tuple[int, str | None, int]] = []
        for oc in fb.tables(m, 1, "operator codes"):
            # op code = max(deprecated_builtin_code, builtin_code): the old int8 field stops at
            # 127 (PLACEHOLDER_FOR_GREATER_OP_CODES) and old files leave the new field at 0.
            code = max(fb.get(oc, 0, "b", 0), fb.get(oc, 3, "i", 0))
            opcodes.append((code, fb.string(oc, 1), fb.get(oc, 2, "i", 1)))

        subgraph_tables = fb.tables(m, 2, "subgraphs")
        if not subgraph_tables:
            raise fb.fail("model has no subgraphs, expected at least one")
        subgraphs = [self.subgraph(s, sg, opcodes) for s, sg in enumerate(subgraph_tables)]
        nsub = len(subgraphs)

        signatures = []
        for sd in fb.tables(m, 7, "signature defs"):
            key = fb.string(sd, 2) or ""
            sub = fb.get(sd, 4, "I", 0)
            if not 0 <= sub < nsub:
                raise fb.fail(f"signature {key!r} refers to subgraph {sub}, the model has {nsub}")
            ntensors = len(subgraphs[sub].tensors)
            signatures.append(
                Signature(
                    key=key,
                    subgraph_index=sub,
                    inputs=self.tensor_maps(sd, 0, key, sub, ntensors, "input"),
                    outputs=self.tensor_maps(sd, 1, key, sub, ntensors, "output"),
                )
            )

        metadata = []
        for md in fb.tables(m, 6, "metadata entries"):
            name = fb.string(md, 0) or ""
            buf_index = fb.get(md, 1, "I", 0)
            offset, size = self.buffer(buf_index, f"metadata {name!r}")
            metadata.append(Metadata(name, buf_index, size, offset, self.source))

        return Model(
            path=path,
            size_bytes=fb.size,
            schema_version=fb.get(m, 0, "I", 0),
            description=fb.string(m, 3),
            subgraphs=tuple(subgraphs),
            signatures=tuple(signatures),
            metadata=tuple(metadata),
            num_buffers=len(self.buffers),
            _source=self.source,
        )

    def subgraph(self, s: int, sg: Table, opcodes: list[tuple[int, str | None, int]]) -> Subgraph:
        fb = self.fb
        where = f"subgraph {s}"
        tensors = [self.tensor(s, i, t) for i, t in enumerate(fb.tables(sg, 0, f"{where} tensors"))]
        ntensors = len(tensors)
        operators = []
        for o_i, op in enumerate(fb.tables(sg, 3, f"{where} operators")):
            owhere = f"{where} operator {o_i}"
            opcode_index = fb.get(op, 0, "I", 0)
            if not 0 <= opcode_index < len(opcodes):
                raise fb.fail(
                    f"{owhere} uses operator code {opcode_index}, the model has {len(opcodes)}"
                )
            code, custom, version = opcodes[opcode_index]
            ins = fb.scalars(op, 1, "i", f"{owhere} inputs")
            outs = fb.scalars(op, 2, "i", f"{owhere} outputs")
            for i in ins + outs:
                if not -1 <= i < ntensors:
                    raise fb.fail(f"{owhere} refers to tensor {i}, {where} has {ntensors}")
            operators.append(
                Operator(
                    index=o_i,
                    op=op_name(code),
                    builtin_code=code,
                    custom_code=custom if code == CUSTOM else None,
                    version=version,
                    inputs=ins,
                    outputs=outs,
                    opcode_index=opcode_index,
                )
            )
        ins = fb.scalars(sg, 1, "i", f"{where} inputs")
        outs = fb.scalars(sg, 2, "i", f"{where} outputs")
        for i in ins + outs:
            if not 0 <= i < ntensors:
                raise fb.fail(f"{where} input/output {i} is not one of its {ntensors} tensors")
        return Subgraph(
            index=s,
            name=fb.string(sg, 4) or "",
            inputs=ins,
            outputs=outs,
            tensors=tuple(tensors),
            operators=tuple(operators),
        )

    def tensor(self, s: int, index: int, t: Table) -> Tensor:
        fb = self.fb
        where = f"subgraph {s} tensor {index}"
        shape = fb.scalars(t, 0, "i", f"{where} shape")
        sig = fb.scalars(t, 7, "i", f"{where} shape_signature")
        buf_index = fb.get(t, 2, "I", 0)
        data_offset, data_size = self.buffer(buf_index, where)
        return Tensor(
            index=index,
            name=fb.string(t, 3) or "",
            dtype=dtypes.by_code(fb.get(t, 1, "b", 0)).name,
            shape=shape,
            shape_signature=sig if sig else shape,
            quantization=self.quantization(fb.sub(t, 4), where),
            is_constant=data_size > 0,
            buffer=buf_index,
            buffer_size=data_size,
            is_variable=bool(fb.get(t, 5, "?", False)),
            is_sparse=fb.field(t, 6) != 0,
            subgraph_index=s,
            _data_offset=data_offset,
            _source=self.source,
        )

    def quantization(self, q: Table | None, where: str) -> Quantization | None:
        if q is None:
            return None
        fb = self.fb
        scales = fb.scalars(q, 2, "f", f"{where} scales")
        if not scales:
            return None
        return Quantization(
            scales=scales,
            zero_points=fb.scalars(q, 3, "q", f"{where} zero points"),
            quantized_dimension=fb.get(q, 6, "i", 0),
            min=fb.scalars(q, 0, "f", f"{where} min"),
            max=fb.scalars(q, 1, "f", f"{where} max"),
        )

    def tensor_maps(
        self, sd: Table, slot: int, key: str, sub: int, ntensors: int, kind: str
    ) -> tuple[SignatureTensor, ...]:
        fb = self.fb
        out = []
        for tm in fb.tables(sd, slot, f"signature {key!r} {kind}s"):
            idx = fb.get(tm, 1, "I", 0)
            if not 0 <= idx < ntensors:
                raise fb.fail(
                    f"signature {key!r} {kind} refers to tensor {idx}, "
                    f"subgraph {sub} has {ntensors}"
                )
            out.append(SignatureTensor(fb.string(tm, 0) or "", idx))
        return tuple(out)


def _build(source: _Source, *, path: str | None, where: str) -> Model:
    return _Builder(FlatBuffer(source.data, where), source).model(path)
