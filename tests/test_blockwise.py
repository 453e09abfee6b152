"""Blockwise quantization (LiteRT's BlockwiseQuantization / MultiAxisQuantization) against the
runtime: what the interpreter reports, the object API's reading of the file, and the runtime
aborting on a blockwise ADD (in a subprocess, never in this process)."""

from __future__ import annotations

import contextlib
import io
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import MODELS, Cli, edited, litert_interpreter, need_fixture

import tflkit
from tflkit import InvalidModelError, UnsupportedModelError, check
from tflkit.model import unsupported_blockwise

INT4 = "fc_blockwise_int4.tflite"
INT8 = "fc_blockwise_int8.tflite"
ADD = "add_blockwise_int8.tflite"
FC = (INT4, INT8)


def _schema() -> Any:
    from ai_edge_litert import schema_py_generated as schema

    return schema


def _weight(model: tflkit.Model) -> tflkit.Tensor:
    return model.primary.tensors[MODELS[model.name]["blockwise"]["tensor"]]


# ------------------------------------------------------------------ what the runtime reports


@pytest.mark.parametrize("name", [*FC, ADD])
def test_block_scales_are_what_the_interpreter_reports(name: str) -> None:
    path = need_fixture(name)
    facts = MODELS[name]["blockwise"]
    w = _weight(tflkit.load(path))
    qp = litert_interpreter(path).get_tensor_details()[facts["tensor"]]["quantization_parameters"]
    q = w.quantization
    assert q is not None and q.is_blockwise and q.details == "blockwise"
    # 48 x 64 weights in blocks of 32: 96 scales, flattened, float16 widened to float32
    assert len(q.scales) == 48 * 64 // 32 == facts["interpreter_num_scales"] == len(qp["scales"])
    assert list(q.scales) == qp["scales"].astype(np.float64).tolist()
    assert q.block_size == int(qp["block_size"]) == facts["block_size"] == 32
    assert list(q.zero_points) == qp["zero_points"].tolist() == []
    assert not q.per_channel and w.real_range is None


@pytest.mark.parametrize("name", FC)
def test_raw_facts_match_the_object_api(name: str) -> None:
    from ai_edge_litert.tools import flatbuffer_utils

    path = need_fixture(name)
    facts = MODELS[name]["blockwise"]
    m = flatbuffer_utils.convert_bytearray_to_object(bytearray(path.read_bytes()))
    sg = m.subgraphs[0]
    details = sg.tensors[facts["tensor"]].quantization.details
    q = _weight(tflkit.load(path)).quantization
    assert q is not None
    assert (q.scales_tensor, q.zero_points_tensor, q.block_size) == (
        details.scales,
        details.zeroPoints,
        details.blockSize,
    )
    assert (q.scales_tensor, q.zero_points_tensor) == (facts["scales_tensor"], -1)
    # the scales tensor's bytes, read as float16 and flattened row-major
    raw = np.asarray(m.buffers[sg.tensors[details.scales].buffer].data, np.uint8)
    want = raw.view(np.float16).astype(np.float32)
    assert list(q.scales) == want.tolist()
    assert list(sg.tensors[details.scales].shape) == facts["scales_shape"] == [48, 2]


def test_runner_matches_the_interpreter_on_int4_blockwise_weights() -> None:
    path = need_fixture(INT4)
    assert MODELS[INT4]["runs_in_litert"]
    x = np.random.default_rng(5).random((3, 64), dtype=np.float32)
    interp = litert_interpreter(path)
    interp.resize_tensor_input(0, [3, 64])
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    want = interp.get_tensor(interp.get_output_details()[0]["index"])
    got = tflkit.Runner(path).predict(x)
    got = got[0] if isinstance(got, (list, tuple)) else got
    np.testing.assert_array_equal(np.asarray(got), want)


