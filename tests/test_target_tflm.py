"""tflkit.targets.tflm against TensorFlow Lite Micro itself.

The truth is tflite-micro's Python interpreter (``tflite_micro``), run on each fixture in a
child process by ``tests/_tflm_probe.py``: it allocates with a big arena, invokes on zeros and
reports the stage it reached, TFLM's own messages (C-level stderr) and the ``Arena allocation
total`` of ``print_allocations()``. A child, because TFLM aborts the process on some files
(fixtures/add_blockwise_int8.tflite) and prints from C.

``tests/tflm_op_resolver.json`` is the list of ``MicroMutableOpResolver`` Add methods read
from tflite-micro's ``micro_mutable_op_resolver.h`` and ``python_ops_resolver.cc`` (the
package ships neither header nor list; its source and commit are in the file).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _tflm_probe import NODE, in_child
from conftest import ALL_FIXTURES, FIXTURES, ROOT

import tflkit
from tflkit.targets import tflm

pytest.importorskip("tflite_micro")

RESOLVER = json.loads(Path(__file__).with_name("tflm_op_resolver.json").read_text())


def run_in_tflm(name: str) -> dict[str, Any]:
    return in_child(FIXTURES / name)


# Files TFLM allocates and invokes without a word but computes wrongly: tflkit says they do
# not run, and test_sparse_weights_compute_wrongly_in_tflm shows why.
SILENTLY_WRONG = {"mlp_sparse.tflite"}


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_verdict_equals_tflm(name: str) -> None:
    truth = run_in_tflm(name)
    model = tflkit.load(FIXTURES / name)
    placement = tflm.place(model, "tflm")
    runs = all(p.on == "target" for p in placement)
    if name in SILENTLY_WRONG:
        assert truth["stage"] == "ok" and not runs
        return
    assert runs == (truth["stage"] == "ok"), (truth["stage"], truth["log"][-500:], placement)
    named = NODE.search(truth["log"])
    if named:
        # TFLM numbers the nodes of the subgraph it was preparing or running: the primary one
        # for these fixtures (it stops at the first failure).
        op_name, number = named[1], int(named[2])
        p = next(p for p in placement if p.subgraph == 0 and p.operator == number)
        assert (p.op, p.on) == (op_name, "none")
        assert p.rule in tflm.RULES
    elif truth["stage"] == "allocate":
        # "Failed to get registration from op code X": an op TFLM has no kernel for
        missing = re.search(r"registration from op code (\w+)", truth["log"])
        assert missing, truth["log"]
        assert any(p.on == "none" and p.op == missing[1] for p in placement)


# The models built to fail, and what TFLM says about each (measured, tests/_tflm_probe.py).
EXPECTED_FAILURES = {
    "mlp_float16.tflite": ("DEQUANTIZE", "tflm-dtype"),
    "mlp_dynamic_range.tflite": ("FULLY_CONNECTED", "tflm-hybrid"),
    "tflm_hybrid_conv.tflite": ("CONV_2D", "tflm-hybrid"),
    "flex_cumprod.tflite": ("CUSTOM", "tflm-flex"),
    "tflm_select_int32.tflite": ("SELECT_V2", "tflm-dtype"),
    "tflm_reduce_prod.tflite": ("REDUCE_PROD", "tflm-unsupported-op"),
    "tflm_densify_conv.tflite": ("DENSIFY", "tflm-unsupported-op"),
    "quantize_uint8.tflite": ("QUANTIZE", "tflm-quantize-types"),
    "add_blockwise_int8.tflite": ("ADD", "tflm-blockwise"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED_FAILURES))
def test_models_built_to_fail(name: str) -> None:
    assert run_in_tflm(name)["stage"] != "ok"
    op, rule = EXPECTED_FAILURES[name]
    placement = tflm.place(tflkit.load(FIXTURES / name), "tflm")
    assert (op, rule) in {(p.op, p.rule) for p in placement if p.on == "none"}


def test_sparse_weights_compute_wrongly_in_tflm() -> None:
    # The same input through LiteRT (which densifies) and TFLM (which reads the compressed
    # buffer as the dense tensor): TFLM's output is not LiteRT's.
    code = (
        "import sys, numpy as np\n"
        "from tflite_micro.python.tflite_micro import runtime\n"
        "from ai_edge_litert.interpreter import Interpreter\n"
        "x = np.random.default_rng(0).random((1, 64), dtype=np.float32)\n"
        "m = runtime.Interpreter.from_file(sys.argv[1], arena_size=1 << 22)\n"
        "m.set_input(x, 0); m.invoke(); a = m.get_output(0)\n"
        "r = Interpreter(model_path=sys.argv[1]); r.allocate_tensors()\n"
        "r.set_tensor(r.get_input_details()[0]['index'], x); r.invoke()\n"
        "b = r.get_tensor(r.get_output_details()[0]['index'])\n"
        "print(bool(np.all(np.isfinite(a))) and bool(np.allclose(a, b, atol=1e-4)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(FIXTURES / "mlp_sparse.tflite")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert out.stdout.strip().splitlines()[-1] == "False", out.stderr[-500:]
    placement = tflm.place(tflkit.load(FIXTURES / "mlp_sparse.tflite"), "tflm")
    assert [p.rule for p in placement] == ["tflm-sparse"]


def test_select_v2_int32_fails_at_invoke_not_allocate() -> None:
    truth = run_in_tflm("tflm_select_int32.tflite")
    assert truth["stage"] == "invoke"
    assert "Does not support type other than int8|int16|float32" in truth["log"]


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_arena_never_below_tflm_and_within_5_percent(name: str) -> None:
    truth = run_in_tflm(name)
    if truth["stage"] != "ok":
        pytest.skip(f"TFLM does not run {name}")
    total = truth["arena_total"]
    estimate = tflm.memory(tflkit.load(FIXTURES / name), "tflm").arena_bytes
    assert total <= estimate <= 1.05 * total, (estimate, total)


# Fixtures where the estimate is 16 or 32 bytes above TFLM's total (the alignment padding
# between the options structs and the kernels' buffers, not modelled to the byte for these
# operator mixes); every other fixture TFLM runs is exact.
NOT_EXACT = {
    "eu_rank5.tflite",
    "keras_weight_only_int8.tflite",
    "mlp_int8_float_io.tflite",
    "outlier_cnn_float32.tflite",
    "outlier_mlp_float32.tflite",
}


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_arena_is_tflms_to_the_byte(name: str) -> None:
    truth = run_in_tflm(name)
    if truth["stage"] != "ok":
        pytest.skip(f"TFLM does not run {name}")
    estimate = tflm.memory(tflkit.load(FIXTURES / name), "tflm").arena_bytes
    if name in NOT_EXACT:
        assert 0 < estimate - truth["arena_total"] <= 32, (estimate, truth["arena_total"])
    else:
        assert estimate == truth["arena_total"]


def _head(name: str) -> int:
    found = re.search(r"Arena allocation head (\d+) bytes", run_in_tflm(name)["log"])
    assert found, run_in_tflm(name)["log"][-500:]
    return int(found[1])


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_planned_head_is_tflms(name: str) -> None:
    # the greedy planner's layout of activations and scratch buffers: exact
    if run_in_tflm(name)["stage"] != "ok":
        pytest.skip(f"TFLM does not run {name}")
    model = tflkit.load(FIXTURES / name)
    assert tflm._greedy(tflm._plan(model)) == _head(name)


def test_greedy_planner_by_hand() -> None:
    # greedy_memory_planner.cc: largest first, each at the lowest offset free over its lifetime
    # A 64 B alive 0-1, B 32 B alive 1-2 (overlaps A: above it), C 48 B alive 2-3 (overlaps
    # B only: below it, at 0, since 48 <= 64), D 16 B alive 3 (overlaps C: above it at 48)
    buffers = [(64, 0, 1), (32, 1, 2), (48, 2, 3), (16, 3, 3)]
    assert tflm._greedy(buffers) == 96  # A [0,64) B [64,96) C [0,48) D [48,64)
    # nothing alive together: every buffer at 0
    assert tflm._greedy([(32, 0, 0), (16, 1, 1), (48, 2, 2)]) == 48
    # all alive together: stacked
    assert tflm._greedy([(32, 0, 2), (16, 0, 2), (48, 0, 2)]) == 96
    # by size, ties in reverse order of addition: E 64 (3) at 0, G 32 (1) at 0, F 32 (0-3)
    # above both at 64, H 16 (2) in the gap below F at 0
    assert tflm._greedy([(32, 0, 3), (32, 1, 1), (16, 2, 2), (64, 3, 3)]) == 96


def test_greedy_planner_offline_offsets_by_hand() -> None:
    # greedy_memory_planner.cc:174-188, 262-265: a buffer planned offline (metadata
    # "OfflineMemoryAllocation") sits at its offset, placed first; the others fit around it
    assert tflm._greedy([(32, 0, 1, 64), (32, 0, 1, -1)]) == 96  # online below it at 0
    assert tflm._greedy([(32, 0, 1, -1), (48, 0, 1, 16)]) == 96  # no room below: above at 64
    assert tflm._greedy([(32, 0, 1, -1), (48, 2, 3, 16)]) == 64  # not alive together: at 0


def test_plan_lifetimes_by_hand() -> None:
    # mlp_int8: input -> FC -> FC -> SOFTMAX; TFLM plans 4 activations (the 2 weights and
    # biases have data); lifetimes: input [0, 1], each output from its op to its last reader
    model = tflkit.load(FIXTURES / "mlp_int8.tflite")
    plan = tflm._plan(model)
    assert sorted(b[1] for b in plan) == [0, 1, 2, 3]
    assert all(b[0] % 16 == 0 and b[3] == -1 for b in plan)


def test_arena_follows_activations() -> None:
    # nb_conformer_like holds ~100 kB of activations (TFLM: 108,720 bytes), mlp_int8 a few
    # hundred bytes (TFLM: 2,112): the estimate is not a constant
    small = tflm.memory(tflkit.load(FIXTURES / "mlp_int8.tflite")).arena_bytes
    conformer = tflm.memory(tflkit.load(FIXTURES / "nb_conformer_like.tflite")).arena_bytes
    assert conformer > 50 * small


def test_flash_is_the_model_file() -> None:
    path = FIXTURES / "mlp_int8.tflite"
    assert tflm.memory(tflkit.load(path)).flash_bytes == path.stat().st_size


def test_placement_covers_every_operator_in_order() -> None:
    model = tflkit.load(FIXTURES / "while_loop.tflite")
    placement = tflm.place(model, "tflm")
    expected = [(sg.index, op.index, op.op) for sg in model.subgraphs for op in sg.operators]
    assert [(p.subgraph, p.operator, p.op) for p in placement] == expected
    assert all(p.output for p in placement)


def test_module_interface() -> None:
    assert tflm.TARGETS == ("tflm",)
    assert tflm.FALLBACK == "none"
    assert "tflite-micro" in tflm.SOURCE and "0.dev20261023182759" in tflm.SOURCE
    for rule, line in tflm.RULES.items():
        assert rule.startswith("tflm-") and line and "\n" not in line


# -- the op table against tflite-micro's own lists


def test_table_is_what_the_python_interpreter_registers() -> None:
    adds: dict[str, str] = RESOLVER["adds"]
    registered = {adds[m] for m in RESOLVER["python_ops_resolver"]}
    builtins = {k for k in registered if not k.startswith("CUSTOM:")}
    customs = {k.removeprefix("CUSTOM:") for k in registered if k.startswith("CUSTOM:")}
    assert set(tflm.OPS) == builtins
    # ethos-u: AddEthosU adds nothing unless TFLM is built for an Ethos-U (the Python one is not)
    assert set(tflm.CUSTOM_OPS) == customs - {"ethos-u"}
    for op, support in tflm.OPS.items():
        assert adds[support.method] == op
    for code, method in tflm.CUSTOM_OPS.items():
        assert adds[method] == f"CUSTOM:{code}"


def _tflm_op_kinds(path: Path) -> set[str]:
    """The op kinds of the file as tflite-micro's own schema reader sees them."""
    from tflite_micro.python.tflite_micro import runtime

    schema = runtime.schema_fb
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = runtime.convert_bytearray_to_object(path.read_bytes())
    kinds = set()
    for sg in model.subgraphs:
        for op in sg.operators or []:
            code = model.operatorCodes[op.opcodeIndex]
            builtin = runtime.get_builtin_code_from_operator_code(code)
            if names[builtin] == "CUSTOM":
                kinds.add("CUSTOM:" + code.customCode.decode())
            else:
                kinds.add(names[builtin])
    return kinds


