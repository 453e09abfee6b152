"""One rule for model arguments: a path (str or os.PathLike), bytes, or a loaded tflkit.Model.

Every public function that takes a model is called with each of the four forms and checked
against the manifest; a wrong type is a TypeError naming what was expected and what came.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, MODELS, litert_interpreter

import tflkit
from tflkit.loader import interpreter_source, resolve
from tflkit.testing import (
    assert_agrees,
    assert_fully_int8,
    assert_io,
    assert_ops,
    assert_quantization,
)

INT8 = FIXTURES / "mlp_int8.tflite"
FLOAT32 = FIXTURES / "mlp_float32.tflite"


class _FsPath:
    """An os.PathLike that is not a pathlib.Path."""

    def __init__(self, path: Path) -> None:
        self._path = str(path)

    def __fspath__(self) -> str:
        return self._path


class _BytesPath:
    def __fspath__(self) -> bytes:
        return b"m.tflite"


FORMS: dict[str, Callable[[Path], Any]] = {
    "str": str,
    "pathlib": lambda p: p,
    "pathlike": _FsPath,
    "bytes": lambda p: p.read_bytes(),
    "bytearray": lambda p: bytearray(p.read_bytes()),
    "model": tflkit.load,
}

WRONG: list[tuple[Any, str]] = [(42, "int"), (None, "NoneType"), ([str(INT8)], "list")]
EXPECTED = r"expected a path \(str or os\.PathLike\), bytes or a tflkit\.Model, got "


@pytest.fixture(params=sorted(FORMS))
def form(request: pytest.FixtureRequest) -> Callable[[Path], Any]:
    return FORMS[request.param]


def test_resolve_gives_the_same_model_for_every_form(form: Callable[[Path], Any]) -> None:
    model = resolve(form(INT8))
    facts = MODELS["mlp_int8.tflite"]
    assert model.size_bytes == facts["size_bytes"]
    assert [t.dtype for t in model.inputs] == [x["dtype"] for x in facts["inputs"]]
    assert model.subgraphs == tflkit.load(INT8).subgraphs


def test_resolve_returns_a_model_as_it_is() -> None:
    model = tflkit.load(INT8)
    assert resolve(model) is model


@pytest.mark.parametrize(("value", "got"), WRONG)
def test_resolve_wrong_type(value: Any, got: str) -> None:
    with pytest.raises(TypeError, match=EXPECTED + got + "$"):
        resolve(value)


def test_load_takes_the_four_forms_too(form: Callable[[Path], Any]) -> None:
    facts = MODELS["mlp_int8.tflite"]
    model = tflkit.load(form(INT8))
    assert [op.op for op in model.operators] == facts["ops"][0]
    assert model.inputs[0].quantization is not None
    assert model.inputs[0].quantization.scale == pytest.approx(facts["inputs"][0]["scale"])


def test_a_bytes_path_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=EXPECTED + "a bytes path b'm.tflite'$"):
        resolve(_BytesPath())


@pytest.mark.parametrize("name", ["mlp_int8.tflite", "mlp_float32.tflite", "mlp_float16.tflite"])
def test_check(name: str, form: Callable[[Path], Any]) -> None:
    report = tflkit.check(form(FIXTURES / name), "int8")
    assert report.passed == MODELS[name]["fully_int8"]


@pytest.mark.parametrize(
    "name", ["mlp_int8.tflite", "mlp_float16.tflite", "mlp_dynamic_range.tflite"]
)
def test_quantization_kind(name: str, form: Callable[[Path], Any]) -> None:
    assert tflkit.quantization_kind(form(FIXTURES / name)) == MODELS[name]["quantization_kind"]


def test_assert_fully_int8(form: Callable[[Path], Any]) -> None:
    assert_fully_int8(form(INT8))
    with pytest.raises(AssertionError, match="is not fully int8"):
        assert_fully_int8(form(FLOAT32))


def test_assert_io(form: Callable[[Path], Any]) -> None:
    x = MODELS["mlp_int8.tflite"]["inputs"][0]
    assert_io(form(INT8), inputs=[{"dtype": x["dtype"], "scale": x["scale"]}])
    with pytest.raises(AssertionError, match="dtype is int8, expected float32"):
        assert_io(form(INT8), inputs=[{"dtype": "float32"}])


def test_assert_quantization(form: Callable[[Path], Any]) -> None:
    x = MODELS["mlp_int8.tflite"]["inputs"][0]
    model = tflkit.load(INT8)
    index = model.primary.inputs[0]
    assert_quantization(form(INT8), index, scale=x["scale"], zero_point=x["zero_point"])
    with pytest.raises(AssertionError, match="zero points are"):
        assert_quantization(form(INT8), index, zero_point=x["zero_point"] + 1)


def test_assert_ops(form: Callable[[Path], Any]) -> None:
    ops = {op for sg in MODELS["mlp_int8.tflite"]["ops"] for op in sg}
    assert_ops(form(INT8), allowed=ops)
    with pytest.raises(AssertionError, match="is forbidden"):
        assert_ops(form(INT8), forbidden=["SOFTMAX"])


def test_assert_agrees(form: Callable[[Path], Any]) -> None:
    # the float32 model agrees with itself exactly, whatever form each side comes in
    x = np.load(FIXTURES / "mlp_eval_x.npy")[:64]
    assert_agrees(form(FLOAT32), FORMS["str"](FLOAT32), x, max_abs_error=0.0)
    assert_agrees(FORMS["model"](FLOAT32), form(FLOAT32), x, max_abs_error=0.0)


def test_runner(form: Callable[[Path], Any]) -> None:
    # the truth: LiteRT's interpreter on the file, one sample, raw int8 in and out
    interp = litert_interpreter(INT8)
    interp.allocate_tensors()
    i, o = interp.get_input_details()[0], interp.get_output_details()[0]
    xq = np.arange(-16, 16, dtype=np.int8)[None]
    interp.set_tensor(i["index"], xq)
    interp.invoke()
    runner = tflkit.Runner(form(INT8))
    np.testing.assert_array_equal(runner.predict(xq, raw=True), interp.get_tensor(o["index"]))
    assert runner.model.subgraphs == tflkit.load(INT8).subgraphs


def test_compare(form: Callable[[Path], Any]) -> None:
    x = np.load(FIXTURES / "mlp_eval_x.npy")[:32]
    c = tflkit.compare([form(FLOAT32), form(INT8)], x, speed=False)
    assert [r.size_bytes for r in c.models] == [FLOAT32.stat().st_size, INT8.stat().st_size]
    assert [r.kind for r in c.models] == [
        MODELS[p.name]["quantization_kind"] for p in (FLOAT32, INT8)
    ]


def test_benchmark(form: Callable[[Path], Any]) -> None:
    b = tflkit.benchmark(form(INT8), seconds=0.05, warmup=1)
    assert b.calls >= 1 and b.batch_size == 1


PUBLIC: dict[str, Callable[[Any], Any]] = {
    "load": tflkit.load,
    "check": tflkit.check,
    "quantization_kind": tflkit.quantization_kind,
    "assert_fully_int8": assert_fully_int8,
    "assert_io": assert_io,
    "assert_quantization": lambda m: assert_quantization(m, 0),
    "assert_ops": assert_ops,
    "assert_agrees (model)": lambda m: assert_agrees(m, FLOAT32, max_abs_error=1.0),
    "assert_agrees (reference)": lambda m: assert_agrees(FLOAT32, m, max_abs_error=1.0),
    "Runner": tflkit.Runner,
    "compare": lambda m: tflkit.compare([m, FLOAT32], speed=False),
    "compare (reference)": lambda m: tflkit.compare([FLOAT32, m], speed=False),
    "benchmark": lambda m: tflkit.benchmark(m, seconds=0.05),
}


@pytest.mark.parametrize("function", sorted(PUBLIC))
@pytest.mark.parametrize(("value", "got"), WRONG)
def test_wrong_type_is_a_type_error(function: str, value: Any, got: str) -> None:
    with pytest.raises(TypeError, match=EXPECTED + got + "$"):
        PUBLIC[function](value)


# ---------------------------------------------------------------- interpreter_source


def test_interpreter_source_is_the_path_for_a_file() -> None:
    assert interpreter_source(tflkit.load(INT8)) == str(INT8)
    assert interpreter_source(tflkit.load(_FsPath(INT8))) == str(INT8)


def test_interpreter_source_is_the_bytes_for_bytes() -> None:
    data = INT8.read_bytes()
    assert interpreter_source(tflkit.load(data)) == data
    assert interpreter_source(tflkit.load(bytearray(data))) == data


@pytest.mark.parametrize("form_name", ["str", "bytes"])
def test_interpreter_source_survives_pickle_and_runs(form_name: str) -> None:
    model = pickle.loads(pickle.dumps(tflkit.load(FORMS[form_name](INT8))))
    source = interpreter_source(model)
    interp = litert_interpreter(source)
    truth = litert_interpreter(INT8)
    assert interp is not None and truth is not None
    got = [(d["name"], tuple(d["shape"])) for d in interp.get_tensor_details()]
    want = [(d["name"], tuple(d["shape"])) for d in truth.get_tensor_details()]
    assert got == want


def test_interpreter_source_wrong_type() -> None:
    with pytest.raises(TypeError, match="expected a tflkit.Model, got str"):
        interpreter_source(str(INT8))  # type: ignore[arg-type]


def test_source_is_not_part_of_the_value() -> None:
    from_file, from_bytes = tflkit.load(INT8), tflkit.load(INT8.read_bytes())
    assert from_file.path == str(INT8) and from_bytes.path is None
    # same data from two sources: equal but for the path; the source never shows in repr
    assert from_file.subgraphs == from_bytes.subgraphs
    assert "_source" not in repr(from_file)
    assert os.fspath(interpreter_source(from_file)) != interpreter_source(from_bytes)


def test_interpreter_source_of_a_model_built_by_hand() -> None:
    loaded = tflkit.load(INT8)
    fields = {f: getattr(loaded, f) for f in ("size_bytes", "schema_version", "description")}
    parts = {"subgraphs": loaded.subgraphs, "signatures": (), "metadata": ()}
    with_path = tflkit.Model(path=str(INT8), **fields, **parts)
    assert interpreter_source(with_path) == str(INT8)
    without = tflkit.Model(path=None, **fields, **parts)
    with pytest.raises(tflkit.TflkitError, match="carries neither a path nor its bytes"):
        interpreter_source(without)


# ---------------------------------------------------------------- operator options, buffers


def test_operator_options_are_read_at_load() -> None:
    """Builtin options come with the Model, by their schema.fbs names, as plain data."""
    path = FIXTURES / "eu_stride4.tflite"
    model = tflkit.load(path)
    conv = model.primary.operators[0]
    assert conv.op == "CONV_2D"
    assert dict(conv.options) == {
        "dilation_h_factor": 1,
        "dilation_w_factor": 1,
        "fused_activation_function": 1,  # RELU
        "padding": 0,  # SAME
        "stride_h": 4,
        "stride_w": 4,
    }
    assert conv.option("stride_w") == 4 and conv.option("filter_width") is None
    assert conv.option("filter_width", 0) == 0
    assert model.primary.operators[2].option("padding") == 1  # VALID
    # plain data: the same from bytes, hashable, pickles, goes to JSON
    assert tflkit.load(path.read_bytes()).subgraphs == model.subgraphs
    assert pickle.loads(pickle.dumps(conv)) == conv and hash(conv) == hash(replace(conv))
    assert json.loads(json.dumps(conv.options)) == [list(kv) for kv in conv.options]
    # SOFTMAX stores its beta (1.0 from Keras' softmax), as schema.fbs names it
    assert [op.options for op in tflkit.load(INT8).operators if op.op == "SOFTMAX"] == [
        (("beta", 1.0),)
    ]


def test_unreadable_options_are_absent_and_the_model_loads() -> None:
    """A crafted options offset: the operator has no options (as the target rules always took
    such a file), the rest of the model loads."""
    import tflite

    path = FIXTURES / "eu_stride4.tflite"
    data = bytearray(path.read_bytes())
    op = tflite.Model.GetRootAs(data, 0).Subgraphs(0).Operators(0)
    field = op._tab.Pos + op._tab.Offset(12)  # Operator.builtin_options
    struct.pack_into("<I", data, field, len(data))  # now points past the end of the file
    model = tflkit.load(bytes(data))
    original = tflkit.load(path)
    assert model.primary.operators[0].options == ()
    assert model.primary.operators[1:] == original.primary.operators[1:]
    from tflkit.targets import ethos_u

    rules = [p.rule for p in ethos_u.place(model, "ethos-u55")]
    assert (
        rules[0] == "" and rules[1:] == [p.rule for p in ethos_u.place(original, "ethos-u55")][1:]
    )


def test_external_buffers_and_data_view() -> None:
    """Buffers stored after the flatbuffer are known at load; a tensor's bytes as stored."""
    model = tflkit.load(FIXTURES / "buffer_offset.tflite")
    constants = [t for t in model.primary.tensors if t.is_constant]
    assert model.external_buffers == tuple(sorted(t.buffer for t in constants))
    assert tflkit.load(INT8).external_buffers == ()
    for t in constants:
        view = t.data_view()
        assert view is not None and view.readonly and bytes(view) == t.numpy().tobytes()
    assert next(t for t in model.primary.tensors if not t.is_constant).data_view() is None


def test_options_field_outside_its_table_is_absent() -> None:
    """A vtable that places an options field past the end of its table: the operators whose
    options tables share that vtable have no options; the model loads."""
    import tflite

    path = FIXTURES / "eu_stride4.tflite"
    data = bytearray(path.read_bytes())
    op = tflite.Model.GetRootAs(data, 0).Subgraphs(0).Operators(0)
    table = op.BuiltinOptions()
    vtable = table.Pos - struct.unpack_from("<i", data, table.Pos)[0]
    struct.pack_into("<H", data, vtable + 6, 0xFFF0)  # Conv2DOptions.stride_w
    model = tflkit.load(bytes(data))
    assert model.primary.operators[0].options == ()
    assert len(model.primary.operators) == len(tflkit.load(path).primary.operators)
