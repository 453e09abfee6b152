"""The model description: frozen dataclasses, plain data.

``tflkit.load()`` (in ``tflkit.loader``, which builds these) reads the file once into plain
tuples of ints, floats and strings, so a Model compares with ``==``, hashes, pickles and goes to
JSON unchanged. Weights are not copied: a constant tensor's data is a read-only numpy view of
the memory-mapped file, made only when ``Tensor.numpy()`` is called. This module imports
nothing that parses, and not numpy until ``Tensor.numpy()`` is called.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, Union

from tflkit import dtypes
from tflkit.errors import InvalidModelError, TflkitError

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = [
    "Model",
    "Subgraph",
    "Tensor",
    "Quantization",
    "Operator",
    "Signature",
    "SignatureTensor",
    "Metadata",
    "ModelLike",
    "ModelSource",
    "BLOCKWISE_OPS",
    "unsupported_blockwise",
    "CastDequantization",
    "cast_dequantized",
]


class _Source(Protocol):
    """The bytes a model was read from (``tflkit.loader`` makes them; not named here, so that
    the data types need nothing from the code that builds them, not even for type hints)."""

    @property
    def data(self) -> Any: ...


#: ``Quantization.details`` of the quantizations whose scales sit in a tensor, per block.
BLOCKWISE_DETAILS = frozenset({"blockwise", "multi_axis"})

#: The operators whose LiteRT kernels read a blockwise-quantized input, and which input:
#: the filter of FULLY_CONNECTED and the value table of EMBEDDING_LOOKUP
#: (``tflite/kernels/fully_connected.cc``, ``embedding_lookup.cc``; the XNNPACK delegate for
#: FULLY_CONNECTED). Other kernels take the tensor as affine-quantized: the int8 ADD of
#: fixtures/add_blockwise_int8.tflite aborts the process at ``allocate_tensors()``.
BLOCKWISE_OPS: dict[str, int] = {"FULLY_CONNECTED": 1, "EMBEDDING_LOOKUP": 1}

#: What ``tflkit.load()`` accepts: a path, or the model's bytes.
ModelSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]


@dataclass(frozen=True, slots=True)
class Quantization:
    """Affine quantization of a tensor: ``real = scale * (q - zero_point)``.

    ``scales`` and ``zero_points`` hold one entry per channel along ``quantized_dimension``
    (per-channel quantization) or a single entry (per-tensor).

    Blockwise quantization (LiteRT's ``BlockwiseQuantization`` and the experimental
    ``MultiAxisQuantization``, in ``QuantizationParameters.details``; int4 weights of on-device
    language models) keeps one scale per block of ``block_size`` values in a separate constant
    tensor of the subgraph, ``scales_tensor`` (often float16). ``scales`` then holds that
    tensor's values flattened in row-major order and widened to float32, as the runtime's
    ``get_tensor_details()`` reports them; ``zero_points`` holds the values of
    ``zero_points_tensor`` (-1: none, all zero).
    """

    scales: tuple[float, ...]
    zero_points: tuple[int, ...]
    quantized_dimension: int = 0
    min: tuple[float, ...] = ()
    max: tuple[float, ...] = ()
    # "blockwise" or "multi_axis": the member of QuantizationParameters.details; "" otherwise
    details: str = ""
    block_size: int = 0  # values per block (blockwise); 0 otherwise
    scales_tensor: int = -1  # index in the subgraph of the tensor holding the block scales
    zero_points_tensor: int = -1  # index of the tensor holding block zero points; -1: none
    block_shape: tuple[int, ...] = ()  # BlockwiseQuantization.block_shape, when stored
    quantized_dimensions: tuple[int, ...] = ()  # MultiAxisQuantization.quantized_dimensions

    @property
    def is_blockwise(self) -> bool:
        """True when the scales come from a tensor, one per block (blockwise or multi-axis)."""
        return self.details in BLOCKWISE_DETAILS

    @property
    def per_channel(self) -> bool:
        """True when there is more than one scale, one per channel (not per block)."""
        return len(self.scales) > 1 and not self.is_blockwise

    @property
    def scale(self) -> float:
        """The scale of a per-tensor quantization (ValueError when per-channel)."""
        if len(self.scales) != 1:
            kind = "blockwise" if self.is_blockwise else "per-channel"
            raise ValueError(f"{kind} quantization has {len(self.scales)} scales, not one")
        return self.scales[0]

    @property
    def zero_point(self) -> int:
        """The zero point of a per-tensor quantization (ValueError when per-channel)."""
        if len(self.zero_points) != 1:
            raise ValueError(f"quantization has {len(self.zero_points)} zero points, not one")
        return self.zero_points[0]


@dataclass(frozen=True, slots=True)
class Tensor:
    """One tensor of a subgraph, as stored in the file."""

    index: int
    name: str
    dtype: str  # lower-case TensorType name: "float32", "int8", ...; "TYPE_23" if unknown
    shape: tuple[int, ...]  # () when the file stores no shape (as the interpreter reports)
    shape_signature: tuple[int, ...]  # -1 for dynamic dimensions; equals shape if not stored
    quantization: Quantization | None  # None when the tensor has no scales
    is_constant: bool  # the tensor's buffer holds data (weights, biases, constants)
    buffer: int  # index in Model buffers (0: the empty sentinel)
    buffer_size: int  # bytes of data in that buffer (0 for activations)
    is_variable: bool = False
    is_sparse: bool = False
    subgraph_index: int = 0
    _data_offset: int = field(default=-1, compare=False, repr=False)
    _source: _Source | None = field(default=None, compare=False, repr=False)

    @property
    def is_quantized(self) -> bool:
        """True when the tensor carries scales and zero points."""
        return self.quantization is not None

    @property
    def is_quantized_int(self) -> bool:
        """True for a quantized integer tensor (int8, uint8, int16 ...: a dtype with a range)."""
        return self.quantization is not None and self.dtype in dtypes.INTEGER_RANGES

    @property
    def real_range(self) -> tuple[float, float] | None:
        """Real values a per-tensor quantized integer tensor can represent, else None.

        ``((qmin - zero_point) * scale, (qmax - zero_point) * scale)``: for an int8 input with
        scale 1/255 and zero point -128 that is (0, 1), the range the model expects.
        """
        q = self.quantization
        qrange = dtypes.INTEGER_RANGES.get(self.dtype)
        if q is None or qrange is None or len(q.scales) != 1 or len(q.zero_points) != 1:
            return None
        if q.is_blockwise:
            return None
        scale, zp = q.scales[0], q.zero_points[0]
        if not math.isfinite(scale):
            return None
        return ((qrange[0] - zp) * scale, (qrange[1] - zp) * scale)

    def numpy(self) -> npt.NDArray[Any]:
        """The constant data as a read-only numpy view of the file (no copy).

        Raises:
            TflkitError: the tensor has no data (an activation), is sparse, or its type has
                no numpy equivalent (string, int4, ...).

        Example:
            >>> w = tflkit.load("m.tflite").subgraphs[0].tensors[2].numpy()
        """
        where = f"tensor {self.index} ({self.name!r})"
        if not self.is_constant or self._source is None or self._data_offset < 0:
            raise TflkitError(f"{where}: has no constant data (it is computed at run time)")
        if self.is_sparse:
            raise TflkitError(f"{where}: is stored sparse; its dense data is not available")
        dt = dtypes.numpy_dtype(self.dtype)
        if dt is None:
            raise TflkitError(f"{where}: dtype {self.dtype} has no numpy equivalent")
        count = math.prod(self.shape) if self.shape else 1
        if count * dt.itemsize != self.buffer_size:
            raise InvalidModelError(
                f"{where}: buffer holds {self.buffer_size} bytes, "
                f"shape {list(self.shape)} of {self.dtype} needs {count * dt.itemsize}"
            )
        import numpy as np  # on request: `tflkit inspect` never needs numpy

        arr = np.frombuffer(self._source.data, dtype=dt, count=count, offset=self._data_offset)
        arr = arr.reshape(self.shape)
        arr.flags.writeable = False
        return arr

    def data_view(self) -> memoryview | None:
        """The bytes of the tensor's buffer as stored (sparse, int4, strings: as they are), a
        read-only view of the file (no copy); None when the tensor has no constant data."""
        if self._source is None or self._data_offset < 0:
            return None
        start = self._data_offset
        return memoryview(self._source.data)[start : start + self.buffer_size].toreadonly()


@dataclass(frozen=True, slots=True)
class Operator:
    """One operator of a subgraph. ``op`` is the BuiltinOperator name, or ``CUSTOM``."""

    index: int
    op: str  # "CONV_2D", "CUSTOM", "BUILTIN_213" for a code newer than the schema we know
    builtin_code: int
    custom_code: str | None  # "FlexCumprod" for Flex ops, the custom op's name for CUSTOM
    version: int
    inputs: tuple[int, ...]  # tensor indices; -1 marks an absent optional input
    outputs: tuple[int, ...]
    opcode_index: int = 0
    # Builtin options as stored, by their schema.fbs names: (("padding", 1), ("stride_h", 2),
    # ...). Enums stay codes (padding 0 SAME, 1 VALID; fused_activation_function 0 NONE, 1 RELU,
    # 2 RELU_N1_TO_1, 3 RELU6, 4 TANH, 5 SIGN_BIT). The options the target rules read (strides,
    # padding, dilations, filter sizes, fused activation, num_splits, resize flags) that the
    # operator's options table has; () when it stores none, or when they cannot be read.
    # A STABLEHLO_COMPOSITE carries its ``name`` (a str) and ``decomposition_subgraph_index``.
    options: tuple[tuple[str, int | float | bool | str], ...] = ()

    def option(self, name: str, default: Any = None) -> Any:
        """The builtin option ``name`` (``"stride_w"``), or ``default`` when not stored."""
        for key, value in self.options:
            if key == name:
                return value
        return default

    @property
    def is_custom(self) -> bool:
        """True for CUSTOM operators (Flex ops included)."""
        return self.op == "CUSTOM"

    @property
    def is_flex(self) -> bool:
        """True for Flex (SELECT_TF_OPS) operators, whose custom code starts with ``Flex``."""
        return self.is_custom and (self.custom_code or "").startswith("Flex")

    @property
    def display_name(self) -> str:
        """``CONV_2D``, or ``CUSTOM 'FlexCumprod'`` for custom ops."""
        if self.is_custom:
            return f"CUSTOM {self.custom_code!r}"
        return self.op


@dataclass(frozen=True, slots=True)
class Subgraph:
    """One subgraph: the primary graph (index 0) or a WHILE/IF body, or a signature's graph."""

    index: int
    name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]

    def tensor(self, index: int) -> Tensor | None:
        """The tensor at ``index``; None for -1 (an optional input left out) or out of range."""
        return self.tensors[index] if 0 <= index < len(self.tensors) else None

    def operator_output_names(self) -> tuple[str, ...]:
        """The names of the tensors the operators write, each once, in the order the operators
        run (an optional output, -1, skipped): the names Model Explorer matches a node's outputs
        by, and the graph order a per-tensor error is shown in."""
        names: dict[str, None] = {}
        for op in self.operators:
            for i in op.outputs:
                if (t := self.tensor(i)) is not None:
                    names.setdefault(t.name, None)
        return tuple(names)

    @property
    def input_tensors(self) -> tuple[Tensor, ...]:
        """The input tensors, in order."""
        return tuple(self.tensors[i] for i in self.inputs)

    @property
    def output_tensors(self) -> tuple[Tensor, ...]:
        """The output tensors, in order."""
        return tuple(self.tensors[i] for i in self.outputs)

    @property
    def batch_axis(self) -> int | None:
        """0 when the inputs have a batch axis, None when they must be fed at their own shapes.

        The rule: every input with a leading dimension has it dynamic (-1 in its shape
        signature) or 1 in its stored shape; then axis 0 counts samples and data may bring N of
        them (inputs of rank 0 apply to every sample). Any other leading dimension (PAD's (2, 4),
        an update and its indices (8,) and (4,), a state tensor beside a frame) is part of
        what the model computes on, not a count of samples. A subgraph without inputs, or with
        rank-0 inputs only, has no batch axis.
        """
        leading = [
            (t.shape_signature[0], t.shape[0] if t.shape else None)
            for t in self.input_tensors
            if t.shape_signature
        ]
        if leading and all(sig < 0 or stored == 1 for sig, stored in leading):
            return 0
        return None

    def op_counts(self) -> dict[str, int]:
        """Number of operators of each kind (custom ops by custom code), most frequent first."""
        counts: dict[str, int] = {}
        for op in self.operators:
            counts[op.display_name] = counts.get(op.display_name, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def edge_quantization(self, tensor_index: int) -> Tensor | None:
        """The quantization a float input or output gets inside the graph, as a tensor.

        Full-integer conversion without ``inference_input_type`` / ``inference_output_type``
        keeps float I/O and quantizes at the edges: a QUANTIZE op right after the input, a
        DEQUANTIZE op right before the output. Their integer side carries the scale, zero
        point and real range the graph works in.

        Args:
            tensor_index: a tensor of this subgraph, normally one of its inputs or outputs.

        Returns:
            For a float input whose only consumers are QUANTIZE ops: the (first) QUANTIZE
            output. For a float output produced by DEQUANTIZE: the DEQUANTIZE input. The
            tensor returned is a per-tensor or per-channel quantized integer tensor; None in
            every other case (integer I/O, a float16 weight DEQUANTIZE, not an I/O tensor).

        Example:
            >>> sg = tflkit.load("mlp_int8_float_io.tflite").primary
            >>> sg.edge_quantization(sg.inputs[0]).dtype
            'int8'
        """

        def quantized(index: int) -> Tensor | None:
            # Integer tensors with scales only: DEQUANTIZE also widens float16 weights.
            t = self.tensor(index)
            return t if t is not None and t.is_quantized_int else None

        edge = self.tensor(tensor_index)
        if edge is None or edge.dtype not in dtypes.FLOAT_NAMES:
            return None
        found: Tensor | None = None
        if tensor_index in self.inputs:
            consumers = [op for op in self.operators if tensor_index in op.inputs]
            if consumers and all(op.op == "QUANTIZE" and op.outputs for op in consumers):
                found = quantized(consumers[0].outputs[0])
        if found is None and tensor_index in self.outputs:
            for op in self.operators:
                if tensor_index in op.outputs:
                    if op.op == "DEQUANTIZE" and op.inputs:
                        found = quantized(op.inputs[0])
                    break
        return found


def unsupported_blockwise(sg: Subgraph) -> tuple[tuple[Operator, Tensor, str], ...]:
    """Blockwise-quantized tensors fed to an operator that the runtime cannot give them to.

    One definition for ``tflkit.check``'s ``blockwise-ops`` rule and for ``tflkit.Runner``,
    which refuses such a model before the runtime sees it (the runtime may abort the process).

    Returns:
        (operator, input tensor, why) for each blockwise input outside ``BLOCKWISE_OPS`` (or in
        another input position), for blockwise int8 FULLY_CONNECTED weights (ai-edge-litert
        2.3: XNNPACK refuses them, the builtin kernel returns zeros: fixture
        fc_blockwise_int8's manifest), and for each multi-axis input of any operator: the
        runtime does not read MultiAxisQuantization, reports no scales for it and fails
        FULLY_CONNECTED at invoke.

    Example:
        >>> [(op.op, t.index) for op, t, _ in unsupported_blockwise(model.primary)]
        [('ADD', 1)]
    """
    found = []
    for op in sg.operators:
        for pos, i in enumerate(op.inputs):
            t = sg.tensor(i)
            q = t.quantization if t is not None else None
            if t is None or q is None or not q.is_blockwise:
                continue
            if q.details == "multi_axis":
                why = "the runtime does not read multi-axis quantization (experimental)"
            elif BLOCKWISE_OPS.get(op.op) != pos:
                why = (
                    "the runtime reads blockwise quantization only in the weights of "
                    f"{' and '.join(BLOCKWISE_OPS)} (it can abort the process on other ops)"
                )
            elif op.op == "FULLY_CONNECTED" and t.dtype == "int8":
                why = (
                    "the runtime runs blockwise FULLY_CONNECTED weights in int4 only: XNNPACK "
                    "refuses int8 ones, and the builtin kernel computes zeros from them"
                )
            else:
                continue
            found.append((op, t, why))
    return tuple(found)


def blockwise_text(t: Tensor) -> str:
    """``int4 blockwise, block 32``: what a blockwise quantization is, in a few words."""
    q = t.quantization
    if q is None or not q.is_blockwise:
        return ""
    kind = "blockwise" if q.details == "blockwise" else "multi-axis"
    return f"{t.dtype} {kind}, block {q.block_size}"


@dataclass(frozen=True, slots=True)
class CastDequantization:
    """An integer constant without scales that the graph dequantizes itself (weight-only).

    Keras 3 weight-only quantization (``activation_quantizer=None``) converts to an int8
    kernel with no quantization parameters: a CAST widens it to float and a MUL by a float
    constant (the per-channel scale, stored as its reciprocal) applies the scale, after the
    BATCH_MATMUL or before it (Keras int4: CAST, SUB of a zero point, MUL).
    """

    tensor: int  # the int8 or int4 constant
    cast_operator: int  # the CAST that widens it
    mul_operator: int  # the MUL that applies the scale
    scale_tensor: int  # the float constant that MUL multiplies by


# Ops between a CAST of the weights and the MUL by their scale: linear in the weights, so the
# scale may come after them (CAST -> BATCH_MATMUL -> MUL) [measured: Keras 3.15, TF 2.21].
_LINEAR_IN_WEIGHTS = frozenset(
    [
        "BATCH_MATMUL",
        "FULLY_CONNECTED",
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "SUB",
        "RESHAPE",
        "TRANSPOSE",
        "GATHER",
        "EMBEDDING_LOOKUP",
    ]
)
_CAST_HOPS = 3  # CAST, at most two linear ops, then the MUL


def block_scale_tensors(sg: Subgraph) -> frozenset[int]:
    """Tensors that hold the scales or zero points of a blockwise quantization (not weights)."""
    out: set[int] = set()
    for t in sg.tensors:
        q = t.quantization
        if q is not None and q.is_blockwise:
            out.update((q.scales_tensor, q.zero_points_tensor))
    return frozenset(out)


def cast_dequantized(sg: Subgraph) -> dict[int, CastDequantization]:
    """Weight-only quantized constants that the graph dequantizes with CAST and MUL.

    A constant int8 or int4 tensor without scales, read by a CAST to a float type whose
    result reaches, through at most two ops linear in it (BATCH_MATMUL, FULLY_CONNECTED,
    SUB, ...), a MUL by a float constant. A CAST of integers that no scale follows (a table
    of small integers) is not quantization and is left out.

    Returns:
        The constant's tensor index -> how it is dequantized.

    Example:
        >>> sg = tflkit.load("keras_weight_only_int8.tflite").primary
        >>> sorted(cast_dequantized(sg))
        [3, 6]
    """

    tensor = sg.tensor
    consumers: dict[int, list[Operator]] = {}
    for op in sg.operators:
        for i in set(op.inputs):
            consumers.setdefault(i, []).append(op)
    found: dict[int, CastDequantization] = {}
    for op in sg.operators:
        if op.op != "CAST" or not op.inputs or not op.outputs:
            continue
        w, out = tensor(op.inputs[0]), tensor(op.outputs[0])
        if (
            w is None
            or out is None
            or not w.is_constant
            or w.dtype not in ("int8", "int4")
            or w.quantization is not None
            or out.dtype not in dtypes.FLOAT_NAMES
        ):
            continue
        frontier = {out.index}
        for _ in range(_CAST_HOPS):
            step: set[int] = set()
            for i in sorted(frontier):
                for user in consumers.get(i, []):
                    others = [tensor(k) for k in user.inputs if k != i]
                    scale = next(
                        (
                            t
                            for t in others
                            if t is not None and t.is_constant and t.dtype in dtypes.FLOAT_NAMES
                        ),
                        None,
                    )
                    if user.op == "MUL" and scale is not None and w.index not in found:
                        found[w.index] = CastDequantization(
                            w.index, op.index, user.index, scale.index
                        )
                    elif user.op in _LINEAR_IN_WEIGHTS:
                        step.update(user.outputs)
            if w.index in found:
                break
            frontier = step
    return found


@dataclass(frozen=True, slots=True)
class SignatureTensor:
    """A signature's name for one tensor of its subgraph."""

    name: str
    tensor_index: int


@dataclass(frozen=True, slots=True)
class Signature:
    """A SignatureDef: a named entry point mapping names to tensors of one subgraph."""

    key: str
    subgraph_index: int
    inputs: tuple[SignatureTensor, ...]
    outputs: tuple[SignatureTensor, ...]

    def names(self, kind: str) -> dict[int, str]:
        """This signature's names of its inputs (``kind="input"``) or outputs (``"output"``) by
        tensor index, the first name winning. Inputs and outputs apart: one tensor can be both
        (an input passed through to an output)."""
        names: dict[int, str] = {}
        for x in self.inputs if _side(kind) == "input" else self.outputs:
            names.setdefault(x.tensor_index, x.name)
        return names


def _side(kind: str) -> str:
    if kind not in ("input", "output"):
        raise ValueError(f"kind is {kind!r}, expected 'input' or 'output'")
    return kind


@dataclass(frozen=True, slots=True)
class Metadata:
    """A named metadata entry (``min_runtime_version``, ``TFLITE_METADATA``, ...)."""

    name: str
    buffer: int
    size_bytes: int
    _data_offset: int = field(default=-1, compare=False, repr=False)
    _source: _Source | None = field(default=None, compare=False, repr=False)

    def data(self) -> bytes:
        """The entry's bytes (a copy; metadata is small)."""
        if self._source is None or self._data_offset < 0:
            return b""
        start = self._data_offset
        return bytes(self._source.data[start : start + self.size_bytes])


_STATEFUL_OPS = frozenset({"VAR_HANDLE", "ASSIGN_VARIABLE", "READ_VARIABLE", "CALL_ONCE"})


@dataclass(frozen=True, slots=True)
class Model:
    """A .tflite model as stored in the file. Build it with ``tflkit.load()``."""

    path: str | None
    size_bytes: int
    schema_version: int
    description: str | None
    subgraphs: tuple[Subgraph, ...]
    signatures: tuple[Signature, ...]
    metadata: tuple[Metadata, ...]
    num_buffers: int = 0
    # Buffers whose data is stored after the flatbuffer (``Buffer.offset``, models over 2 GB),
    # among those that tensors and metadata refer to: a runtime that copies such data into
    # memory (TFLM's tensor arena) counts them.
    external_buffers: tuple[int, ...] = ()
    # The bytes the model was read from (a path to re-map, or the bytes): for
    # ``tflkit.loader.interpreter_source``. Not part of the model's value.
    _source: _Source | None = field(default=None, compare=False, repr=False)

    @property
    def name(self) -> str:
        """The file's base name, or ``<bytes>`` for a model loaded from memory."""
        return os.path.basename(self.path) if self.path else "<bytes>"

    @property
    def primary(self) -> Subgraph:
        """Subgraph 0, the one the interpreter runs by default."""
        return self.subgraphs[0]

    @property
    def inputs(self) -> tuple[Tensor, ...]:
        """Input tensors of subgraph 0."""
        return self.primary.input_tensors

    @property
    def outputs(self) -> tuple[Tensor, ...]:
        """Output tensors of subgraph 0."""
        return self.primary.output_tensors

    @property
    def operators(self) -> tuple[Operator, ...]:
        """Operators of every subgraph, subgraph by subgraph."""
        return tuple(op for sg in self.subgraphs for op in sg.operators)

    @property
    def stateful(self) -> bool:
        """Whether a call changes what the next one computes: resource variables (VAR_HANDLE,
        ASSIGN_VARIABLE, READ_VARIABLE, CALL_ONCE) or variable tensors in any subgraph. The
        Runner runs such models sample by sample, and never runs a sample twice."""
        return any(op.op in _STATEFUL_OPS for op in self.operators) or any(
            t.is_variable for sg in self.subgraphs for t in sg.tensors
        )

    def signature(self, key: str) -> Signature:
        """The signature named ``key``; KeyError naming the keys there are."""
        for sig in self.signatures:
            if sig.key == key:
                return sig
        keys = ", ".join(repr(s.key) for s in self.signatures) or "none"
        raise KeyError(f"no signature {key!r} (signatures: {keys})")

    def signature_names(self, subgraph: int, kind: str) -> dict[int, str]:
        """Signature names of a subgraph's inputs (``kind="input"``) or outputs (``"output"``) by
        tensor index, the first signature's name winning. Inputs and outputs apart: one tensor
        can be both (an input passed through to an output)."""
        _side(kind)
        names: dict[int, str] = {}
        for sig in self.signatures:
            if sig.subgraph_index == subgraph:
                for index, name in sig.names(kind).items():
                    names.setdefault(index, name)
        return names

    def metadata_bytes(self, name: str) -> bytes:
        """The bytes of the metadata entry ``name``; KeyError if there is none."""
        for entry in self.metadata:
            if entry.name == name:
                return entry.data()
        raise KeyError(f"no metadata entry {name!r}")

    @property
    def min_runtime_version(self) -> str | None:
        """The converter's ``min_runtime_version`` metadata (e.g. ``"1.14.0"``), if present."""
        for entry in self.metadata:
            if entry.name == "min_runtime_version":
                return entry.data().split(b"\0", 1)[0].decode("ascii", "replace") or None
        return None


#: What every public function that takes a model accepts (``tflkit.loader.resolve``).
ModelLike = Union[ModelSource, Model]  # noqa: UP007 (ModelSource holds a string forward reference)
