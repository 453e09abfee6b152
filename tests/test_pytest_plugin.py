"""The pytest plugin (tflkit/pytest_plugin.py) in pytester sessions: fixtures, options, CI
mode, the summary, failure messages, and paths from two working directories.

The inner sessions load the plugin with ``-p tflkit.pytest_plugin`` and no entry-point plugins
(PYTEST_DISABLE_PLUGIN_AUTOLOAD), so they test this checkout's plugin whether or not tflkit is
installed with its entry point. Truths: the fixture MANIFEST and the LiteRT interpreter's
get_tensor_details() for what a snapshot holds, a model edited to differ, hand-computed scales.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, MODELS, ROOT, edited, litert_interpreter

from tflkit.testing import (
    CI,
    UPDATE_SNAPSHOTS,
    assert_matches_snapshot,
    find_model,
    in_ci,
    snapshot_path,
)

pytest_plugins = ["pytester"]

INT8 = FIXTURES / "mlp_int8.tflite"
FLOAT32 = FIXTURES / "mlp_float32.tflite"
PLUGIN = ("-p", "tflkit.pytest_plugin")
MANIFEST = json.loads((FIXTURES / "MANIFEST.json").read_text())

TEST_MODULE = """
def test_contract(tflkit_model, tflkit_snapshot):
    tflkit_snapshot(tflkit_model("mlp_int8.tflite"))
"""


def _scaled_output(factor: float) -> bytes:
    def edit(m: object) -> None:
        sg = m.subgraphs[0]  # type: ignore[attr-defined]
        q = sg.tensors[sg.outputs[0]].quantization
        q.scale = [float(np.float32(q.scale[0] * factor))]

    return edited("mlp_int8.tflite", edit)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CI, raising=False)
    monkeypatch.delenv(UPDATE_SNAPSHOTS, raising=False)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


def _project(pytester: pytest.Pytester, module: str = TEST_MODULE) -> Path:
    """tests/test_m.py beside a copy of mlp_int8.tflite; returns the tests folder."""
    tests = pytester.mkdir("tests")
    (tests / "test_m.py").write_text(module)
    shutil.copy(INT8, tests / "mlp_int8.tflite")
    return tests


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*PLUGIN, "-p", "no:cacheprovider", *args)


def _summary(result: pytest.RunResult) -> str:
    lines = [line for line in result.outlines if line.startswith("tflkit: ")]
    assert len(lines) <= 1, lines
    return lines[0] if lines else ""


# ---------------------------------------------------------------- plugin load


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    code = (
        "import sys, pytest\n"
        "import tflkit.pytest_plugin\n"
        "heavy = ['tensorflow', 'ai_edge_litert', 'tflite', 'flatbuffers', 'typer', 'rich',\n"
        "         'tflkit.testing', 'tflkit.checks', 'tflkit.differ', 'tflkit.render']\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_entry_point_is_named_after_the_module() -> None:
    """`-p tflkit.pytest_plugin` (or pytest_plugins naming it) where the entry point already
    loaded it is then no "Plugin already registered under a different name" error: pytest
    skips a -p module whose name is registered."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {"tflkit.pytest_plugin": "tflkit.pytest_plugin"}
    assert "pytest" not in " ".join(project["dependencies"])  # no new runtime dependency


def test_options_are_listed_in_help(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "--help")
    text = result.stdout.str()
    assert "--tflkit-update-snapshots" in text
    assert "--tflkit-model-dir" in text
    assert "tflkit_model_dirs" in text


# ---------------------------------------------------------------- snapshots


def test_first_run_writes_the_contract_beside_the_test(pytester: pytest.Pytester) -> None:
    tests = _project(pytester)
    result = _run(pytester, "tests")
    result.assert_outcomes(passed=1)
    assert _summary(result) == "tflkit: 1 snapshot written"
    snap = tests / "__snapshots__" / "test_m" / "test_contract.json"
    assert snap.is_file()
    stored = json.loads(snap.read_text())
    truth = MODELS["mlp_int8.tflite"]
    assert stored["model"] == "mlp_int8.tflite"
    assert stored["quantization_kind"] == truth["quantization_kind"]
    assert stored["int8_check"] is truth["fully_int8"]
    # the interpreter's view of the same file
    interp = litert_interpreter(INT8)
    (x,) = interp.get_input_details()
    (y,) = interp.get_output_details()
    sig = stored["signatures"]["serving_default"]
    for facts, detail in ((sig["inputs"]["keras_tensor"], x), (sig["outputs"]["output_0"], y)):
        assert facts["dtype"] == np.dtype(detail["dtype"]).name
        assert facts["shape_signature"] == detail["shape_signature"].tolist()
        scale, zero_point = detail["quantization"]
        assert facts["quantization"]["scales"] == [pytest.approx(scale, rel=1e-7)]
        assert facts["quantization"]["zero_points"] == [zero_point]

    again = _run(pytester, "tests")
    again.assert_outcomes(passed=1)
    assert _summary(again) == "tflkit: 1 snapshot matched"
    assert json.loads(snap.read_text()) == stored


