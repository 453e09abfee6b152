"""Reading the TFLite flatbuffer: the only module that imports ``tflite`` / ``flatbuffers``.

The ``tflite`` package's generated readers do no bounds checking: a bad offset surfaces as
IndexError or struct.error deep inside ``flatbuffers``, and a crafted vector length can make a
loop run for a very long time. This module checks the identifier, every vector length against
the bytes of the file, every index against what it indexes, and turns whatever the readers
raise on a corrupt file into ``InvalidModelError``.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

import tflite

from tflkit import dtypes
from tflkit.errors import InvalidModelError

if TYPE_CHECKING:
    from tflkit.model import Model, _Source

_IDENTIFIER = b"TFL3"

# BuiltinOperator code -> name, from the installed schema bindings, plus codes that LiteRT's
# schema.fbs added after the tflite 2.18 package. Codes newer still are named BUILTIN_<n>.
_OP_NAMES: dict[int, str] = {
    v: k
    for k, v in vars(tflite.BuiltinOperator).items()
    if not k.startswith("_") and isinstance(v, int)
}
_OP_NAMES.setdefault(209, "STABLEHLO_CASE")
_CUSTOM = 32  # BuiltinOperator.CUSTOM

# Errors the generated readers raise on a corrupt file.
_READER_ERRORS = (IndexError, struct.error, ValueError, TypeError, OverflowError, RecursionError)


def op_name(code: int) -> str:
    """BuiltinOperator name for a code; ``BUILTIN_<code>`` if the code is newer than we know."""
    return _OP_NAMES.get(code, f"BUILTIN_{code}")


def _text(raw: bytes | None) -> str | None:
    # Names are data, not structure: a stray byte should not make the model unreadable.
    return None if raw is None else raw.decode("utf-8", "replace")


class _Reader:
    def __init__(self, source: _Source, where: str) -> None:
        self.source = source
        self.buf = memoryview(source.data)
        self.size = len(self.buf)
        self.where = where
        self._buffers: dict[int, tuple[int, int]] = {}

    def fail(self, what: str) -> InvalidModelError:
        return InvalidModelError(f"{self.where}: {what}")

    def count(self, n: int, elem_size: int, what: str) -> int:
        # Check a vector's length against the file before looping over it, so that a crafted
        # length can neither hang the reader nor ask for gigabytes.
        if n < 0 or n * elem_size > self.size:
            raise self.fail(f"{what} claims {n} entries, more than a {self.size}-byte file holds")
        return n

    def ints(self, obj: Any, field: str, what: str) -> tuple[int, ...]:
        n = self.count(getattr(obj, field + "Length")(), 4, what)
        if n == 0:
            return ()
        return tuple(getattr(obj, field + "AsNumpy")().tolist())

    def buffer(self, m: Any, index: int, nbuffers: int, what: str) -> tuple[int, int]:
        """(offset of the data in the file, size in bytes) of buffer ``index``; (-1, 0) if none."""
        if index in self._buffers:
            return self._buffers[index]
        if index < 0 or index >= nbuffers:
            if index == 0:  # buffer 0 is the conventional empty sentinel
                return (-1, 0)
            raise self.fail(f"{what} refers to buffer {index}, the model has {nbuffers}")
        b = m.Buffers(index)
        offset, size = int(b.Offset()), int(b.Size())
        if offset > 1:
            # Data stored after the flatbuffer (models over 2 GB); offset 1 is the converter's
            # placeholder, meaning "no data".
            if offset + size > self.size:
                raise self.fail(
                    f"buffer {index} spans bytes {offset}..{offset + size}, "
                    f"past the end of the {self.size}-byte file"
                )
            info = (offset, size) if size > 0 else (-1, 0)
        else:
            length = b.DataLength()
            if length > 0:
                pos = b._tab.Vector(b._tab.Offset(4))
                if pos < 0 or pos + length > self.size:
                    raise self.fail(f"buffer {index} data runs past the end of the file")
                info = (pos, length)
            else:
                info = (-1, 0)
        self._buffers[index] = info
        return info

    def model(self, path: str | None) -> Model:
        from tflkit import model as M

        if self.size < 8:
            raise self.fail(f"file is {self.size} bytes, too short for a TFLite model")
        ident = bytes(self.buf[4:8])
        if ident != _IDENTIFIER:
            raise self.fail(f"file identifier is {ident!r}, expected {_IDENTIFIER!r}")
        root = struct.unpack_from("<I", self.buf, 0)[0]
        if root + 4 > self.size:
            raise self.fail(
                f"root table offset {root} is past the end of the {self.size}-byte file"
            )

        m = tflite.Model.GetRootAs(self.buf, 0)
        nbuffers = self.count(m.BuffersLength(), 4, "buffers vector")

        opcodes: list[tuple[int, str | None, int]] = []
        for i in range(self.count(m.OperatorCodesLength(), 4, "operator codes vector")):
            oc = m.OperatorCodes(i)
            # op code = max(deprecated_builtin_code, builtin_code): the old int8 field stops at
            # 127 (PLACEHOLDER_FOR_GREATER_OP_CODES) and old files leave the new field at 0.
            code = max(int(oc.DeprecatedBuiltinCode()), int(oc.BuiltinCode()))
            opcodes.append((code, _text(oc.CustomCode()), int(oc.Version())))

        subgraphs = []
        nsub = self.count(m.SubgraphsLength(), 4, "subgraphs vector")
        if nsub == 0:
            raise self.fail("model has no subgraphs")
        for s in range(nsub):
            sg = m.Subgraphs(s)
            where = f"subgraph {s}"
            tensors = []
            ntensors = self.count(sg.TensorsLength(), 4, f"{where} tensors vector")
            for t_i in range(ntensors):
                t = sg.Tensors(t_i)
                twhere = f"{where} tensor {t_i}"
                shape = self.ints(t, "Shape", f"{twhere} shape")
                sig = self.ints(t, "ShapeSignature", f"{twhere} shape_signature")
                buf_index = int(t.Buffer())
                data_offset, data_size = self.buffer(m, buf_index, nbuffers, twhere)
                tensors.append(
                    M.Tensor(
                        index=t_i,
                        name=_text(t.Name()) or "",
                        dtype=dtypes.by_code(int(t.Type())).name,
                        shape=shape,
                        shape_signature=sig if sig else shape,
                        quantization=self.quantization(t.Quantization(), twhere),
                        is_constant=data_size > 0,
                        buffer=buf_index,
                        buffer_size=data_size,
                        is_variable=bool(t.IsVariable()),
                        is_sparse=t.Sparsity() is not None,
                        subgraph_index=s,
                        _data_offset=data_offset,
                        _source=self.source,
                    )
                )
            operators = []
            for o_i in range(self.count(sg.OperatorsLength(), 4, f"{where} operators vector")):
                op = sg.Operators(o_i)
                owhere = f"{where} operator {o_i}"
                opcode_index = int(op.OpcodeIndex())
                if not 0 <= opcode_index < len(opcodes):
                    raise self.fail(
                        f"{owhere} uses operator code {opcode_index}, the model has {len(opcodes)}"
                    )
                code, custom, version = opcodes[opcode_index]
                ins = self.ints(op, "Inputs", f"{owhere} inputs")
                outs = self.ints(op, "Outputs", f"{owhere} outputs")
                for i in ins + outs:
                    if not -1 <= i < ntensors:
                        raise self.fail(f"{owhere} refers to tensor {i}, {where} has {ntensors}")
                operators.append(
                    M.Operator(
                        index=o_i,
                        op=op_name(code),
                        builtin_code=code,
                        custom_code=custom if code == _CUSTOM else None,
                        version=version,
                        inputs=ins,
                        outputs=outs,
                        opcode_index=opcode_index,
                    )
                )
            ins = self.ints(sg, "Inputs", f"{where} inputs")
            outs = self.ints(sg, "Outputs", f"{where} outputs")
            for i in ins + outs:
                if not 0 <= i < ntensors:
                    raise self.fail(
                        f"{where} input/output {i} is not one of its {ntensors} tensors"
                    )
            subgraphs.append(
                M.Subgraph(
                    index=s,
                    name=_text(sg.Name()) or "",
                    inputs=ins,
                    outputs=outs,
                    tensors=tuple(tensors),
                    operators=tuple(operators),
                )
            )

        signatures = []
        for k in range(self.count(m.SignatureDefsLength(), 4, "signature defs vector")):
            sd = m.SignatureDefs(k)
            key = _text(sd.SignatureKey()) or ""
            sub = int(sd.SubgraphIndex())
            if not 0 <= sub < nsub:
                raise self.fail(f"signature {key!r} refers to subgraph {sub}, the model has {nsub}")
            ntensors = len(subgraphs[sub].tensors)
            signatures.append(
                M.Signature(
                    key=key,
                    subgraph_index=sub,
                    inputs=self.tensor_maps(
                        sd.Inputs, sd.InputsLength(), key, sub, ntensors, "input"
                    ),
                    outputs=self.tensor_maps(
                        sd.Outputs, sd.OutputsLength(), key, sub, ntensors, "output"
                    ),
                )
            )

        metadata = []
        for k in range(self.count(m.MetadataLength(), 4, "metadata vector")):
            md = m.Metadata(k)
            name = _text(md.Name()) or ""
            buf_index = int(md.Buffer())
            offset, size = self.buffer(m, buf_index, nbuffers, f"metadata {name!r}")
            metadata.append(M.Metadata(name, buf_index, size, offset, self.source))

        return M.Model(
            path=path,
            size_bytes=self.size,
            schema_version=int(m.Version()),
            description=_text(m.Description()),
            subgraphs=tuple(subgraphs),
            signatures=tuple(signatures),
            metadata=tuple(metadata),
            num_buffers=nbuffers,
        )

    def tensor_maps(
        self, get: Any, length: int, key: str, sub: int, ntensors: int, kind: str
    ) -> tuple[Any, ...]:
        from tflkit.model import SignatureTensor

        out = []
        for j in range(self.count(length, 4, f"signature {key!r} {kind}s")):
            tm = get(j)
            idx = int(tm.TensorIndex())
            if not 0 <= idx < ntensors:
                raise self.fail(
                    f"signature {key!r} {kind} refers to tensor {idx}, "
                    f"subgraph {sub} has {ntensors}"
                )
            out.append(SignatureTensor(_text(tm.Name()) or "", idx))
        return tuple(out)

    def quantization(self, q: Any, where: str) -> Any:
        from tflkit.model import Quantization

        if q is None:
            return None
        n = self.count(q.ScaleLength(), 4, f"{where} scales")
        if n == 0:
            return None
        scales = tuple(q.ScaleAsNumpy().tolist())
        nz = self.count(q.ZeroPointLength(), 8, f"{where} zero points")
        zero_points = tuple(q.ZeroPointAsNumpy().tolist()) if nz else ()
        nmin = self.count(q.MinLength(), 4, f"{where} min")
        nmax = self.count(q.MaxLength(), 4, f"{where} max")
        return Quantization(
            scales=scales,
            zero_points=zero_points,
            quantized_dimension=int(q.QuantizedDimension()),
            min=tuple(q.MinAsNumpy().tolist()) if nmin else (),
            max=tuple(q.MaxAsNumpy().tolist()) if nmax else (),
        )


def parse(source: _Source, *, path: str | None, where: str) -> Model:
    """Read a whole model from ``source`` into tflkit.model dataclasses.

    Raises:
        InvalidModelError: for anything that is not a valid TFLite flatbuffer.
    """
    reader = _Reader(source, where)
    try:
        return reader.model(path)
    except InvalidModelError:
        raise
    except MemoryError as exc:  # pragma: no cover - guarded by count(), kept as a last resort
        raise reader.fail("corrupt flatbuffer (a size field is absurd)") from exc
    except _READER_ERRORS as exc:
        raise reader.fail(f"corrupt or truncated flatbuffer ({type(exc).__name__}: {exc})") from exc
