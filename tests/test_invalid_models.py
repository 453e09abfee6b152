"""Files that are not valid TFLite models: InvalidModelError, promptly, never another exception."""

from __future__ import annotations

import builtins
import json
import random
import re
import struct
import time
from typing import Any

import pytest
from conftest import FIXTURES, edited

import tflkit
from tflkit.render import model_to_dict

INT8 = FIXTURES / "mlp_int8.tflite"


def _load_or_invalid(data: bytes) -> tflkit.Model | None:
    """Load, and require that any failure is InvalidModelError and that it takes < 2 s."""
    start = time.monotonic()
    try:
        model = tflkit.load(data)
    except tflkit.InvalidModelError:
        model = None
    assert time.monotonic() - start < 2.0
    if model is not None:  # whatever loads must also render without errors
        json.dumps(model_to_dict(model), allow_nan=False)
    return model


def test_empty_file(tmp_path: Any) -> None:
    p = tmp_path / "empty.tflite"
    p.write_bytes(b"")
    with pytest.raises(tflkit.InvalidModelError, match="empty"):
        tflkit.load(p)
    with pytest.raises(tflkit.InvalidModelError, match="too short"):
        tflkit.load(b"")


def test_directory_is_refused(tmp_path: Any) -> None:
    with pytest.raises(tflkit.InvalidModelError, match="directory"):
        tflkit.load(tmp_path)


def test_missing_file_is_an_oserror(tmp_path: Any) -> None:
    with pytest.raises(FileNotFoundError):
        tflkit.load(tmp_path / "nope.tflite")


@pytest.mark.parametrize("size", [1, 7, 8, 64, 4096])
def test_random_bytes(size: int) -> None:
    data = random.Random(size).randbytes(size)
    with pytest.raises(tflkit.InvalidModelError):
        tflkit.load(data)


def test_random_bytes_with_the_right_identifier() -> None:
    rng = random.Random(1)
    for _ in range(200):
        data = bytearray(rng.randbytes(rng.randint(8, 2048)))
        data[4:8] = b"TFL3"
        _load_or_invalid(bytes(data))


def test_wrong_identifier() -> None:
    data = bytearray(INT8.read_bytes())
    data[4:8] = b"ABCD"
    with pytest.raises(tflkit.InvalidModelError, match=r"identifier is b'ABCD', expected b'TFL3'"):
        tflkit.load(bytes(data))


@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.25, 0.5, 0.75, 0.9])
def test_truncated(fraction: float) -> None:
    data = INT8.read_bytes()
    with pytest.raises(tflkit.InvalidModelError):
        tflkit.load(data[: int(len(data) * fraction)])