def test_changed_model_fails_then_update_rewrites(pytester: pytest.Pytester) -> None:
    tests = _project(pytester)
    _run(pytester, "tests").assert_outcomes(passed=1)
    snap = tests / "__snapshots__" / "test_m" / "test_contract.json"
    (tests / "mlp_int8.tflite").write_bytes(_scaled_output(1.5))

    failed = _run(pytester, "tests")
    failed.assert_outcomes(failed=1)
    text = failed.stdout.str()
    # 0.00390625 * 1.5 = 0.005859375, shown to 6 digits
    assert "output 'output_0': scales 0.00390625 -> 0.00585938" in text
    assert "no longer matches snapshot" in text
    assert _summary(failed) == "tflkit: 1 snapshot failed"

    updated = _run(pytester, "tests", "--tflkit-update-snapshots")
    updated.assert_outcomes(passed=1)
    assert _summary(updated) == "tflkit: 1 snapshot updated"
    stored = json.loads(snap.read_text())
    (y,) = litert_interpreter(tests / "mlp_int8.tflite").get_output_details()
    assert stored["signatures"]["serving_default"]["outputs"]["output_0"]["quantization"][
        "scales"
    ] == [pytest.approx(y["quantization"][0], rel=1e-7)]
    _run(pytester, "tests").assert_outcomes(passed=1)


