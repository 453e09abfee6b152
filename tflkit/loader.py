"""Loading: a path, ``os.PathLike``, bytes or a loaded Model -> ``tflkit.Model``.

The one rule for every public function that takes a model (``tflkit.check``,
``tflkit.quantization_kind``, ``tflkit.testing.assert_*``, ``tflkit.compare``, ...): it takes a
``ModelLike``, that is

- a path, as ``str`` or ``os.PathLike`` (``pathlib.Path``): the file is memory-mapped, not read;
- the model's bytes (``bytes``, ``bytearray``, ``memoryview``);
- a ``tflkit.Model`` from ``tflkit.load()``, used as it is (not read again),

and turns it into a Model with ``resolve()``. Anything else is a TypeError that names what was
expected and what came.

This module reads the TFLite schema (which field of which table holds what) with the ``tflite``
package's generated bindings, each read first checked by ``tflkit._flatbuffer``, and builds the
plain data of ``tflkit.model``. ``tflkit._flatbuffer`` (and with it ``tflite``, ``flatbuffers``
and numpy) is imported on the first load, so ``import tflkit`` stays light.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from tflkit import dtypes
from tflkit.errors import InputError, InvalidModelError, TflkitError
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

if TYPE_CHECKING:
    from tflkit._flatbuffer import OptionLayouts, Reader

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
    from tflkit._files import open_regular

    try:  # a FIFO would hang the read, a device be mapped: refused before opening
        f = open_regular(path, "model")
    except InputError as exc:
        raise InvalidModelError(str(exc)) from None
    with f:
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
            truncated, offsets or indices out of range), or not a regular file (a FIFO,
            device, socket or directory is refused before it is opened).
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
# Values come from the tflite bindings' accessors; the checks in tflkit._flatbuffer need the
# vtable slot of each offset field (string, vector, table), as the bindings spell it
# (``self._tab.Offset(4)``; a field's slot is 4 + 2 * its number in LiteRT's schema.fbs):
# Model: operator_codes 6, subgraphs 8, description 10, buffers 12, metadata 16,
# signature_defs 18. OperatorCode: custom_code 6. SubGraph: tensors 4, inputs 6, outputs 8,
# operators 10, name 12. Tensor: shape 4, name 10, quantization 12, sparsity 16,
# shape_signature 18. QuantizationParameters: min 4, max 6, scale 8, zero_point 10,
# details_type 12, details 14 (a union). Its members BlockwiseQuantization and
# MultiAxisQuantization are newer than the tflite 2.18 bindings (LiteRT schema.fbs, read with
# Reader.int32/int32s): scales 4, zero_points 6, block_size 8 (int32 each), then block_shape 10
# (Blockwise) or quantized_dimensions 10 (MultiAxis), vectors of int32.
# Operator: inputs 6, outputs 8, builtin_options_type 10, builtin_options 12 (a union).
# Buffer: data 4. Metadata: name 4. SignatureDef: inputs 4, outputs 6, signature_key 8.
# TensorMap: name 4.

_CUSTOM = 32  # BuiltinOperator.CUSTOM
_OPTIONS_TYPE, _OPTIONS = 10, 12  # Operator.builtin_options_type, builtin_options (a union)
_OPTIONS_2 = 28  # Operator.builtin_options_2 (a union: StableHLOCompositeOptions ...)
# The builtin options a Model carries (what the target rules read): the bindings' getter on
# the options class -> the field's name in schema.fbs. An operator gets those its options
# class has (Conv2DOptions: padding, strides, dilations, fused activation), in this order.
_OPTION_FIELDS: tuple[tuple[str, str], ...] = (
    ("AdjX", "adj_x"),
    ("AlignCorners", "align_corners"),
    ("Axis", "axis"),
    ("BeginMask", "begin_mask"),
    ("Beta", "beta"),
    ("BlockSize", "block_size"),
    ("DepthMultiplier", "depth_multiplier"),
    ("DilationHFactor", "dilation_h_factor"),
    ("DilationWFactor", "dilation_w_factor"),
    ("EllipsisMask", "ellipsis_mask"),
    ("EndMask", "end_mask"),
    ("FilterHeight", "filter_height"),
    ("FilterWidth", "filter_width"),
    ("FusedActivationFunction", "fused_activation_function"),
    ("HalfPixelCenters", "half_pixel_centers"),
    ("KeepNumDims", "keep_num_dims"),
    ("KernelType", "kernel_type"),
    ("Mode", "mode"),
    ("NewAxisMask", "new_axis_mask"),
    ("NumSplits", "num_splits"),
    ("Offset", "offset"),
    ("Padding", "padding"),
    ("ShrinkAxisMask", "shrink_axis_mask"),
    ("StrideH", "stride_h"),
    ("StrideW", "stride_w"),
    ("WeightsFormat", "weights_format"),
    # control flow (TFLM plans the subgraphs they call), BATCH_MATMUL and SVDF (TFLM's checks)
    ("AdjX", "adj_x"),
    ("AdjY", "adj_y"),
    ("BodySubgraphIndex", "body_subgraph_index"),
    ("CondSubgraphIndex", "cond_subgraph_index"),
    ("ElseSubgraphIndex", "else_subgraph_index"),
    ("InitSubgraphIndex", "init_subgraph_index"),
    ("Rank", "rank"),
    ("ThenSubgraphIndex", "then_subgraph_index"),
)
# QuantizationDetails union members whose scales live in a tensor: code -> Quantization.details
_BLOCKWISE = {2: "blockwise", 3: "multi_axis"}
# dtype of a scales / zero points tensor -> how to read its values
_SCALE_TYPES = {"float32": "float32", "float16": "float16", "bfloat16": "bfloat16"}
_ZERO_POINT_TYPES = {"int32": "int32", "int16": "int16", "int8": "int8", "int64": "int64"}


class _Builder:
    def __init__(
        self,
        fb: Reader,
        source: _Source,
        op_name: Callable[[int], str],
        option_layouts: OptionLayouts,
    ) -> None:
        self.fb = fb
        self.op_name = op_name
        self.option_layouts = option_layouts
        self.source = source
        self.root: Any = None
        self.nbuffers = 0
        self._buffer_info: dict[int, tuple[int, int]] = {}
        self.external: set[int] = set()  # buffers read whose data sits after the flatbuffer
        self.at = "the model"  # what is being read, for a message if a reader fails

    def buffer(self, index: int, what: str) -> tuple[int, int]:
        """(offset of the data in the file, size in bytes) of buffer ``index``; (-1, 0) if none."""
        info = self._buffer_info.get(index)
        if info is not None:
            return info
        fb, n = self.fb, self.nbuffers
        if not 0 <= index < n:
            if index == 0:  # buffer 0 is the conventional empty sentinel
                return (-1, 0)
            raise fb.fail(f"{what} refers to buffer {index}, the model has {n}")
        b = fb.table(self.root.Buffers(index))
        offset, size = int(b.Offset()), int(b.Size())
        if offset > 1:
            # Data stored after the flatbuffer (models over 2 GB); offset 1 is the converter's
            # placeholder, meaning "no data".
            if offset + size > fb.size:
                raise fb.fail(
                    f"truncated or corrupt: buffer {index} refers to bytes {offset:,} to "
                    f"{offset + size - 1:,} but the file has {fb.size:,} bytes"
                )
            info = (offset, size) if size > 0 else (-1, 0)
            if size > 0:
                self.external.add(index)
        else:
            start, length = fb.span(b, 4, f"buffer {index} data")
            info = (start, length) if length > 0 else (-1, 0)
        self._buffer_info[index] = info
        return info

    def model(self, path: str | None) -> Model:
        fb = self.fb
        m = self.root = fb.root()
        self.nbuffers = fb.tables(m, 12, "buffers")
        opcodes: list[tuple[int, str | None, int]] = []
        for i in range(fb.tables(m, 6, "operator codes")):
            self.at = f"operator code {i}"
            oc = fb.table(m.OperatorCodes(i))
            # op code = max(deprecated_builtin_code, builtin_code): the old int8 field stops at
            # 127 (PLACEHOLDER_FOR_GREATER_OP_CODES) and old files leave the new field at 0.
            # The new field is read raw: the tflite package's BuiltinCode() returns the
            # deprecated field whenever the new one is below 127, so an op written with only
            # the new field (litert-quantizer's DEQUANTIZE, 6) would read as ADD (0).
            code = max(oc.DeprecatedBuiltinCode(), fb.int32(oc, 10, 0))
            opcodes.append((code, fb.string(oc, 6, oc.CustomCode), oc.Version()))

        nsub = fb.tables(m, 8, "subgraphs")
        if not nsub:
            raise fb.fail("model has no subgraphs, expected at least one")
        subgraphs = [self.subgraph(s, fb.table(m.Subgraphs(s)), opcodes) for s in range(nsub)]

        signatures = []
        for k in range(fb.tables(m, 18, "signature defs")):
            self.at = f"signature def {k}"
            sd = fb.table(m.SignatureDefs(k))
            key = fb.string(sd, 8, sd.SignatureKey) or ""
            sub = sd.SubgraphIndex()
            if not 0 <= sub < nsub:
                raise fb.fail(f"signature {key!r} refers to subgraph {sub}, the model has {nsub}")
            ntensors = len(subgraphs[sub].tensors)
            signatures.append(
                Signature(
                    key=key,
                    subgraph_index=sub,
                    inputs=self.tensor_maps(sd, 4, sd.Inputs, key, sub, ntensors, "input"),
                    outputs=self.tensor_maps(sd, 6, sd.Outputs, key, sub, ntensors, "output"),
                )
            )

        metadata = []
        for k in range(fb.tables(m, 16, "metadata entries")):
            self.at = f"metadata entry {k}"
            md = fb.table(m.Metadata(k))
            name = fb.string(md, 4, md.Name) or ""
            buf_index = md.Buffer()
            offset, size = self.buffer(buf_index, f"metadata {name!r}")
            metadata.append(Metadata(name, buf_index, size, offset, self.source))

        self.at = "the model"
        return Model(
            path=path,
            size_bytes=fb.size,
            schema_version=m.Version(),
            description=fb.string(m, 10, m.Description),
            subgraphs=tuple(subgraphs),
            signatures=tuple(signatures),
            metadata=tuple(metadata),
            num_buffers=self.nbuffers,
            external_buffers=tuple(sorted(self.external)),
            _source=self.source,
        )

    def composite(self, op: Any, code: int) -> tuple[tuple[str, int | float | bool | str], ...]:
        """A STABLEHLO_COMPOSITE's ``name`` and ``decomposition_subgraph_index`` (from its
        StableHLOCompositeOptions, in builtin_options_2: fields name 4, index 6); ()
        otherwise. The XNNPACK delegate takes a composite by its name."""
        if self.op_name(code) != "STABLEHLO_COMPOSITE":
            return ()
        fb = self.fb
        table = fb.union(op, _OPTIONS_2)
        if table is None:
            return ()
        at, n = fb.span(table, 4, f"{self.at} composite name")
        name = bytes(fb.data[at : at + n]).decode("utf-8", "replace")
        index = fb.int32(table, 6, 0)
        return (("name", name), ("decomposition_subgraph_index", index))

    def subgraph(self, s: int, sg: Any, opcodes: list[tuple[int, str | None, int]]) -> Subgraph:
        fb = self.fb
        where = f"subgraph {s}"
        tensors = [
            self.tensor(s, i, fb.table(sg.Tensors(i)))
            for i in range(fb.tables(sg, 4, f"{where} tensors"))
        ]
        self.blockwise_values(s, tensors)
        ntensors = len(tensors)
        operators = []
        for o_i in range(fb.tables(sg, 10, f"{where} operators")):
            owhere = self.at = f"{where} operator {o_i}"
            op = fb.table(sg.Operators(o_i))
            opcode_index = op.OpcodeIndex()
            if not 0 <= opcode_index < len(opcodes):
                raise fb.fail(
                    f"{owhere} uses operator code {opcode_index}, the model has {len(opcodes)}"
                )
            code, custom, version = opcodes[opcode_index]
            ins = fb.numbers(op, 6, 4, op.InputsAsNumpy, f"{owhere} inputs")
            outs = fb.numbers(op, 8, 4, op.OutputsAsNumpy, f"{owhere} outputs")
            for i in ins + outs:
                if not -1 <= i < ntensors:
                    raise fb.fail(f"{owhere} refers to tensor {i}, {where} has {ntensors}")
            operators.append(
                Operator(
                    index=o_i,
                    op=self.op_name(code),
                    builtin_code=code,
                    custom_code=custom if code == _CUSTOM else None,
                    version=version,
                    inputs=ins,
                    outputs=outs,
                    opcode_index=opcode_index,
                    options=fb.builtin_options(op, _OPTIONS_TYPE, _OPTIONS, self.option_layouts)
                    + self.composite(op, code),
                )
            )
        self.at = where
        ins = fb.numbers(sg, 6, 4, sg.InputsAsNumpy, f"{where} inputs")
        outs = fb.numbers(sg, 8, 4, sg.OutputsAsNumpy, f"{where} outputs")
        for i in ins + outs:
            if not 0 <= i < ntensors:
                raise fb.fail(f"{where} input/output {i} is not one of its {ntensors} tensors")
        return Subgraph(
            index=s,
            name=fb.string(sg, 12, sg.Name) or "",
            inputs=ins,
            outputs=outs,
            tensors=tuple(tensors),
            operators=tuple(operators),
        )

    def tensor(self, s: int, index: int, t: Any) -> Tensor:
        fb = self.fb
        where = self.at = f"subgraph {s} tensor {index}"
        shape = fb.numbers(t, 4, 4, t.ShapeAsNumpy, f"{where} shape")
        sig = fb.numbers(t, 18, 4, t.ShapeSignatureAsNumpy, f"{where} shape_signature")
        buf_index = t.Buffer()
        data_offset, data_size = self.buffer(buf_index, where)
        return Tensor(
            index=index,
            name=fb.string(t, 10, t.Name) or "",
            dtype=dtypes.by_code(t.Type()).name,
            shape=shape,
            shape_signature=sig if sig else shape,
            quantization=self.quantization(fb.sub(t, 12, t.Quantization), where),
            is_constant=data_size > 0,
            buffer=buf_index,
            buffer_size=data_size,
            is_variable=bool(t.IsVariable()),
            is_sparse=fb.sub(t, 16, t.Sparsity) is not None,
            subgraph_index=s,
            _data_offset=data_offset,
            _source=self.source,
        )

    def quantization(self, q: Any, where: str) -> Quantization | None:
        if q is None:
            return None
        fb = self.fb
        details = _BLOCKWISE.get(q.DetailsType())
        table = fb.union(q, 14) if details else None
        scales = () if table is not None else fb.numbers(q, 8, 4, q.ScaleAsNumpy, f"{where} scales")
        if not scales and table is None:
            return None
        quantization = Quantization(
            scales=scales,
            zero_points=fb.numbers(q, 10, 8, q.ZeroPointAsNumpy, f"{where} zero points"),
            quantized_dimension=q.QuantizedDimension(),
            min=fb.numbers(q, 4, 4, q.MinAsNumpy, f"{where} min"),
            max=fb.numbers(q, 6, 4, q.MaxAsNumpy, f"{where} max"),
        )
        if table is None or details is None:
            return quantization
        # The scales and zero points are tensors of the subgraph, read once all are known
        # (blockwise_values); zero_points is -1 when there are none.
        extra = fb.int32s(table, 10, f"{where} {details.replace('_', '-')} quantization")
        return replace(
            quantization,
            zero_points=(),
            details=details,
            scales_tensor=fb.int32(table, 4, 0),
            zero_points_tensor=fb.int32(table, 6, 0),
            block_size=fb.int32(table, 8, 0),
            block_shape=extra if details == "blockwise" else (),
            quantized_dimensions=extra if details == "multi_axis" else (),
        )

    def blockwise_values(self, s: int, tensors: list[Tensor]) -> None:
        """Fill in the scales (and zero points) of blockwise quantizations from their tensors."""
        for k, t in enumerate(tensors):
            q = t.quantization
            if q is None or not q.is_blockwise:
                continue
            where = self.at = f"subgraph {s} tensor {t.index}"
            kind = q.details.replace("_", "-")
            scales = self.tensor_values(
                tensors, q.scales_tensor, _SCALE_TYPES, f"{where}: {kind} scales"
            )
            zero_points: tuple[int, ...] = ()
            if q.zero_points_tensor != -1:
                zero_points = self.tensor_values(
                    tensors, q.zero_points_tensor, _ZERO_POINT_TYPES, f"{where}: {kind} zero points"
                )
            tensors[k] = replace(t, quantization=replace(q, scales=scales, zero_points=zero_points))

    def tensor_values(
        self, tensors: list[Tensor], index: int, types: dict[str, str], what: str
    ) -> tuple[Any, ...]:
        """The values of constant tensor ``index``, flattened: floats widened to float32."""
        fb = self.fb
        if not 0 <= index < len(tensors):
            raise fb.fail(
                f"{what} are said to be in tensor {index}, the subgraph has {len(tensors)}"
            )
        t = tensors[index]
        dt = dtypes.by_name(t.dtype) if t.dtype in types else None
        if dt is None:
            raise fb.fail(
                f"{what} are said to be in tensor {index} {t.name!r}, which is {t.dtype}; "
                f"expected one of {', '.join(sorted(types))}"
            )
        if not t.is_constant:
            raise fb.fail(f"{what} are said to be in tensor {index} {t.name!r}, which has no data")
        count = 1
        for d in t.shape:
            count *= d
        if t.is_sparse or count * dt.bits // 8 != t.buffer_size:
            raise fb.fail(
                f"{what}: tensor {index} {t.name!r} holds {t.buffer_size} bytes, its shape "
                f"{list(t.shape)} of {t.dtype} needs {max(count, 0) * dt.bits // 8}"
            )
        return fb.values(t._data_offset, count, types[t.dtype], what)

    def tensor_maps(
        self, sd: Any, slot: int, get: Any, key: str, sub: int, ntensors: int, kind: str
    ) -> tuple[SignatureTensor, ...]:
        fb = self.fb
        out = []
        for j in range(fb.tables(sd, slot, f"signature {key!r} {kind}s")):
            tm = fb.table(get(j))
            idx = tm.TensorIndex()
            if not 0 <= idx < ntensors:
                raise fb.fail(
                    f"signature {key!r} {kind} refers to tensor {idx}, "
                    f"subgraph {sub} has {ntensors}"
                )
            out.append(SignatureTensor(fb.string(tm, 4, tm.Name) or "", idx))
        return tuple(out)


def _build(source: _Source, *, path: str | None, where: str) -> Model:
    # imported here: tflite (~190 modules), flatbuffers and numpy, on the first load only
    from tflkit._flatbuffer import READER_ERRORS, Reader, op_name, option_layouts

    layouts = option_layouts(_OPTION_FIELDS)
    builder = _Builder(Reader(source.data, where), source, op_name, layouts)
    try:
        return builder.model(path)
    except InvalidModelError:
        raise
    except READER_ERRORS as exc:
        raise builder.fb.unreadable(builder.at, exc) from exc