def _expected_adds(kinds: set[str]) -> set[str]:
    by_kind = {v: k for k, v in RESOLVER["adds"].items()}
    return {by_kind[k] for k in kinds if k in by_kind}


@pytest.mark.parametrize(
    "names",
    [
        ["mlp_int8.tflite"],
        ["cnn_uint8_io.tflite"],
        ["while_loop.tflite"],
        ["stateful_counter.tflite"],
        ["mlp_int8.tflite", "cnn_uint8_io.tflite", "nb_streaming_state.tflite"],
    ],
)
def test_resolver_cpp_is_the_op_kinds_tflm_registers(names: list[str]) -> None:
    paths = [FIXTURES / n for n in names]
    kinds = set().union(*(_tflm_op_kinds(p) for p in paths))
    expected = _expected_adds(kinds)
    assert len(expected) == len(kinds)  # every kind of these models has a kernel
    text = tflm.resolver_cpp([tflkit.load(p) for p in paths])
    lines = text.splitlines()
    assert lines[0] == f"tflite::MicroMutableOpResolver<{len(expected)}> resolver;"
    methods = {re.fullmatch(r"resolver\.(Add\w+)\(\);", line)[1] for line in lines[1:]}  # type: ignore[index]
    assert methods == expected
    assert len(lines) == 1 + len(expected)
    assert all(m in RESOLVER["adds"] for m in methods)


def test_resolver_leaves_out_ops_tflm_lacks() -> None:
    text = tflm.resolver_cpp([tflkit.load(FIXTURES / "flex_cumprod.tflite")])
    assert text.splitlines() == [
        "tflite::MicroMutableOpResolver<1> resolver;",
        "resolver.AddAdd();",
    ]


def test_import_pulls_no_runtime() -> None:
    code = (
        "import sys, tflkit; from tflkit.targets import tflm; "
        "m = tflkit.load(sys.argv[1]); tflm.place(m); tflm.memory(m); tflm.resolver_cpp([m]); "
        "bad = [x for x in ('tensorflow', 'tflite_micro', 'ai_edge_litert') if x in sys.modules]; "
        "print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(FIXTURES / "mlp_int8.tflite")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.stdout.strip() == "[]", out.stderr
