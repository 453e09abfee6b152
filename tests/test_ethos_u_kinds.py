"""tflkit.targets.ethos_u on the kinds of model the published/test-model corpus found it wrong
on (issue 22), one small model each, built here with LiteRT's flatbuffer object API.

The truth is Vela 5.2.0 itself (``_run_vela`` of tests/test_target_ethos_u.py: the operators it
leaves outside the ``ethos-u`` custom operators, and how many of those it writes). ``CASES``
also says what was worked out by hand from Regor's source (the C++ core Vela 5.x compiles with;
upstream ethos-u-vela e4b56335, the file and function named beside each case): which operators
stay on the CPU and why, and the segment count. Both are checked: the hand-worked answer against
Vela (so that the reading of the source is right) and tflkit against the hand-worked answer.

Kinds: int32 shape/token arithmetic without quantization (TensQuantized exempts int32 feature
maps), an int16 BATCH_MATMUL (U55/U65 MatmulIFMPrecision), the order Regor schedules operations
in (TraverseGraphFromEnd, then ReorderOperations moving CPU operations that read only graph
inputs first and those that write only graph outputs last), resource variables (VAR_HANDLE /
READ_VARIABLE first, ASSIGN_VARIABLE last), bool graph inputs and outputs on Ethos-U85
(ConvertBool8Tensors: an NPU operation converts each), an int8 LSTM (its int32 biases are not
feature maps), and a model Vela already compiled.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _truth import operators
from test_target_ethos_u import ACCELERATORS, VelaRun, _run_vela, _vela_rule, run_vela_many
from test_xnnpack_kinds import _i32, _Net

import tflkit
from tflkit.targets import ethos_u

pytest.importorskip("ethosu.vela")

_Q8 = ([0.05], [0], 0)
_Q16 = ([0.001], [0], 0)


def _int32_tokens() -> bytes:
    # tokens int32 [1, 8] (no quantization) -> ADD 1 -> RESHAPE [1, 8, 1] -> CAST float ->
    # MUL: the int32 ADD and RESHAPE run on the NPU (TensQuantized skips int32 feature maps,
    # ethosu/regor/tflite/tflite_supported_operators.cpp lines 186-207); CAST and the float
    # MUL are CPU operators. Regor's order: ADD, RESHAPE, CAST, MUL: one NPU part.
    n = _Net()
    s = n.s
    tok = n.tensor("int32", [1, 8], role="in")
    one = n.tensor("int32", [], data=_i32([1]))
    a = n.tensor("int32", [1, 8])
    shape = n.tensor("int32", [3], data=_i32([1, 8, 1]))
    r = n.tensor("int32", [1, 8, 1])
    f = n.tensor("float32", [1, 8, 1])
    k = n.tensor("float32", [1], data=np.asarray([0.5], np.float32))
    out = n.tensor("float32", [1, 8, 1], role="out")
    n.op("ADD", [tok, one], [a], options=s.AddOptionsT())
    ro = s.ReshapeOptionsT()
    ro.newShape = [1, 8, 1]
    n.op("RESHAPE", [a, shape], [r], options=ro)
    n.op("CAST", [r], [f], options=s.CastOptionsT())
    n.op("MUL", [f, k], [out], options=s.MulOptionsT())
    return n.bytes()


def _int32_token_and_int8_without_quantization() -> bytes:
    # the same ADD on int8 tensors without quantization stays on the CPU: the exemption is
    # for int32 only
    n = _Net()
    s = n.s
    x = n.tensor("int8", [1, 8], role="in")
    one = n.tensor("int8", [], data=np.asarray([1], np.int8))
    out = n.tensor("int8", [1, 8], role="out")
    n.op("ADD", [x, one], [out], options=s.AddOptionsT())
    return n.bytes()


def _matmul(dtype: str) -> bytes:
    # a, b [1, 1, 4, 8], c [1, 1, 2, 8] (int16 or int8):
    #   y1 = BATCH_MATMUL(a, b, adj_y) [1, 1, 4, 4] -> QUANTIZE (rescale) -> y1q
    #   y2 = BATCH_MATMUL(a, c, adj_y) [1, 1, 4, 2]
    #   CONCATENATION(y1q, y2) on the last axis [1, 1, 4, 6]
    # int16: on Ethos-U55 / U65 both BATCH_MATMUL stay on the CPU (MatmulIFMPrecision,
    # ethosu/regor/tflite/tflite_supported_operators_u55.cpp lines 273-296) and QUANTIZE and
    # CONCATENATION run on the NPU. In file order that is two NPU parts; Regor moves both
    # matmuls, which read only graph inputs, first (ReorderOperations): one. Ethos-U85 takes
    # them all. int8: all on the NPU everywhere.
    n = _Net()
    s = n.s
    q = _Q16 if dtype == "int16" else _Q8
    q2 = ([0.002], [0], 0) if dtype == "int16" else ([0.1], [0], 0)
    a = n.tensor(dtype, [1, 1, 4, 8], q=q, role="in")
    b = n.tensor(dtype, [1, 1, 4, 8], q=q, role="in")
    c = n.tensor(dtype, [1, 1, 2, 8], q=q, role="in")
    y1 = n.tensor(dtype, [1, 1, 4, 4], q=q)
    y1q = n.tensor(dtype, [1, 1, 4, 4], q=q2)
    y2 = n.tensor(dtype, [1, 1, 4, 2], q=q2)
    out = n.tensor(dtype, [1, 1, 4, 6], q=q2, role="out")
    bm = s.BatchMatMulOptionsT()
    bm.adjY = True
    n.op("BATCH_MATMUL", [a, b], [y1], options=bm)
    n.op("QUANTIZE", [y1], [y1q], options=s.QuantizeOptionsT())
    n.op("BATCH_MATMUL", [a, c], [y2], options=bm)
    co = s.ConcatenationOptionsT()
    co.axis = 3
    n.op("CONCATENATION", [y1q, y2], [out], options=co)
    return n.bytes()


def _streaming_state() -> bytes:
    # A streaming layer as micro-wake-word writes it (int8):
    #   VAR_HANDLE -> READ_VARIABLE s [1, 4]; CONCATENATION(s, x) [1, 8];
    #   STRIDED_SLICE [1, 4:8] -> ASSIGN_VARIABLE; FULLY_CONNECTED(concat) -> out
    # Ethos-U55: the variable operators stay on the CPU. File order: VAR_HANDLE READ_VARIABLE
    # [CONCATENATION STRIDED_SLICE] ASSIGN_VARIABLE [FULLY_CONNECTED]: two NPU parts. Regor:
    # VAR_HANDLE and READ_VARIABLE first (no inputs / inputs made by those), ASSIGN_VARIABLE
    # (no output: a placeholder graph output, tflite_reader.cpp lines 332-339) last: one.
    n = _Net()
    s = n.s
    x = n.tensor("int8", [1, 4], q=_Q8, role="in")
    res = n.tensor("resource", [])
    old = n.tensor("int8", [1, 4], q=_Q8)
    cat = n.tensor("int8", [1, 8], q=_Q8)
    begin = n.tensor("int32", [2], data=_i32([0, 4]))
    end = n.tensor("int32", [2], data=_i32([1, 8]))
    strides = n.tensor("int32", [2], data=_i32([1, 1]))
    new = n.tensor("int8", [1, 4], q=_Q8)
    w = n.tensor("int8", [3, 8], data=np.ones((3, 8), np.int8), q=([0.01], [0], 0))
    bias = n.tensor("int32", [3], data=_i32([0, 0, 0]), q=([0.0005], [0], 0))
    out = n.tensor("int8", [1, 3], q=([0.1], [0], 0), role="out")
    vh = s.VarHandleOptionsT()
    vh.container, vh.sharedName = b"", b"state"
    n.op("VAR_HANDLE", [], [res], options=vh)
    n.op("READ_VARIABLE", [res], [old], options=s.ReadVariableOptionsT())
    co = s.ConcatenationOptionsT()
    co.axis = 1
    n.op("CONCATENATION", [old, x], [cat], options=co)
    n.op("STRIDED_SLICE", [cat, begin, end, strides], [new], options=s.StridedSliceOptionsT())
    n.op("ASSIGN_VARIABLE", [res, new], [], options=s.AssignVariableOptionsT())
    n.op("FULLY_CONNECTED", [cat, w, bias], [out], options=s.FullyConnectedOptionsT())
    return n.bytes()


def _float_equal() -> bytes:
    # float EQUAL -> bool graph output: the EQUAL stays on the CPU; Ethos-U85 converts the
    # bool output with an NPU AND 1 after it, the EQUAL writing "<name>_int8"
    # (GraphIrOptimiser::ConvertBool8Tensors, compiler/graphir_optimiser.cpp lines 93-153):
    # one NPU part. (Ethos-U55 / U65: Vela stops, "Non-passthrough operation (And) could not
    # run on NPU".)
    n = _Net()
    s = n.s
    a = n.tensor("float32", [2, 3], role="in")
    b = n.tensor("float32", [2, 3], role="in")
    out = n.tensor("bool", [2, 3], role="out")
    n.op("EQUAL", [a, b], [out], options=s.EqualOptionsT())
    return n.bytes()


def _bool_select() -> bytes:
    # bool graph input into a float SELECT_V2: an NPU NOT_EQUAL 0 converts the input before
    # the CPU SELECT_V2 on Ethos-U85: one NPU part
    n = _Net()
    s = n.s
    cond = n.tensor("bool", [2, 3], role="in")
    a = n.tensor("float32", [2, 3], role="in")
    b = n.tensor("float32", [2, 3], role="in")
    out = n.tensor("float32", [2, 3], role="out")
    n.op("SELECT_V2", [cond, a, b], [out], options=s.SelectV2OptionsT())
    return n.bytes()


def _lstm() -> bytes:
    # An int8 UNIDIRECTIONAL_SEQUENCE_LSTM (x [1, 3, 4] -> [1, 3, 2], int32 gate biases, int8
    # output state and int16 cell state variables), as the TFLite converter writes one, then
    # FULLY_CONNECTED. Regor reads input 0 as the IFM and the others as weights, scales and
    # state (ethosu/regor/tflite/tflite_mapping.cpp lines 638-661): the int32 biases are not
    # 32-bit feature maps, and the operator runs on the NPU of every Ethos-U.
    n = _Net()
    s = n.s
    rng = np.random.default_rng(0)
    x = n.tensor("int8", [1, 3, 4], q=([0.02], [-3], 0), role="in")

    def weights(shape: list[int]) -> int:
        data = rng.integers(-100, 100, size=shape, dtype=np.int8)
        return n.tensor("int8", shape, data=data, q=([0.01], [0], 0))

    w_in = [weights([2, 4]) for _ in range(4)]
    w_rec = [weights([2, 2]) for _ in range(4)]
    biases = [n.tensor("int32", [2], data=_i32([10, -10]), q=([0.0002], [0], 0)) for _ in range(4)]
    h = n.tensor("int8", [1, 2], q=([0.008], [0], 0))
    c = n.tensor("int16", [1, 2], q=([2.0**-12], [0], 0))
    for k in (h, c):
        n.sg.tensors[k].isVariable = True
    mids = [n.tensor("float32", [0]) for _ in range(4)] + [n.tensor("int8", [0], q=_Q8)]
    y = n.tensor("int8", [1, 3, 2], q=([0.008], [0], 0))
    o = s.UnidirectionalSequenceLSTMOptionsT()
    o.fusedActivationFunction, o.cellClip, o.timeMajor = 4, 10.0, False
    ins = [x, *w_in, *w_rec, -1, -1, -1, *biases, -1, -1, h, c, -1, -1, -1, -1]
    n.op("UNIDIRECTIONAL_SEQUENCE_LSTM", ins, [y], options=o)
    n.sg.operators[-1].intermediates = mids
    flat = n.tensor("int8", [1, 6], q=([0.008], [0], 0))
    shape = n.tensor("int32", [2], data=_i32([1, 6]))
    ro = s.ReshapeOptionsT()
    ro.newShape = [1, 6]
    n.op("RESHAPE", [y, shape], [flat], options=ro)
    w = weights([3, 6])
    b = n.tensor("int32", [3], data=_i32([0, 0, 0]), q=([0.00008], [0], 0))
    out = n.tensor("int8", [1, 3], q=([0.1], [0], 0), role="out")
    n.op("FULLY_CONNECTED", [flat, w, b], [out], options=s.FullyConnectedOptionsT())
    return n.bytes()


# name -> (builder, {target: ((op, rule) of each operator worked out to stay on the CPU,
#                             segments)})
_Expected = dict[str, tuple[tuple[tuple[str, str], ...], int]]
_U55_U65 = ("ethos-u55", "ethos-u65")
_CAST, _MUL = "CAST", "MUL"
_UNSUPPORTED, _DTYPE = "ethos-u-unsupported-op", "ethos-u-dtype"


def _same(found: tuple[tuple[tuple[str, str], ...], int], targets: tuple[str, ...]) -> _Expected:
    return {t: found for t in targets}


CASES: dict[str, tuple[Callable[[], bytes], _Expected]] = {
    "int32_tokens": (
        _int32_tokens,
        {
            **_same((((_CAST, _UNSUPPORTED), (_MUL, _DTYPE)), 1), _U55_U65),
            "ethos-u85": (((_CAST, _DTYPE), (_MUL, _DTYPE)), 1),
        },
    ),
    "int8_without_quantization": (
        _int32_token_and_int8_without_quantization,
        _same(((("ADD", "ethos-u-quantization"),), 0), tuple(ACCELERATORS)),
    ),
    "matmul_int16": (
        lambda: _matmul("int16"),
        {
            **_same(((("BATCH_MATMUL", "ethos-u-weights"),) * 2, 1), _U55_U65),
            "ethos-u85": ((), 1),
        },
    ),
    "matmul_int8": (lambda: _matmul("int8"), _same(((), 1), tuple(ACCELERATORS))),
    "streaming_state": (
        _streaming_state,
        {
            **_same(
                (
                    (
                        ("VAR_HANDLE", _UNSUPPORTED),
                        ("READ_VARIABLE", _UNSUPPORTED),
                        ("ASSIGN_VARIABLE", _UNSUPPORTED),
                    ),
                    1,
                ),
                _U55_U65,
            ),
            "ethos-u85": ((), 1),
        },
    ),
    "lstm": (_lstm, _same(((), 1), tuple(ACCELERATORS))),
    "float_equal": (_float_equal, {"ethos-u85": ((("EQUAL", _DTYPE),), 1)}),
    "bool_select": (_bool_select, {"ethos-u85": ((("SELECT_V2", _DTYPE),), 1)}),
}
_JOBS = [(name, t) for name, (_, expected) in CASES.items() for t in expected]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Any]:
    """(model path, Vela's run) for every case and target it is checked on."""
    d = tmp_path_factory.mktemp("ethos_u_kinds")
    jobs = []
    for name, t in _JOBS:
        path = d / f"{name}.tflite"
        if not path.exists():
            path.write_bytes(CASES[name][0]())
        jobs.append((path, t, d / t / name))
    runs = run_vela_many(jobs, processes=2)
    return {job: (path, run) for job, (path, _, _), run in zip(_JOBS, jobs, runs, strict=True)}


def _vela_cpu(run: VelaRun, model: tflkit.Model) -> Counter[tuple[str, str]]:
    """Vela's CPU operators, a bool output renamed ``<name>_int8`` by Regor read as ``<name>``."""
    names = {t.name for sg in model.subgraphs for t in sg.tensors}
    out: Counter[tuple[str, str]] = Counter()
    for (op, name), n in run.cpu.items():
        if name not in names and name.removesuffix("_int8") in names:
            name = name.removesuffix("_int8")
        out[(op, name)] += n
    return out


@pytest.mark.parametrize(("name", "target"), _JOBS)
def test_worked_out_answer_is_what_vela_does(
    compiled: dict[tuple[str, str], Any], name: str, target: str
) -> None:
    path, run = compiled[(name, target)]
    assert run.returncode == 0, run.log[-2000:]
    model = tflkit.load(path)
    cpu_ops, segments = CASES[name][1][target]
    vela = _vela_cpu(run, model)
    assert Counter(op for op, _ in vela.elements()) == Counter(op for op, _ in cpu_ops)
    assert run.npu_ops == segments
    # the constraint Vela printed for each operator it warned about is the worked-out rule
    rules = dict(cpu_ops)
    printed = {op: _vela_rule(why) for (op, _), why in run.reasons.items() if op in rules}
    assert printed == {op: rules[op] for op in printed}


@pytest.mark.parametrize(("name", "target"), _JOBS)
def test_tflkit_places_as_worked_out(
    compiled: dict[tuple[str, str], Any], name: str, target: str
) -> None:
    path, run = compiled[(name, target)]
    model = tflkit.load(path)
    placement = ethos_u.place(model, target)
    cpu_ops, segments = CASES[name][1][target]
    assert Counter((p.op, p.rule) for p in placement if p.on == "cpu") == Counter(cpu_ops)
    assert ethos_u.segments(model, placement) == segments
    if run.returncode == 0:  # and operator for operator as Vela, by output name
        assert Counter((p.op, p.output) for p in placement if p.on == "cpu") == _vela_cpu(
            run, model
        )


def test_bool_graph_io_stops_vela_on_ethos_u55(tmp_path: Path) -> None:
    """Why the bool cases are checked on Ethos-U85 only: on Ethos-U55 Vela 5.2.0 refuses the
    model (Regor's bool conversion is an NPU operation the U55 does not have)."""
    path = tmp_path / "float_equal.tflite"
    path.write_bytes(_float_equal())
    run = _run_vela(path, "ethos-u55", tmp_path / "out")
    assert run.returncode != 0
    assert "could not run on NPU" in run.log


def test_a_model_vela_compiled_stays_on_the_npu(
    compiled: dict[tuple[str, str], Any], tmp_path: Path
) -> None:
    """Vela's own output compiled again: Vela passes its ethos-u operator on, on the NPU."""
    path, run = compiled[("matmul_int8", "ethos-u55")]
    assert run.returncode == 0
    written = path.parent / "ethos-u55" / path.stem / f"{path.stem}_vela.tflite"
    again = _run_vela(written, "ethos-u55", tmp_path / "again")
    assert again.returncode == 0 and not again.cpu and again.npu_ops == 1
    model = tflkit.load(written)
    placement = ethos_u.place(model, "ethos-u55")
    assert [(p.op, p.on) for p in placement] == [("CUSTOM", "target")]
    assert ethos_u.segments(model, placement) == 1
    assert [r.custom for r in operators(written)] == ["ethos-u"]
