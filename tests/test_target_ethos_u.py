"""tflkit.targets.ethos_u against Vela itself.

The truth is the model Vela 5.2.0 writes (``vela --accelerator-config ethos-u55-128 |
ethos-u65-256 | ethos-u85-256``, run once per fixture and accelerator in a subprocess): every
operator that is not an ``ethos-u`` custom operator stays on the CPU, in all subgraphs, matched
by op type and the name of its first output tensor; the number of ``ethos-u`` operators is the
number of NPU segments. Vela's warnings name the constraint that failed: tflkit's rule id must
be the one that constraint belongs to.

Agreement when this was written (Vela 5.2.0; 43 fixtures, of which fc_blockwise_int4 makes
Vela crash with SIGFPE, plus 7 edited models): 185 of 185 operators placed as Vela places them on
each of ethos-u55, ethos-u65 and ethos-u85 (148 in the fixtures, 37 in the edits); the segment
count equal to Vela's ``ethos-u`` operators on all 49 models and accelerators; 315 CPU
placements carry the rule of the constraint Vela printed for them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _truth import operators, vela_warnings
from conftest import ALL_FIXTURES, FIXTURES, MODELS, edited

import tflkit
from tflkit.targets import ethos_u, place

pytest.importorskip("ethosu.vela")

ACCELERATORS = {
    "ethos-u55": "ethos-u55-128",
    "ethos-u65": "ethos-u65-256",
    "ethos-u85": "ethos-u85-256",
}


@dataclass(frozen=True)
class VelaRun:
    returncode: int
    log: str
    cpu: Counter[tuple[str, str]]  # (op type, first output name) of every op left to the CPU
    npu_ops: int  # ethos-u custom operators
    reasons: dict[tuple[str, str], str]  # (op type, ofm) -> Vela's reason and constraint


def _vela_args(path: Path, target: str, out: Path) -> list[str]:
    return ["--accelerator-config", ACCELERATORS[target], "--output-dir", str(out), str(path)]


def _vela_result(path: Path, out: Path, returncode: int, log: str) -> VelaRun:
    written = out / (path.stem + "_vela.tflite")
    if returncode != 0 or not written.exists():
        return VelaRun(returncode or -1, log, Counter(), 0, {})
    ops = operators(written)
    cpu = Counter((r.op, r.output) for r in ops if r.custom != "ethos-u")
    npu = sum(r.custom == "ethos-u" for r in ops)
    reasons = {key: "\n".join(lines) for key, lines in vela_warnings(log).items()}
    return VelaRun(0, log, cpu, npu, reasons)


def _run_vela(path: Path, target: str, out: Path) -> VelaRun:
    out.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "ethosu.vela", *_vela_args(path, target, out)],
        capture_output=True,
        text=True,
        timeout=VELA_TIMEOUT,
        cwd=out,
    )
    return _vela_result(path, out, done.returncode, done.stdout + done.stderr)


VELA_TIMEOUT = 600
# `python -m ethosu.vela ARGS` for each job, without paying Python and Vela's import (0.4 s, most
# of a compilation here) each time: one child imports Vela, then forks a process a job that
# runs what `python -m ethosu.vela` runs (`sys.exit(main())`, ethosu/vela/__main__.py), in the
# output directory, stdout and stderr into files of their own; Vela keeps no threads to fork
# with. The exit status is the process's own: a signal (Vela's SIGFPE on blockwise int4) ends
# that process alone. A job past VELA_TIMEOUT is killed and reported as None.
_VELA_MANY = r"""
import json, os, signal, sys
from ethosu.vela.vela import main
for line in sys.stdin:
    args, cwd, timeout = json.loads(line)
    sys.stdout.flush(); sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.chdir(cwd)
        for fd, name in ((1, "stdout"), (2, "stderr")):
            os.dup2(os.open(os.path.join(cwd, ".vela-" + name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
        signal.alarm(timeout)
        sys.argv = ["vela", *args]
        code = 1
        try:
            code = main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (exc.code is not None)
        except BaseException:
            import traceback; traceback.print_exc()
        finally:
            sys.stdout.flush(); sys.stderr.flush()
            os._exit(code)
    status = os.waitpid(pid, 0)[1]
    timed_out = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGALRM
    print(json.dumps(None if timed_out else os.waitstatus_to_exitcode(status)), flush=True)
"""


def run_vela_many(jobs: list[tuple[Path, str, Path]], processes: int = 1) -> list[VelaRun]:
    """``_run_vela`` on every (model, target, output dir), in order; ``processes`` children
    share the jobs (the truth is the same: Vela's files, exit status, stdout + stderr)."""

    def share(part: list[tuple[Path, str, Path]]) -> list[VelaRun]:
        lines = []
        for path, target, out in part:
            out.mkdir(parents=True, exist_ok=True)
            lines.append(json.dumps([_vela_args(path, target, out), str(out), VELA_TIMEOUT]))
        done = subprocess.run(
            [sys.executable, "-c", _VELA_MANY],
            input="".join(x + "\n" for x in lines),
            capture_output=True,
            text=True,
            timeout=VELA_TIMEOUT * len(part) + 60,
        )
        codes = [json.loads(x) for x in done.stdout.splitlines()]
        assert done.returncode == 0 and len(codes) == len(part), done.stderr[-3000:]
        runs = []
        for (path, target, out), code in zip(part, codes, strict=True):
            assert code is not None, f"vela {target} {path}: no answer in {VELA_TIMEOUT} s"
            log = (out / ".vela-stdout").read_text() + (out / ".vela-stderr").read_text()
            runs.append(_vela_result(path, out, code, log))
        return runs

    parts = [jobs[k::processes] for k in range(processes)]
    with ThreadPoolExecutor(max_workers=processes) as pool:
        done = list(pool.map(share, parts))
    runs: list[VelaRun | None] = [None] * len(jobs)
    for k, part_runs in enumerate(done):
        runs[k::processes] = part_runs
    assert all(r is not None for r in runs)
    return [r for r in runs if r is not None]


# Edited fixtures (LiteRT's object API), compiled by Vela like the others
def _tanh_on_conv(m: Any) -> None:
    m.subgraphs[0].operators[1].builtinOptions.fusedActivationFunction = 4  # TANH


def _dynamic_feature_axis(m: Any) -> None:
    sg = m.subgraphs[0]
    t = sg.tensors[sg.inputs[0]]
    t.shapeSignature = [-1, -1]  # a dynamic non-batch axis on the input of the first FC


def _no_output_quantization(m: Any) -> None:
    sg = m.subgraphs[0]
    sg.tensors[sg.outputs[0]].quantization = None  # the SOFTMAX output


def _negative_uint8_zero_point(m: Any) -> None:
    sg = m.subgraphs[0]
    sg.tensors[sg.inputs[0]].quantization.zeroPoint = np.array([-1])  # uint8 into QUANTIZE


def _average_pool_kernel_9(m: Any) -> None:
    for op in m.subgraphs[0].operators:  # the (8, 2) SAME pool: (9, 2), output unchanged
        options = op.builtinOptions
        if type(options).__name__ == "Pool2DOptionsT" and options.filterWidth == 2:
            options.filterWidth = 9


def _per_axis_softmax_input(m: Any) -> None:
    sg = m.subgraphs[0]
    q = sg.tensors[sg.operators[2].inputs[0]].quantization  # (1, 10) into SOFTMAX
    q.scale = np.full(10, q.scale[0], dtype=np.float32)
    q.zeroPoint = np.zeros(10, dtype=np.int64)
    q.quantizedDimension = 1


def _int8_state(m: Any) -> None:
    """Every float32 tensor int8 (scale 1, zero point 0; constants converted): the resource
    variable of stateful_counter holds int8, which Ethos-U85 keeps on the NPU."""
    from ai_edge_litert import schema_py_generated as schema

    for sg in m.subgraphs:
        for t in sg.tensors:
            if t.type == schema.TensorType.FLOAT32:
                t.type = schema.TensorType.INT8
                q = schema.QuantizationParametersT()
                q.scale, q.zeroPoint = [1.0], [0]
                t.quantization = q
                data = m.buffers[t.buffer].data
                if data is not None and len(data):
                    values = np.frombuffer(bytes(data), np.float32).astype(np.int8)
                    m.buffers[t.buffer].data = values.view(np.uint8)


EDITS: dict[str, tuple[str, Callable[[Any], None]]] = {
    "edit_int8_state.tflite": ("stateful_counter.tflite", _int8_state),
    "edit_tanh_on_conv.tflite": ("eu_stride4.tflite", _tanh_on_conv),
    "edit_dynamic_feature_axis.tflite": ("mlp_int8.tflite", _dynamic_feature_axis),
    "edit_no_output_quantization.tflite": ("mlp_int8.tflite", _no_output_quantization),
    "edit_negative_uint8_zero_point.tflite": ("cnn_uint8_io.tflite", _negative_uint8_zero_point),
    "edit_average_pool_kernel_9.tflite": ("eu_big_kernel.tflite", _average_pool_kernel_9),
    "edit_per_axis_softmax_input.tflite": ("mlp_int8.tflite", _per_axis_softmax_input),
}
CASES = [n for n in ALL_FIXTURES if (FIXTURES / n).exists()] + list(EDITS)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("ethos_u_models")
    for name in ALL_FIXTURES:
        if (FIXTURES / name).exists():
            (d / name).symlink_to(FIXTURES / name)
    for name, (base, edit) in EDITS.items():
        (d / name).write_bytes(edited(base, edit))
    return d


@pytest.fixture(scope="session")
def vela(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[Any, VelaRun]:
    """Vela's output for every case and accelerator, compiled once, in parallel."""
    out = tmp_path_factory.mktemp("vela")
    jobs = [(name, t) for name in CASES for t in ACCELERATORS]
    runs = run_vela_many(
        [(models_dir / name, t, out / t / Path(name).stem) for name, t in jobs],
        processes=max(2, os.cpu_count() or 2),
    )
    return dict(zip(jobs, runs, strict=True))


def _compiled(vela: dict[Any, VelaRun], name: str, target: str) -> VelaRun:
    run = vela[(name, target)]
    if run.returncode != 0:
        how = f"signal {-run.returncode}" if run.returncode < 0 else f"exit {run.returncode}"
        pytest.skip(f"vela cannot compile {name} for {target} ({how})")
    return run


@pytest.mark.parametrize("target", list(ACCELERATORS))
@pytest.mark.parametrize("name", CASES)
def test_cpu_operators_are_those_vela_leaves(
    vela: dict[Any, VelaRun], models_dir: Path, name: str, target: str
) -> None:
    run = _compiled(vela, name, target)
    model = tflkit.load(models_dir / name)
    placement = ethos_u.place(model, target)
    assert len(placement) == sum(len(sg.operators) for sg in model.subgraphs)
    ours = Counter((p.op, p.output) for p in placement if p.on == "cpu")
    assert ours == run.cpu, f"tflkit only: {ours - run.cpu}; Vela only: {run.cpu - ours}"
    assert ethos_u.segments(model, placement) == run.npu_ops


def _vela_rule(block: str) -> str:
    """The rule id of the constraint Vela printed under its warning (its "Reason:" line alone
    when it prints no constraint, as for an unsupported operator type)."""
    lines = block.splitlines()
    low = "\n".join(x for x in lines if not x.startswith("Reason:") or len(lines) == 1).lower()
    table = [
        ("unsupported optype", "ethos-u-unsupported-op"),
        ("zero-point", "ethos-u-zero-point"),
        ("only the first dimension", "ethos-u-dynamic-shape"),
        ("constant shape", "ethos-u-shape"),
        ("per-axis", "ethos-u-per-axis"),
        ("quantization", "ethos-u-quantization"),
        ("32-bit feature-maps", "ethos-u-int32"),
        ("64-bit", "ethos-u-dtype"),
        ("variable data tensors", "ethos-u-dtype"),
        ("datatype", "ethos-u-dtype"),
        ("stride", "ethos-u-stride"),
        ("kernel", "ethos-u-kernel"),
        ("weight", "ethos-u-weights"),
        ("bias", "ethos-u-weights"),
        ("parameter tensors", "ethos-u-params"),
        ("params tensor", "ethos-u-params"),
        ("tensor dimension must be", "ethos-u-rank"),
    ]
    return next((rule for key, rule in table if key in low), "ethos-u-op-limit")


def test_rules_are_the_constraints_vela_names(vela: dict[Any, VelaRun], models_dir: Path) -> None:
    """Each CPU operator Vela warns about (same op type and output name) has the rule of the
    constraint Vela printed."""
    compared, wrong, named = 0, [], set()
    for (name, target), run in sorted(vela.items()):
        if run.returncode != 0:
            continue
        for p in ethos_u.place(tflkit.load(models_dir / name), target):
            reason = run.reasons.get((p.op, p.output))
            if p.on != "cpu" or reason is None:
                continue
            compared += 1
            named.add(_vela_rule(reason))
            if p.rule != _vela_rule(reason):
                wrong.append((name, target, p.op, p.rule, reason.splitlines()[:2]))
    assert compared > 100
    assert not wrong
    # every rule Vela named on these models, so that a rule id drifting from Vela shows here
    assert {"ethos-u-zero-point", "ethos-u-per-axis", "ethos-u-quantization"} <= named


@pytest.mark.parametrize(
    ("name", "cpu_rules"),
    [
        ("eu_stride4.tflite", {"ethos-u-stride"}),
        ("eu_big_kernel.tflite", {"ethos-u-kernel"}),
        ("eu_float_island.tflite", {"ethos-u-unsupported-op", "ethos-u-dtype"}),
        ("stateful_counter.tflite", {"ethos-u-unsupported-op", "ethos-u-dtype"}),
        ("audio_frontend_dynamic.tflite", {"ethos-u-dynamic-shape"}),
    ],
)
def test_limit_fixtures_split_the_model(
    vela: dict[Any, VelaRun], models_dir: Path, name: str, cpu_rules: set[str]
) -> None:
    """The models built to cross Vela's limits do: Vela leaves operators to the CPU for
    ethos-u55, and tflkit names the limit."""
    run = _compiled(vela, name, "ethos-u55")
    assert sum(run.cpu.values()) > 0
    placement = ethos_u.place(tflkit.load(models_dir / name), "ethos-u55")
    assert {p.rule for p in placement if p.on == "cpu"} == cpu_rules


def test_mixed_model_has_several_npu_parts(vela: dict[Any, VelaRun], models_dir: Path) -> None:
    run = _compiled(vela, "eu_float_island.tflite", "ethos-u55")
    assert run.npu_ops == 2  # the conv, then RESHAPE + FULLY_CONNECTED after the float SIN
    model = tflkit.load(models_dir / "eu_float_island.tflite")
    result = place(model, "ethos-u55")
    assert result.segments == 2
    folded = [p.op for p in result.placement if p.reason.startswith("folded by Vela")]
    assert folded == ["SHAPE", "STRIDED_SLICE", "PACK"]
    assert not result.passed
    assert place(model, "ethos-u55", allow_cpu_fallback=True).passed


def test_module_interface() -> None:
    assert ethos_u.TARGETS == ("ethos-u55", "ethos-u65", "ethos-u85")
    assert ethos_u.FALLBACK == "cpu"
    assert "5.2.0" in ethos_u.SOURCE
    assert all(k.startswith("ethos-u-") and v for k, v in ethos_u.RULES.items())
    with pytest.raises(ValueError, match="unknown target"):
        ethos_u.place(tflkit.load(FIXTURES / "mlp_int8.tflite"), "ethos-u99")


@pytest.mark.parametrize("name", [n for n in ALL_FIXTURES if (FIXTURES / n).exists()])
def test_rules_are_declared(name: str) -> None:
    model = tflkit.load(FIXTURES / name)
    for target in ethos_u.TARGETS:
        for p in ethos_u.place(model, target):
            assert p.on in ("target", "cpu")
            assert (p.rule in ethos_u.RULES) if p.on == "cpu" else p.rule == ""
            assert bool(p.reason) == (p.on == "cpu" or p.reason.startswith("folded by Vela"))


def test_limit_fixtures_are_int8() -> None:
    for name, entry in MODELS.items():
        if entry.get("family") == "ethos_u_limits":
            assert entry["quantization_kind"] in ("int8", "int8-float-islands", "mixed"), name
            assert entry["conversion"] == "int8" and entry["ethos_u_limits"], name


def test_no_vela_or_tensorflow_import() -> None:
    code = (
        "import sys, tflkit; from tflkit.targets import ethos_u; "
        f"ethos_u.place(tflkit.load({str(FIXTURES / 'eu_stride4.tflite')!r}), 'ethos-u55'); "
        "bad = [m for m in ('tensorflow', 'ethosu', 'ai_edge_litert') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def _regor(arch: str) -> dict[str, list[str]]:
    """Vela's own constraint table (what --supported-ops-report prints), ARGMAX as ARG_MAX."""
    from ethosu import regor

    table = regor.tflite_operator_constraints(arch)
    return {op.replace("ARGMAX", "ARG_MAX"): list(c) for op, c in table.items()}


@pytest.mark.parametrize(
    ("arch", "ops", "no_quant", "int32_ok"),
    [
        ("EthosU55", "_U55_OPS", "_U55_NO_QUANT_NEEDED", "_U55_INT32_OK"),
        ("EthosU85", "_U85_OPS", "_U85_NO_QUANT_NEEDED", None),
    ],
)
def test_tables_are_vela_constraint_tables(
    arch: str, ops: str, no_quant: str, int32_ok: str | None
) -> None:
    table = _regor(arch)
    assert getattr(ethos_u, ops) == set(table)
    needs_quant = {op for op, c in table.items() if any("quantization param" in x for x in c)}
    assert getattr(ethos_u, no_quant) == set(table) - needs_quant
    no_int32 = {op for op, c in table.items() if any("32-bit feature-maps" in x for x in c)}
    if int32_ok is None:
        assert not no_int32  # Ethos-U85 takes 32-bit feature maps everywhere
    else:
        assert getattr(ethos_u, int32_ok) == set(table) - no_int32


def test_options_read_from_bytes_too() -> None:
    """Strides and kernels come from the file's bytes, whichever way the model was loaded."""
    path = FIXTURES / "eu_stride4.tflite"
    from_path = ethos_u.place(tflkit.load(path), "ethos-u55")
    assert ethos_u.place(tflkit.load(path.read_bytes()), "ethos-u55") == from_path
    assert [p.rule for p in from_path].count("ethos-u-stride") == 2