def test_blockwise_int8_fully_connected_computes_zeros_so_it_is_refused() -> None:
    """The premise, against the runtime: XNNPACK refuses the int8 blockwise weights and the
    builtin kernels return zeros where the hand reference (int8 x block scale) does not."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    path = need_fixture(INT8)
    facts = MODELS[INT8]["fc_reference"]
    assert not MODELS[INT8]["runs_in_litert"] and facts["xnnpack_max_abs_error"] is None
    assert facts["builtin_max_abs_error"] == facts["reference_max_abs"] > 1  # all zeros
    with pytest.raises(RuntimeError, match="blockwise"):
        litert_interpreter(path).allocate_tensors()
    builtin = Interpreter(
        model_path=str(path),
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    builtin.resize_tensor_input(0, [2, 64])
    builtin.allocate_tensors()
    builtin.set_tensor(0, np.random.default_rng(6).random((2, 64), dtype=np.float32))
    builtin.invoke()
    assert not np.any(builtin.get_tensor(builtin.get_output_details()[0]["index"]))
    report = check(path)
    hits = [f for f in report.violations if f.rule == "blockwise-ops"]
    assert len(hits) == 1 and "computes zeros" in hits[0].message
    assert (hits[0].operator, hits[0].tensor) == (0, 1)
    with pytest.raises(UnsupportedModelError, match=r"int4 only.*computes zeros"):
        tflkit.Runner(path)


# ------------------------------------------------------------------ the abort, and refusing it


def test_the_plain_interpreter_aborts_on_a_blockwise_add(tmp_path: Path) -> None:
    """The premise of the rule, re-checked in a child process: SIGABRT at allocate_tensors()."""
    path = need_fixture(ADD)
    assert MODELS[ADD]["aborts_at_allocate"]
    code = (
        "import sys\n"
        "from ai_edge_litert.interpreter import Interpreter\n"
        "Interpreter(model_path=sys.argv[1]).allocate_tensors()\n"
        "print('allocated')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == MODELS[ADD]["allocate_exit_code"] == -6, done.stderr[-500:]
    assert "allocated" not in done.stdout


def test_runner_refuses_a_blockwise_add_before_the_runtime_sees_it() -> None:
    # In a child: were the refusal missing, the runtime would abort this process.
    path = need_fixture(ADD)
    code = (
        "import sys, tflkit\n"
        "try:\n"
        "    tflkit.Runner(sys.argv[1])\n"
        "except tflkit.UnsupportedModelError as exc:\n"
        "    print(exc)\n"
        "    sys.exit(3)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parent.parent,  # this checkout's tflkit first
    )
    assert done.returncode == 3, (done.returncode, done.stderr[-500:])
    text = done.stdout
    assert "operator 0 (ADD)" in text and "tensor 1 'weight'" in text
    assert "int8 blockwise, block 32" in text and "FULLY_CONNECTED" in text


@pytest.mark.parametrize("profile", ["int8", "int16x8", "float16"])
def test_check_flags_a_blockwise_add_in_every_profile(profile: str) -> None:
    report = check(need_fixture(ADD), profile)
    hits = [f for f in report.violations if f.rule == "blockwise-ops"]
    assert len(hits) == 1 and not report.passed
    assert (hits[0].subgraph, hits[0].operator, hits[0].tensor) == (0, 0, 1)
    assert "operator 0 (ADD)" in hits[0].message


@pytest.mark.parametrize("profile", ["int8", "int16x8", "float16"])
def test_blockwise_int4_fully_connected_is_not_flagged(profile: str) -> None:
    report = check(need_fixture(INT4), profile)
    assert "blockwise-ops" not in {f.rule for f in report.violations + report.warnings}
    # nor does a conformance rule mistake 96 block scales for per-channel ones
    assert "per-channel-count" not in {f.rule for f in report.warnings}


def _to_multi_axis(m: Any) -> None:
    schema = _schema()
    q = m.subgraphs[0].tensors[1].quantization
    old = q.details
    d = schema.MultiAxisQuantizationT()
    d.scales, d.zeroPoints, d.blockSize, d.quantizedDimensions = old.scales, -1, 32, [1]
    q.detailsType, q.details = schema.QuantizationDetails.MultiAxisQuantization, d


def test_multi_axis_quantization_is_read_and_refused(tmp_path: Path) -> None:
    data = edited(INT4, _to_multi_axis)
    model = tflkit.load(data)
    q = _weight(tflkit.load(need_fixture(INT4))).quantization
    mq = model.primary.tensors[1].quantization
    assert q is not None and mq is not None
    assert mq.details == "multi_axis" and mq.quantized_dimensions == (1,)
    assert (mq.block_size, mq.scales_tensor, mq.scales) == (32, 2, q.scales)
    # the runtime (ai-edge-litert 2.3) does not read it: no scales reported at all
    qp = litert_interpreter(data).get_tensor_details()[1]["quantization_parameters"]
    assert len(qp["scales"]) == 0
    assert [f.rule for f in check(model).violations if f.rule == "blockwise-ops"]
    with pytest.raises(UnsupportedModelError, match="multi-axis"):
        tflkit.Runner(model)


def _with_zero_points(m: Any) -> None:
    schema = _schema()
    sg = m.subgraphs[0]
    t = schema.TensorT()
    t.name, t.shape, t.type, t.buffer = (
        b"zero_points",
        [48, 2],
        schema.TensorType.INT32,
        len(m.buffers),
    )
    buf = schema.BufferT()
    buf.data = (np.arange(96, dtype=np.int32) % 3).view(np.uint8)
    m.buffers.append(buf)
    sg.tensors.append(t)
    sg.tensors[1].quantization.details.zeroPoints = len(sg.tensors) - 1


def test_zero_points_tensor_is_read_as_the_interpreter_reports_it() -> None:
    data = edited(INT4, _with_zero_points)
    q = tflkit.load(data).primary.tensors[1].quantization
    qp = litert_interpreter(data).get_tensor_details()[1]["quantization_parameters"]
    assert q is not None and q.zero_points_tensor == 4
    assert list(q.zero_points) == qp["zero_points"].tolist() == [i % 3 for i in range(96)]


# ------------------------------------------------------------------ quantization_kind


def test_kind_names_the_bits_and_block() -> None:
    assert tflkit.quantization_kind(need_fixture(INT4)) == "weight-only-int4-block32"
    assert tflkit.quantization_kind(need_fixture(INT8)) == "weight-only-int8-block32"
    # int8 activations beside a blockwise constant: not weight-only
    assert tflkit.quantization_kind(need_fixture(ADD)) == "mixed"


def test_kind_without_one_block_size_is_weight_only() -> None:
    def second_block_size(m: Any) -> None:
        # a second FULLY_CONNECTED on the same input with its own blockwise weight, block 16
        import copy

        schema = _schema()
        sg = m.subgraphs[0]
        w = copy.deepcopy(sg.tensors[1])
        w.name = b"weight16"
        w.quantization.details.blockSize = 16
        scales = copy.deepcopy(sg.tensors[2])
        scales.name, scales.shape = b"scales16", [48, 4]
        scales.buffer = len(m.buffers)
        buf = schema.BufferT()
        buf.data = np.full(192, 0.01, np.float16).view(np.uint8)
        m.buffers.append(buf)
        sg.tensors += [w, scales, copy.deepcopy(sg.tensors[3])]
        w.quantization.details.scales = 5
        sg.tensors[6].name = b"output16"
        op = copy.deepcopy(sg.operators[0])
        op.inputs, op.outputs = [0, 4, -1], [6]
        sg.operators.append(op)
        sg.outputs = [3, 6]

    model = tflkit.load(edited(INT4, second_block_size))
    assert [t.quantization.block_size for t in model.primary.tensors if t.quantization] == [32, 16]
    assert tflkit.quantization_kind(model) == "weight-only"


# ------------------------------------------------------------------ inspect and JSON


def test_inspect_shows_the_block_and_the_scales_tensor() -> None:
    from rich.console import Console

    from tflkit.render import inspect_renderables

    console = Console(file=io.StringIO(), width=200, color_system=None)
    for r in inspect_renderables(tflkit.load(need_fixture(INT4)), tensors=True):
        console.print(r)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "int4 blockwise, block 32, scales: tensor 2 float16 [48, 2]" in out
    assert "weight-only-int4-block32" in out


def test_inspect_json_carries_the_raw_facts(cli: Cli) -> None:
    result = cli.invoke("inspect", "--json", str(need_fixture(INT8)))
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    facts = MODELS[INT8]["blockwise"]
    q = doc["subgraphs"][0]["tensors"][facts["tensor"]]["quantization"]
    assert q["blockwise"] == {
        "details": "blockwise",
        "block_size": facts["block_size"],
        "scales_tensor": facts["scales_tensor"],
        "zero_points_tensor": facts["zero_points_tensor"],
        "block_shape": [],
        "quantized_dimensions": [],
        "scales_dtype": facts["scales_dtype"],
        "scales_shape": facts["scales_shape"],
    }
    assert len(q["scales"]) == facts["interpreter_num_scales"] and q["per_channel"] is False
    assert doc["quantization_kind"] == MODELS[INT8]["quantization_kind"]
    assert doc["subgraphs"][0]["tensors"][0]["quantization"] is None


@pytest.mark.parametrize("code", [19, 20, 21, 22])
def test_new_element_types_are_named_as_litert_names_them(
    code: int, tmp_path: Path, cli: Cli
) -> None:
    """INT2, UINT4, FLOAT8_E4M3FN, FLOAT8_E5M2: newer than the tflite package's bindings."""
    import jsonschema

    schema = _schema()
    want = next(k for k, v in vars(schema.TensorType).items() if v == code).lower()

    def retype(m: Any) -> None:
        m.subgraphs[0].tensors[3].type = code  # the output

    path = tmp_path / "retyped.tflite"
    path.write_bytes(edited(INT4, retype))
    assert tflkit.load(path).primary.tensors[3].dtype == want
    human = cli.invoke("inspect", str(path))
    assert human.exit_code == 0 and f"out 0 │ output │ {want}" in human.stdout
    doc = json.loads(cli.invoke("inspect", "--json", str(path)).stdout)
    assert doc["subgraphs"][0]["tensors"][3]["dtype"] == want
    inspect_schema = json.loads(
        (Path(tflkit.__file__).parent / "schemas" / "inspect.schema.json").read_text()
    )
    jsonschema.Draft202012Validator(inspect_schema).validate(doc)


