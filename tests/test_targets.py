"""check --target plumbing: placements become findings, verdicts, summary, JSON, CLI, the
testing helper. A stand-in target module (one op kind refused, by hand) so that these tests
depend on no real target's rules; each real target has its own tests against its truth."""

from __future__ import annotations

import json
import sys
import types
from importlib import resources
from typing import Any

import jsonschema
import pytest
from conftest import FIXTURES, Cli

import tflkit
from tflkit import targets
from tflkit.targets import Memory, Placement, output_name


def _fake_module(fallback: str) -> types.ModuleType:
    mod = types.ModuleType("tflkit_fake_target")
    mod.TARGETS = ("fake",)  # type: ignore[attr-defined]
    mod.SOURCE = "written by hand for this test"  # type: ignore[attr-defined]
    mod.RULES = {"fake-softmax": "SOFTMAX is not supported"}  # type: ignore[attr-defined]
    mod.FALLBACK = fallback  # type: ignore[attr-defined]

    def place(model: Any, target: str) -> list[Placement]:
        out = []
        for sg in model.subgraphs:
            for op in sg.operators:
                bad = op.op == "SOFTMAX"
                out.append(
                    Placement(
                        sg.index,
                        op.index,
                        op.display_name,
                        output_name(sg, op),
                        ("cpu" if fallback == "cpu" else "none") if bad else "target",
                        "SOFTMAX is not supported" if bad else "",
                        "fake-softmax" if bad else "",
                    )
                )
        return out

    mod.place = place  # type: ignore[attr-defined]
    if fallback == "none":
        mod.memory = lambda model, target: Memory(1234, model.size_bytes)  # type: ignore[attr-defined]
    return mod


@pytest.fixture(params=["none", "cpu"])
def fake(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(sys.modules, "tflkit_fake_target", _fake_module(request.param))
    monkeypatch.setitem(targets.MODULES, "fake", "tflkit_fake_target")
    return str(request.param)


def test_placements_become_findings_and_verdicts(fake: str) -> None:
    # mlp_int8: FULLY_CONNECTED, FULLY_CONNECTED, SOFTMAX (manifest)
    report = tflkit.check(FIXTURES / "mlp_int8.tflite", target="fake")
    assert report.profile is None and not report.passed
    assert [(f.rule, f.operator) for f in report.violations] == [("fake-softmax", 2)]
    assert "operator 2 (SOFTMAX) output " in report.violations[0].message
    placed = report.target
    assert placed is not None and placed.on_target == 2
    assert placed.segments == (1 if fake == "cpu" else 0)  # TFLM-like: no parts to count
    assert placed.summary.startswith("2 of 3 operators on fake")
    fallback = tflkit.check(FIXTURES / "mlp_int8.tflite", target="fake", allow_cpu_fallback=True)
    assert fallback.passed == (fake == "cpu")  # TFLM-like targets have no fallback
    both = tflkit.check(FIXTURES / "mlp_int8.tflite", "int8", target="fake")
    assert both.profile == "int8" and not both.passed
    clean = tflkit.check(FIXTURES / "quantize_int8.tflite", target="fake")  # one QUANTIZE op
    assert clean.passed and clean.target is not None and clean.target.on_target == 1


def test_json_validates_and_lists_every_operator(fake: str) -> None:
    from tflkit.render import report_to_dict

    doc = report_to_dict(tflkit.check(FIXTURES / "mlp_int8.tflite", target="fake"))
    schema = json.loads(resources.files("tflkit").joinpath("schemas/check.schema.json").read_text())
    jsonschema.validate(doc, schema)
    assert [p["op"] for p in doc["placement"]] == ["FULLY_CONNECTED", "FULLY_CONNECTED", "SOFTMAX"]
    assert doc["placement"][2]["on"] == ("none" if fake == "none" else "cpu")
    assert (doc["memory"] is None) == (fake == "cpu")


def test_cli_target(fake: str, cli: Cli) -> None:
    result = cli.invoke("check", str(FIXTURES / "mlp_int8.tflite"), "--target", "fake")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("FAIL") and "target fake" in lines[0]
    assert "2 of 3 operators on fake" in lines[1]
    assert "fake-softmax" in result.stdout
    ok = cli.invoke("check", str(FIXTURES / "quantize_int8.tflite"), "-t", "fake")
    assert ok.exit_code == 0


def test_unknown_target_and_rules() -> None:
    with pytest.raises(ValueError, match="unknown target 'nope'"):
        tflkit.check(FIXTURES / "mlp_int8.tflite", target="nope")


def test_assert_runs_on(fake: str) -> None:
    from tflkit.testing import assert_runs_on

    with pytest.raises(AssertionError, match=r"(?s)does not run on fake .*fake-softmax"):
        assert_runs_on(FIXTURES / "mlp_int8.tflite", "fake")
    assert_runs_on(FIXTURES / "quantize_int8.tflite", "fake")
    if fake == "none":
        with pytest.raises(AssertionError, match="arena of 1,234 bytes, more than"):
            assert_runs_on(FIXTURES / "quantize_int8.tflite", "fake", max_arena_bytes=1000)
        assert_runs_on(FIXTURES / "quantize_int8.tflite", "fake", max_arena_bytes=2000)


def test_nothing_after_model_reads_the_file() -> None:
    """STYLE.md: only ``tflkit._flatbuffer`` imports the ``tflite`` bindings and
    ``flatbuffers``, only the loader imports it, and only the loader and the model touch the
    bytes a Model was read from (``_source``, ``_data_offset``): targets, differ, render ...
    read the Model (operator options included)."""
    import ast
    from pathlib import Path

    package = Path(tflkit.__file__).parent
    readers = {"tflite": {"_flatbuffer.py"}, "flatbuffers": {"_flatbuffer.py"}}
    readers["tflkit._flatbuffer"] = {"loader.py"}
    found = []
    for path in sorted(package.rglob("*.py")):
        where = path.relative_to(package).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names = [node.value]  # importlib.import_module("...")
            for name in names:
                for module, allowed in readers.items():
                    if (name == module or name.startswith(module + ".")) and where not in allowed:
                        found.append(f"{where}:{node.lineno}: {name}")
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("_source", "_data_offset")
                and not (isinstance(node.value, ast.Name) and node.value.id == "self")
                and where not in ("loader.py", "model.py")
            ):
                found.append(f"{where}:{node.lineno}: .{node.attr}")
    assert not found, "\n".join(found)
