"""The command line: exit codes, stdout/stderr split, JSON against the schema, 80 columns."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import FIXTURES, MODELS, ROOT, fixture_path
from typer.testing import CliRunner

import tflkit
from tflkit.cli import app

runner = CliRunner()


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": "80", "NO_COLOR": "1"})


def inspect_schema() -> dict[str, Any]:
    text = resources.files("tflkit").joinpath("schemas/inspect.schema.json").read_text()
    return dict(json.loads(text))


def test_shipped_schema_and_top_level_schema_are_one_file() -> None:
    packaged = resources.files("tflkit").joinpath("schemas/inspect.schema.json").read_bytes()
    assert (ROOT / "schemas" / "inspect.schema.json").read_bytes() == packaged
    jsonschema.Draft202012Validator.check_schema(json.loads(packaged))


def test_inspect_json_validates_for_every_fixture(fixture_name: str) -> None:
    result = invoke("inspect", "--json", str(fixture_path(fixture_name)))
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    jsonschema.Draft202012Validator(inspect_schema()).validate(doc)
    facts = MODELS[fixture_name]
    assert doc["size_bytes"] == facts["size_bytes"]
    assert len(doc["subgraphs"]) == facts["num_subgraphs"]
    assert [[o["op"] for o in sg["operators"]] for sg in doc["subgraphs"]] == facts["ops"]
    sg0 = doc["subgraphs"][0]
    assert [sg0["tensors"][i]["dtype"] for i in sg0["inputs"]] == [
        x["dtype"] for x in facts["inputs"]
    ]
    assert doc["quantization_kind"] == facts["quantization_kind"]
    assert [m["name"] for m in doc["metadata"]] == facts["metadata"]


def test_inspect_human_output_fits_80_columns(fixture_name: str) -> None:
    result = invoke("inspect", "--tensors", str(fixture_path(fixture_name)))
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "\x1b[" not in result.stdout  # no colour codes when not a terminal
    assert (
        "quantization" in result.stdout
        and MODELS[fixture_name]["quantization_kind"] in result.stdout
    )


def test_inspect_shows_the_real_range_an_int8_input_expects() -> None:
    model = tflkit.load(FIXTURES / "mlp_int8.tflite")
    t = model.inputs[0]
    q = t.quantization
    assert q is not None
    lo = (-128 - q.zero_point) * q.scale
    hi = (127 - q.zero_point) * q.scale
    out = invoke("inspect", str(FIXTURES / "mlp_int8.tflite")).stdout
    assert f"[{lo:.4g}, {hi:.4g}]" in out
    assert f"{q.scale:.4g}" in out and str(q.zero_point) in out


def test_inspect_subgraph_option() -> None:
    path = FIXTURES / "while_loop.tflite"
    doc = json.loads(invoke("inspect", "--json", "--subgraph", "1", str(path)).stdout)
    assert [sg["index"] for sg in doc["subgraphs"]] == [1]
    assert doc["subgraphs"][0]["name"] == tflkit.load(path).subgraphs[1].name
    bad = invoke("inspect", "--subgraph", "99", str(path))
    assert bad.exit_code == 2
    assert "no subgraph 99" in bad.stderr and bad.stdout == ""


def test_inspect_json_of_non_finite_scale_is_valid_json() -> None:
    from conftest import edited

    def nan_scale(m: Any) -> None:
        m.subgraphs[0].tensors[3].quantization.scale = [float("nan")]

    data = edited("mlp_int8.tflite", nan_scale)
    from tflkit.render import model_to_dict

    doc = json.loads(json.dumps(model_to_dict(tflkit.load(data)), allow_nan=False))
    assert doc["subgraphs"][0]["tensors"][3]["quantization"]["scales"] == ["NaN"]
    jsonschema.Draft202012Validator(inspect_schema()).validate(doc)


def _write(tmp_path: Path, name: str, data: bytes) -> str:
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.tflite", b"", "file is empty"),
        ("junk.tflite", b"\x00" * 3 + b"junk" * 100, "file identifier"),
        ("short.tflite", b"abc", "too short"),
        ("cut.tflite", (FIXTURES / "mlp_int8.tflite").read_bytes()[:2000], ""),
    ],
)
def test_invalid_model_exits_2_with_one_line(
    tmp_path: Path, name: str, data: bytes, message: str
) -> None:
    path = _write(tmp_path, name, data)
    for args in (["inspect", path], ["inspect", "--json", path]):
        result = invoke(*args)
        assert result.exit_code == 2
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr
        assert lines[0].startswith("tflkit: error: ") and message in lines[0]
        assert name in lines[0]


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = invoke("inspect", str(tmp_path / "nope.tflite"))
    assert result.exit_code == 2
    assert (
        result.stderr.strip()
        == f"tflkit: error: {tmp_path / 'nope.tflite'}: no such file or directory"
    )


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_usage_errors_exit_2_with_one_line() -> None:
    for args in (
        ["cli.py", "inspect", "--bogus", "x"],
        ["cli.py", "inspect"],
        ["cli.py", "nocommand"],
    ):
        proc = _run(*args)
        assert proc.returncode == 2, args
        assert proc.stdout == ""
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_checkout_shim_and_module_entry_points() -> None:
    for args in (["cli.py", "--help"], ["-m", "tflkit", "--help"]):
        proc = _run(*args)
        assert proc.returncode == 0, proc.stderr
        assert "inspect" in proc.stdout
    proc = _run("cli.py", "inspect", "--json", str(FIXTURES / "mlp_int8.tflite"))
    assert proc.returncode == 0 and json.loads(proc.stdout)["quantization_kind"] == "int8"
    proc = _run("-m", "tflkit", "--version")
    assert proc.stdout.strip() == f"tflkit {tflkit.__version__}"