def test_update_by_environment_variable(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    tests = _project(pytester)
    _run(pytester, "tests").assert_outcomes(passed=1)
    (tests / "mlp_int8.tflite").write_bytes(_scaled_output(2.0))
    monkeypatch.setenv(UPDATE_SNAPSHOTS, "1")
    result = _run(pytester, "tests")
    result.assert_outcomes(passed=1)
    assert _summary(result) == "tflkit: 1 snapshot updated"


@pytest.mark.parametrize("value", ["true", "1", "True"])
def test_in_ci_a_missing_snapshot_fails_and_is_not_written(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    tests = _project(pytester)
    monkeypatch.setenv(CI, value)
    result = _run(pytester, "tests")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert "no such snapshot, and snapshots are not written in CI (CI is set)" in text
    assert not (tests / "__snapshots__").exists()
    assert _summary(result) == "tflkit: 1 snapshot failed"
    # asked for explicitly, CI writes it
    forced = _run(pytester, "tests", "--tflkit-update-snapshots")
    forced.assert_outcomes(passed=1)
    assert (tests / "__snapshots__" / "test_m" / "test_contract.json").is_file()
    # and an existing snapshot is compared as anywhere
    _run(pytester, "tests").assert_outcomes(passed=1)


@pytest.mark.parametrize("value", ["", "0", "false", "no"])
def test_ci_set_to_false_writes(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    tests = _project(pytester)
    monkeypatch.setenv(CI, value)
    _run(pytester, "tests").assert_outcomes(passed=1)
    assert (tests / "__snapshots__" / "test_m" / "test_contract.json").is_file()


def test_several_snapshots_in_one_test_and_parametrized_names(
    pytester: pytest.Pytester,
) -> None:
    module = """
import pytest

def test_two(tflkit_model, tflkit_snapshot):
    tflkit_snapshot(tflkit_model("mlp_int8.tflite"))
    tflkit_snapshot(tflkit_model("mlp_float32.tflite"))
    tflkit_snapshot(tflkit_model("mlp_float32.tflite"), name="float")

@pytest.mark.parametrize("name", ["mlp_int8.tflite", "mlp_float32.tflite"])
def test_each(tflkit_model, tflkit_snapshot, name):
    tflkit_snapshot(tflkit_model(name))
"""
    tests = _project(pytester, module)
    shutil.copy(FLOAT32, tests / "mlp_float32.tflite")
    result = _run(pytester, "tests")
    result.assert_outcomes(passed=3)
    assert _summary(result) == "tflkit: 5 snapshots written"
    folder = tests / "__snapshots__" / "test_m"
    models = {p.name: json.loads(p.read_text())["model"] for p in folder.iterdir()}
    assert models == {
        "test_two.json": "mlp_int8.tflite",
        "test_two.1.json": "mlp_float32.tflite",
        "test_two.float.json": "mlp_float32.tflite",
        "test_each[mlp_int8.tflite].json": "mlp_int8.tflite",
        "test_each[mlp_float32.tflite].json": "mlp_float32.tflite",
    }


def test_unused_snapshots_are_counted_and_listed(pytester: pytest.Pytester) -> None:
    module = TEST_MODULE + "\ndef test_no_snapshot_now():\n    pass\n"
    tests = _project(pytester, module)
    _run(pytester, "tests").assert_outcomes(passed=2)
    folder = tests / "__snapshots__" / "test_m"
    used = folder / "test_contract.json"
    gone = folder / "test_removed.json"  # its test no longer exists
    stale = folder / "test_no_snapshot_now.json"  # its test passed without it
    for f in (gone, stale):
        shutil.copy(used, f)
    result = _run(pytester, "tests")
    result.assert_outcomes(passed=2)
    assert _summary(result) == "tflkit: 1 snapshot matched, 2 unused"
    listed = [line.strip() for line in result.outlines if line.strip().startswith("unused: ")]
    assert sorted(listed) == sorted(
        f"unused: {p.relative_to(pytester.path)}" for p in (gone, stale)
    )
    # a test not run (deselected) leaves its snapshots alone: only the orphan is unused
    only = _run(pytester, "tests", "-k", "contract")
    assert _summary(only) == "tflkit: 1 snapshot matched, 1 unused"
    # only the test that passed without its snapshot, run alone
    alone = _run(pytester, "tests", "-k", "no_snapshot")
    assert _summary(alone) == "tflkit: 2 snapshots unused"


# ---------------------------------------------------------------- paths


def test_model_dir_option_and_ini_and_not_the_working_directory(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = TEST_MODULE.replace("mlp_int8.tflite", "mlp_float32.tflite")
    tests = pytester.mkdir("tests")
    (tests / "test_m.py").write_text(module)
    models = pytester.mkdir("models")
    shutil.copy(FLOAT32, models / "mlp_float32.tflite")
    # not found: the message lists where it looked, and the working directory is not one
    shutil.copy(INT8, pytester.path / "mlp_float32.tflite")  # a decoy in the working directory
    missing = _run(pytester, "tests")
    missing.assert_outcomes(failed=1)
    assert f"model 'mlp_float32.tflite' not found; looked in {tests}" in missing.stdout.str()

    by_option = _run(pytester, "tests", "--tflkit-model-dir", "models")
    by_option.assert_outcomes(passed=1)
    snap = tests / "__snapshots__" / "test_m" / "test_contract.json"
    assert json.loads(snap.read_text())["quantization_kind"] == "float32"

    bad = _run(pytester, "tests", "--tflkit-model-dir", "nowhere")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    assert "nowhere is no directory" in bad.stderr.str()

    pytester.makeini("[pytest]\ntflkit_model_dirs = models\n")
    from_root = _run(pytester, "tests")
    from_root.assert_outcomes(passed=1)
    monkeypatch.chdir(tests)  # the ini's directories are relative to the ini file
    from_tests = _run(pytester, str(tests), "-c", str(pytester.path / "tox.ini"))
    from_tests.assert_outcomes(passed=1)


def test_two_working_directories_give_the_same_result(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trap of issue 23: another mlp_int8.tflite in the working directory."""
    tests = _project(pytester)
    first = _run(pytester, "tests")
    first.assert_outcomes(passed=1)
    snap = tests / "__snapshots__" / "test_m" / "test_contract.json"
    written = snap.read_bytes()
    elsewhere = pytester.mkdir("elsewhere")
    shutil.copy(FLOAT32, elsewhere / "mlp_int8.tflite")  # same name, another model
    monkeypatch.chdir(elsewhere)
    second = _run(pytester, str(tests))
    second.assert_outcomes(passed=1)
    assert _summary(second) == "tflkit: 1 snapshot matched"
    assert snap.read_bytes() == written
    assert not (elsewhere / "__snapshots__").exists()


def test_find_model_and_snapshot_path(tmp_path: Path) -> None:
    test_file = tmp_path / "tests" / "test_x.py"
    test_file.parent.mkdir()
    (test_file.parent / "a.tflite").write_bytes(b"")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "a.tflite").write_bytes(b"")
    (tmp_path / "models" / "b.tflite").write_bytes(b"")
    dirs = [tmp_path / "models"]
    assert find_model("a.tflite", test_file=test_file, model_dirs=dirs) == test_file.parent / (
        "a.tflite"
    )
    assert find_model("b.tflite", test_file=test_file, model_dirs=dirs) == dirs[0] / "b.tflite"
    assert find_model(INT8) == INT8
    with pytest.raises(ValueError, match=re.escape(f"looked in {test_file.parent}, {dirs[0]}")):
        find_model("c.tflite", test_file=test_file, model_dirs=dirs)
    folder = tmp_path / "tests" / "__snapshots__" / "test_x"
    assert snapshot_path(test_file, "test_a") == folder / "test_a.json"
    assert snapshot_path(test_file, "test_a[x/y:z]", "n") == folder / "test_a[x_y_z].n.json"
    with pytest.raises(ValueError):
        snapshot_path(test_file, "test_a", "")


def test_assert_matches_snapshot_in_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snap = tmp_path / "s.json"
    with pytest.raises(AssertionError, match="no such snapshot"):
        assert_matches_snapshot(INT8, snap, ci=True)
    monkeypatch.setenv(CI, "true")
    with pytest.raises(AssertionError, match="no such snapshot"):
        assert_matches_snapshot(INT8, snap)
    assert not snap.exists()
    assert assert_matches_snapshot(INT8, snap, ci=False) == "written"
    assert assert_matches_snapshot(INT8, snap) == "matched"
    snap.unlink()
    assert assert_matches_snapshot(INT8, snap, update=True) == "written"


def test_in_ci_values() -> None:
    assert in_ci({"CI": "true"}) and in_ci({"CI": "1"}) and in_ci({"CI": "yes"})
    assert not any(in_ci(e) for e in ({}, {"CI": ""}, {"CI": "0"}, {"CI": "False"}, {"CI": "no"}))


# ---------------------------------------------------------------- failure messages


def test_failed_report_and_diff_are_explained(pytester: pytest.Pytester) -> None:
    module = f"""
import tflkit

def test_report():
    assert tflkit.check({str(FLOAT32)!r}, "int8").violations == ()

def test_diff(tflkit_model):
    assert tflkit.diff({str(INT8)!r}, tflkit_model("mlp_int8.tflite")).changes == ()

def test_other_assertions_are_untouched():
    assert [1, 2] == [1, 3]
"""
    tests = _project(pytester, module)
    (tests / "mlp_int8.tflite").write_bytes(_scaled_output(1.5))
    result = _run(pytester, "tests")
    result.assert_outcomes(failed=3)
    text = result.stdout.str()
    # mlp_float32's input and output are float32 (MANIFEST; LiteRT reports float32 for both)
    assert re.search(r"<\d+ findings> == \(\)", text)
    assert re.search(
        r"\[int8-io-dtype\] subgraph 0 input 0, .*'serving_default_keras_tensor:0'", text
    )
    assert re.search(
        r"\[int8-io-dtype\] subgraph 0 output 0, .*'StatefulPartitionedCall_1:0'", text
    )
    assert "<2 changes> == ()" in text  # the output scale in the interface and in tensors
    assert "output 'output_0': scales 0.00390625 -> 0.00585938" in text
    assert "Finding(" not in text and "Change(" not in text
    assert "At index 1 diff: 2 != 3" in text  # pytest's own explanation for the rest


def test_model_fixture_runs_the_model_in_a_child_on_request(pytester: pytest.Pytester) -> None:
    """``tflkit_model(name, runs=True)``: the crashing fixture (MANIFEST: aborts at
    allocate) fails its test with the child's crash and the session goes on to the next. The
    Runner's own refusal of that known file is switched off, so the runtime really meets it
    (in the child: this pytest would die of the SIGABRT otherwise)."""
    tests = _project(
        pytester,
        "def test_crashes(tflkit_model):\n"
        "    tflkit_model('add_blockwise_int8.tflite', runs=True)\n\n"
        "def test_runs(tflkit_model):\n"
        "    assert tflkit_model('mlp_int8.tflite', runs=True).name == 'mlp_int8.tflite'\n",
    )
    assert MANIFEST["models"]["add_blockwise_int8.tflite"]["aborts_at_allocate"]
    shutil.copy(FIXTURES / "add_blockwise_int8.tflite", tests / "add_blockwise_int8.tflite")
    (tests / "conftest.py").write_text(
        "import pytest\n\n"
        "@pytest.fixture(autouse=True)\n"
        "def _no_refusal(monkeypatch):\n"
        "    monkeypatch.setattr('tflkit.runner.runtime_hazards', lambda model: iter(()))\n"
    )
    result = _run(pytester, "-q")
    result.assert_outcomes(passed=1, failed=1)
    text = "\n".join(result.outlines)
    assert "the runtime crashed (SIGABRT) during allocate" in text, text
    assert "Traceback" not in text