# ------------------------------------------------------------------ broken files


def _edit(fn: Any) -> bytes:
    return edited(INT4, fn)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda m: setattr(m.subgraphs[0].tensors[1].quantization.details, "scales", 9),
            "tensor 9",
        ),
        (lambda m: setattr(m.subgraphs[0].tensors[2], "shape", [48, 3]), "needs 288"),
        (lambda m: setattr(m.subgraphs[0].tensors[2], "buffer", 0), "has no data"),
        (
            lambda m: setattr(m.subgraphs[0].tensors[2], "type", 9),
            "which is int8; expected one of bfloat16, float16, float32",
        ),
    ],
    ids=["index", "size", "no-data", "dtype"],
)
def test_bad_scales_tensor_is_an_invalid_model(edit: Any, message: str) -> None:
    with pytest.raises(InvalidModelError, match=message) as err:
        tflkit.load(_edit(edit))
    assert str(err.value).startswith("<bytes>: ") and "blockwise scales" in str(err.value)


def test_truncated_everywhere_and_bit_flips_give_a_model_or_invalid_model_error() -> None:
    base = need_fixture(INT4).read_bytes()
    for cut in range(len(base)):
        with pytest.raises(InvalidModelError):
            tflkit.load(base[:cut])
    rng = random.Random(0)
    for _ in range(300):
        data = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        with contextlib.suppress(InvalidModelError):
            tflkit.load(bytes(data))


def test_predicate_is_one_definition() -> None:
    add = tflkit.load(need_fixture(ADD))
    assert [(op.op, t.index) for op, t, _ in unsupported_blockwise(add.primary)] == [("ADD", 1)]
    assert unsupported_blockwise(tflkit.load(need_fixture(INT4)).primary) == ()
    int8 = unsupported_blockwise(tflkit.load(need_fixture(INT8)).primary)
    assert [(op.op, t.index) for op, t, _ in int8] == [("FULLY_CONNECTED", 1)]