def test_truncated_everywhere_never_leaks_another_exception() -> None:
    data = FIXTURES.joinpath("cnn_uint8_io.tflite").read_bytes()
    for cut in range(0, len(data), max(1, len(data) // 300)):
        _load_or_invalid(data[:cut])


def test_root_offset_out_of_range() -> None:
    data = bytearray(INT8.read_bytes())
    data[0:4] = struct.pack("<I", 0x7FFFFFF0)
    size = len(data)
    with pytest.raises(tflkit.InvalidModelError) as info:
        tflkit.load(bytes(data))
    assert str(info.value) == (
        f"<bytes>: truncated or corrupt: the root table is at byte {0x7FFFFFF0:,} "
        f"but the file has {size:,} bytes"
    )


def _vector_length_position(data: bytes, path: str) -> int:
    """Byte position of a vector's length field, found with the tflite readers."""
    import tflite

    m = tflite.Model.GetRootAs(data, 0)
    if path == "subgraphs":
        tab, field = m._tab, 8
    elif path == "tensors":
        sg = m.Subgraphs(0)
        tab, field = sg._tab, 4
    else:  # "shape" of tensor 0
        t = m.Subgraphs(0).Tensors(0)
        tab, field = t._tab, 4
    return int(tab.Vector(tab.Offset(field))) - 4


@pytest.mark.parametrize("vector", ["subgraphs", "tensors", "shape"])
def test_absurd_vector_length(vector: str) -> None:
    data = bytearray(INT8.read_bytes())
    pos = _vector_length_position(bytes(data), vector)
    data[pos : pos + 4] = struct.pack("<I", 0x7FFFFFFF)
    start = time.monotonic()
    # the vector's elements start after its 4-byte length, 4 bytes each (an int or an offset)
    end = pos + 4 + 4 * 0x7FFFFFFF - 1
    with pytest.raises(tflkit.InvalidModelError) as info:
        tflkit.load(bytes(data))
    message = str(info.value)
    assert message.startswith("<bytes>: truncated or corrupt: the vector of ")
    assert message.endswith(
        f" claims 2,147,483,647 entries, up to byte {end:,}, but the file has {len(data):,} bytes"
    )
    assert time.monotonic() - start < 1.0


def test_bit_flips_give_a_model_or_invalid_model_error() -> None:
    base = INT8.read_bytes()
    rng = random.Random(0)
    invalid = 0
    for _ in range(300):
        data = bytearray(base)
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(len(data))
            data[pos] ^= 1 << rng.randrange(8)
        if _load_or_invalid(bytes(data)) is None:
            invalid += 1
    assert invalid > 0  # some flips hit structure; flips in weights give a valid model


def test_flips_in_the_header_are_invalid() -> None:
    base = INT8.read_bytes()
    for pos in range(8):
        for bit in range(8):
            data = bytearray(base)
            data[pos] ^= 1 << bit
            with pytest.raises(tflkit.InvalidModelError):
                tflkit.load(bytes(data))


def _first_weight_buffer(model: Any) -> int:
    return int(
        next(
            t.buffer
            for t in model.subgraphs[0].tensors
            if model.buffers[t.buffer].data is not None and len(model.buffers[t.buffer].data) > 0
        )
    )


def test_operator_code_index_out_of_range() -> None:
    def edit(m: Any) -> None:
        m.subgraphs[0].operators[0].opcodeIndex = 57

    with pytest.raises(tflkit.InvalidModelError, match="operator code 57"):
        tflkit.load(edited("mlp_int8.tflite", edit))


def test_operator_tensor_index_out_of_range() -> None:
    def edit(m: Any) -> None:
        m.subgraphs[0].operators[0].inputs[0] = 999

    with pytest.raises(tflkit.InvalidModelError, match="refers to tensor 999"):
        tflkit.load(edited("mlp_int8.tflite", edit))


def test_subgraph_input_out_of_range() -> None:
    def edit(m: Any) -> None:
        m.subgraphs[0].inputs[0] = 4242

    with pytest.raises(tflkit.InvalidModelError, match="4242"):
        tflkit.load(edited("mlp_int8.tflite", edit))


def test_tensor_buffer_index_out_of_range() -> None:
    def edit(m: Any) -> None:
        m.subgraphs[0].tensors[1].buffer = 10_000

    with pytest.raises(tflkit.InvalidModelError, match="buffer 10000"):
        tflkit.load(edited("mlp_int8.tflite", edit))


def test_external_buffer_past_the_end_of_the_file() -> None:
    def edit(m: Any) -> None:
        b = m.buffers[_first_weight_buffer(m)]
        b.data, b.offset, b.size = None, 1 << 40, 4096

    data = edited("mlp_int8.tflite", edit)
    with pytest.raises(tflkit.InvalidModelError) as info:
        tflkit.load(data)
    assert str(info.value).endswith(
        f"refers to bytes {1 << 40:,} to {(1 << 40) + 4095:,} but the file has {len(data):,} bytes"
    )


# ---------------------------------------------------------------- messages in the user's words

_TRUNCATED = re.compile(
    r"^(?P<where>[^:]+): truncated or corrupt: .*\bbytes? (?P<byte>[\d,]+)"
    r"(?: to [\d,]+)?,? but the file has (?P<size>[\d,]+) bytes$"
)


@pytest.mark.parametrize("name", ["mlp_int8.tflite", "cnn_uint8_io.tflite", "while_loop.tflite"])
@pytest.mark.parametrize("fraction", [0.05, 0.3, 0.5, 0.8, 0.99])
def test_truncated_file_says_which_byte_and_how_long(
    tmp_path: Any, name: str, fraction: float
) -> None:
    data = FIXTURES.joinpath(name).read_bytes()
    cut = int(len(data) * fraction)
    path = tmp_path / "cut.tflite"
    path.write_bytes(data[:cut])
    with pytest.raises(tflkit.InvalidModelError) as info:
        tflkit.load(path)
    message = str(info.value)
    found = _TRUNCATED.match(message)
    assert found, message
    assert found["where"] == "cut.tflite"
    assert found["size"] == f"{cut:,}"  # the truncated file's size, with thousands separators
    # the byte it wanted is past the cut: in the original file, or (a length field read from
    # where the cut file has no bytes) further
    assert int(found["byte"].replace(",", "")) >= cut


def test_truncated_after_the_header_names_the_root_table() -> None:
    data = INT8.read_bytes()
    root = struct.unpack("<I", data[:4])[0]  # the root table's offset, the file's first 4 bytes
    with pytest.raises(tflkit.InvalidModelError) as info:
        tflkit.load(data[:8])
    assert str(info.value) == (
        f"<bytes>: truncated or corrupt: the root table is at byte {root:,} but the file has 8 bytes"
    )


def test_truncated_inside_a_table_names_the_end_of_the_file() -> None:
    # cut one byte into the root table: its vtable offset needs bytes root..root+3
    data = INT8.read_bytes()
    root = struct.unpack("<I", data[:4])[0]
    with pytest.raises(tflkit.InvalidModelError) as info:
        tflkit.load(data[: root + 1])
    assert str(info.value) == (
        f"<bytes>: truncated or corrupt: the flatbuffer refers to byte {root + 1:,} "
        f"but the file has {root + 1:,} bytes"
    )


_LEAKS = ["unpack_from", "struct", "Traceback", "flatbuffers", "buffer size"] + [
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
]


def _messages() -> list[str]:
    out = []
    rng = random.Random(3)
    for name in ("mlp_int8.tflite", "cnn_uint8_io.tflite", "two_signatures.tflite"):
        base = FIXTURES.joinpath(name).read_bytes()
        for cut in range(0, len(base), max(1, len(base) // 150)):
            out.append(base[:cut])
        for _ in range(150):
            data = bytearray(base)
            for _ in range(rng.randint(1, 6)):
                pos = rng.randrange(len(data))
                data[pos] ^= 1 << rng.randrange(8)
            out.append(bytes(data))
    messages = []
    for data in out:
        try:
            tflkit.load(data)
        except tflkit.InvalidModelError as exc:
            messages.append(str(exc))
    return messages


def test_no_message_leaks_python_internals() -> None:
    messages = _messages()
    assert len(messages) > 300
    for message in messages:
        assert not [w for w in _LEAKS if w in message], message
        assert message == message.rstrip(".")  # no final period
        assert message.split(": ", 1)[1][:1].islower(), message  # lower case after "where: "


def _shared_tensor_model(n: int, shared: str = "shape") -> bytes:
    """A model whose subgraph lists one tensor ``n`` times; that tensor's shape has ``n`` dims
    (or its name ``4 n`` letters).

    Legal flatbuffer (offsets may point at the same table), never written by a converter: read
    naively it asks for n * n shape entries (4 n * n letters) from a file of ~8 n bytes.
    """
    import flatbuffers
    import tflite

    b = flatbuffers.Builder(0)
    if shared == "shape":
        tflite.TensorStartShapeVector(b, n)
        for _ in range(n):
            b.PrependInt32(1)
        shape = b.EndVector()
    else:
        name = b.CreateString("x" * 4 * n)
    tflite.TensorStart(b)
    if shared == "shape":
        tflite.TensorAddShape(b, shape)
    else:
        tflite.TensorAddName(b, name)
    tensor = tflite.TensorEnd(b)
    tflite.SubGraphStartTensorsVector(b, n)
    for _ in range(n):
        b.PrependUOffsetTRelative(tensor)
    tensors = b.EndVector()
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, tensors)
    sg = tflite.SubGraphEnd(b)
    tflite.ModelStartSubgraphsVector(b, 1)
    b.PrependUOffsetTRelative(sg)
    subgraphs = b.EndVector()
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddSubgraphs(b, subgraphs)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


@pytest.mark.parametrize("shared", ["shape", "name"])
def test_shared_tables_cannot_blow_up(shared: str) -> None:
    small = _shared_tensor_model(20, shared)  # 400 entries from ~250 bytes: within the allowance
    model = tflkit.load(small)
    last = model.primary.tensors[19]
    assert len(model.primary.tensors) == 20
    assert last.shape == (1,) * 20 if shared == "shape" else last.name == "x" * 80
    data = _shared_tensor_model(100_000, shared)  # 10 billion entries from ~800 kB
    start = time.monotonic()
    with pytest.raises(tflkit.InvalidModelError) as info:
        tflkit.load(data)
    assert time.monotonic() - start < 2.0
    assert str(info.value).startswith(
        f"<bytes>: corrupt: its tables and vectors add up to more than {len(data) + 65536:,} "
        f"entries, expected at most one per byte of the {len(data):,}-byte file"
    )


def test_a_field_placed_past_the_end_by_its_vtable() -> None:
    """A crafted vtable puts a scalar field (the model's version) 65,000 bytes into a small
    table: the table and its vtable are in the file, the field is not. What the generated
    reader raises becomes an InvalidModelError in the user's words."""
    data = bytearray(_shared_tensor_model(2))
    root = struct.unpack_from("<I", data, 0)[0]
    vtable = root - struct.unpack_from("<i", data, root)[0]
    assert struct.unpack_from("<H", data, vtable + 4)[0] != 0  # Model.version is stored
    data[vtable + 4 : vtable + 6] = struct.pack("<H", 65_000)
    assert root + 65_000 > len(data)
    with pytest.raises(tflkit.InvalidModelError) as info:
        tflkit.load(bytes(data))
    assert str(info.value) == (
        "<bytes>: corrupt: the model could not be read (a field points outside its data)"
    )
    assert info.value.__cause__ is not None  # the reader's own exception, chained
    assert not [w for w in _LEAKS if w in str(info.value)]
