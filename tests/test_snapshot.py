"""Snapshots (tflkit.testing.assert_matches_snapshot, tflkit snapshot) and the diff command."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from conftest import FIXTURES, MODELS, ROOT, Cli, edited, litert_interpreter

from tflkit.testing import CI, UPDATE_SNAPSHOTS, assert_matches_snapshot

INT8 = FIXTURES / "mlp_int8.tflite"


def _scale_times(factor: float) -> Any:
    def edit(m: Any) -> None:
        t = m.subgraphs[0].tensors[m.subgraphs[0].outputs[0]]
        t.quantization.scale = [float(np.float32(t.quantization.scale[0] * factor))]

    return edit


@pytest.fixture(autouse=True)
def _no_update(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(UPDATE_SNAPSHOTS, raising=False)
    monkeypatch.delenv(CI, raising=False)  # CI mode (a missing snapshot fails): test_pytest_plugin


def test_first_run_writes_then_matches(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snap = tmp_path / "snapshots" / "mlp_int8.json"
    assert assert_matches_snapshot(INT8, snap) == "written"
    assert f"wrote snapshot {snap}" in capsys.readouterr().err
    stored = json.loads(snap.read_text())
    truth = MODELS["mlp_int8.tflite"]
    assert stored["quantization_kind"] == truth["quantization_kind"]
    assert stored["int8_check"] is truth["fully_int8"]
    io = stored["signatures"]["serving_default"]["inputs"]["keras_tensor"]
    assert io["dtype"] == "int8" and io["shape_signature"] == truth["inputs"][0]["shape_signature"]
    assert io["quantization"]["scales"] == [truth["inputs"][0]["scale"]]
    assert stored["ops"] == {"FULLY_CONNECTED v4": 2, "SOFTMAX v2": 1}
    # no weights: no hash, no bytes, no metadata
    text = snap.read_text()
    assert '"hash"' not in text and '"metadata"' not in text
    assert max(len(line) for line in text.splitlines()) < 400  # readable: no one-line blob
    assert assert_matches_snapshot(INT8, snap) == "matched"
    assert assert_matches_snapshot(INT8.read_bytes(), snap) == "matched"


def test_changed_model_fails_with_a_readable_diff(tmp_path: Path) -> None:
    snap = tmp_path / "mlp_int8.json"
    assert_matches_snapshot(INT8, snap)
    with pytest.raises(AssertionError) as err:
        assert_matches_snapshot(edited("mlp_int8.tflite", _scale_times(1.5)), snap)
    message = str(err.value)
    assert "1 change to the interface, 1 tensor requantized" in message
    assert "signature 'serving_default' output 'output_0': scales 0.00390625 -> 0.00585938" in (
        message
    )
    assert "(drift 50.00%)" in message and UPDATE_SNAPSHOTS in message


def test_scales_within_rtol_match(tmp_path: Path) -> None:
    snap = tmp_path / "mlp_int8.json"
    assert_matches_snapshot(INT8, snap)
    nudged = edited("mlp_int8.tflite", _scale_times(1 + 5e-7))  # a different float32
    assert assert_matches_snapshot(nudged, snap) == "matched"
    with pytest.raises(AssertionError):
        assert_matches_snapshot(nudged, snap, rtol=1e-8)


def test_update_by_variable_and_by_argument(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snap = tmp_path / "mlp_int8.json"
    changed = edited("mlp_int8.tflite", _scale_times(1.5))
    assert_matches_snapshot(INT8, snap)
    monkeypatch.setenv(UPDATE_SNAPSHOTS, "1")
    assert assert_matches_snapshot(changed, snap) == "updated"
    monkeypatch.delenv(UPDATE_SNAPSHOTS)
    assert assert_matches_snapshot(changed, snap) == "matched"
    with pytest.raises(AssertionError):
        assert_matches_snapshot(INT8, snap)
    assert assert_matches_snapshot(INT8, snap, update=True) == "updated"
    assert assert_matches_snapshot(INT8, snap) == "matched"


def test_relative_path_is_next_to_the_calling_test(tmp_path: Path) -> None:
    test_file = tmp_path / "test_model.py"
    code = (
        "from tflkit.testing import assert_matches_snapshot\n"
        f"status = assert_matches_snapshot({str(INT8)!r}, 'snapshots/m.json')\n"
    )
    scope: dict[str, Any] = {"__file__": str(test_file), "__name__": "test_model"}
    exec(compile(code, str(test_file), "exec"), scope)
    assert scope["status"] == "written"
    assert (tmp_path / "snapshots" / "m.json").is_file()


def test_not_a_snapshot_is_an_assertion(tmp_path: Path) -> None:
    snap = tmp_path / "other.json"
    snap.write_text('{"a": 1}')
    with pytest.raises(AssertionError, match="not a tflkit snapshot"):
        assert_matches_snapshot(INT8, snap)


def _good_snapshot(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    snap = tmp_path / "mlp_int8.json"
    assert assert_matches_snapshot(INT8, snap) == "written"
    return snap, json.loads(snap.read_text())


def _fails_naming(snap: Path, *what: str) -> str:
    """The one AssertionError a malformed snapshot makes: it names the file and the fault."""
    with pytest.raises(AssertionError, match=re.escape(str(snap))) as err:
        assert_matches_snapshot(INT8, snap)
    assert type(err.value) is AssertionError  # not a JSONDecodeError, KeyError, ...
    message = str(err.value)
    for w in what:
        assert w in message, message
    return message


def _edited_snapshot(tmp_path: Path, edit: Any) -> Path:
    snap, stored = _good_snapshot(tmp_path)
    edit(stored)
    snap.write_text(json.dumps(stored))
    return snap


def test_good_snapshot_still_passes_and_fails(tmp_path: Path) -> None:
    snap, _ = _good_snapshot(tmp_path)
    assert assert_matches_snapshot(INT8, snap) == "matched"
    with pytest.raises(AssertionError, match="no longer matches"):
        assert_matches_snapshot(edited("mlp_int8.tflite", _scale_times(1.5)), snap)


def test_malformed_snapshot_corrupt_json(tmp_path: Path) -> None:
    snap, _ = _good_snapshot(tmp_path)
    snap.write_text(snap.read_text()[:200])  # cut in the middle of the document
    _fails_naming(snap, "not JSON")


def test_malformed_snapshot_empty_file(tmp_path: Path) -> None:
    snap, _ = _good_snapshot(tmp_path)
    snap.write_bytes(b"")
    _fails_naming(snap, "empty")


def test_malformed_snapshot_not_utf8(tmp_path: Path) -> None:
    snap, _ = _good_snapshot(tmp_path)
    data = b'{"tflkit_contract": 1, "model": "\xff\xfe"}'
    snap.write_bytes(data)
    _fails_naming(snap, "not UTF-8", f"byte {data.index(0xFF)}")


def test_malformed_snapshot_directory(tmp_path: Path) -> None:
    snap = tmp_path / "snap.json"
    snap.mkdir()
    _fails_naming(snap, "is a directory")


def test_malformed_snapshot_fifo_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "snap.json"
    os.mkfifo(fifo)
    code = (
        "from tflkit.testing import assert_matches_snapshot\n"
        "try:\n"
        f"    assert_matches_snapshot({str(INT8)!r}, {str(fifo)!r})\n"
        "except AssertionError as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.stdout.startswith(f"AssertionError snapshot {fifo} is a named pipe (FIFO)"), done
    assert "Traceback" not in done.stderr


def test_malformed_snapshot_not_an_object(tmp_path: Path) -> None:
    snap = tmp_path / "snap.json"
    snap.write_text("[1, 2]")
    _fails_naming(snap, "expected a JSON object, got list")


def test_malformed_snapshot_missing_keys(tmp_path: Path) -> None:
    def drop(stored: dict[str, Any]) -> None:
        del stored["signatures"], stored["ops"]

    snap = _edited_snapshot(tmp_path, drop)
    _fails_naming(snap, "missing key 'signatures'", "missing key 'ops'")


def test_malformed_snapshot_wrong_top_level_types(tmp_path: Path) -> None:
    def retype(stored: dict[str, Any]) -> None:
        stored["subgraphs"] = 5
        stored["int8_check"] = "yes"

    snap = _edited_snapshot(tmp_path, retype)
    _fails_naming(
        snap,
        "'subgraphs' is a number, expected an array",
        "'int8_check' is a string, expected a boolean",
    )


def test_malformed_snapshot_wrong_nested_types(tmp_path: Path) -> None:
    def retype(stored: dict[str, Any]) -> None:
        stored["signatures"]["serving_default"] = 7  # an object in every snapshot
        stored["subgraphs"][0][0] = "tensor"

    snap = _edited_snapshot(tmp_path, retype)
    _fails_naming(snap, "malformed snapshot")


def test_malformed_snapshot_missing_nested_key(tmp_path: Path) -> None:
    def drop(stored: dict[str, Any]) -> None:
        for t in stored["subgraphs"][0]:
            del t["dtype"]

    snap = _edited_snapshot(tmp_path, drop)
    _fails_naming(snap, "malformed snapshot", "missing key 'dtype'")


def test_malformed_snapshot_nested_too_deeply(tmp_path: Path) -> None:
    snap, _ = _good_snapshot(tmp_path)
    depth = 100_000  # beyond any recursion limit: json.loads raises RecursionError
    snap.write_text('{"tflkit_contract": 1, "model": ' + "[" * depth + "]" * depth + "}")
    _fails_naming(snap, "nested too deeply")


# --- the command line -------------------------------------------------------------------------


def _schema() -> dict[str, Any]:
    text = resources.files("tflkit").joinpath("schemas/diff.schema.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]


def test_cli_snapshot_writes_what_the_assertion_reads(tmp_path: Path, cli: Cli) -> None:
    out = tmp_path / "s.json"
    result = cli.invoke("snapshot", str(INT8), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert assert_matches_snapshot(INT8, out) == "matched"


def test_cli_snapshot_json_says_what_was_written(tmp_path: Path, cli: Cli) -> None:
    out = tmp_path / "s.json"
    result = cli.invoke("snapshot", str(INT8), "-o", str(out), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    text = resources.files("tflkit").joinpath("schemas/snapshot.schema.json").read_text()
    jsonschema.Draft202012Validator(json.loads(text)).validate(doc)
    written = json.loads(out.read_text())
    # against the file it wrote and the model itself (the LiteRT interpreter's tensor count)
    assert doc["snapshot"] == str(out) and doc["size_bytes"] == out.stat().st_size
    assert doc["signatures"] == sorted(written["signatures"]) == ["serving_default"]
    assert doc["quantization_kind"] == "int8" and doc["int8_check"] is True
    assert doc["ops"] == 3  # FULLY_CONNECTED x 2, SOFTMAX
    assert doc["tensors"] == len(litert_interpreter(INT8).get_tensor_details())
    assert not [p for p in tmp_path.iterdir() if p.name != "s.json"]  # no temporary file left


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [
        ("mlp_int8.tflite", "mlp_int8.tflite", 0),
        ("mlp_float32.tflite", "mlp_int8.tflite", 1),
        ("mlp_float32.tflite", "buffer_offset.tflite", 1),
        ("two_signatures.tflite", "flex_cumprod.tflite", 1),
    ],
)
def test_cli_exit_codes_json_and_80_columns(old: str, new: str, code: int, cli: Cli) -> None:
    paths = (str(FIXTURES / old), str(FIXTURES / new))
    result = cli.invoke("diff", *paths, "--json")
    assert result.exit_code == code, result.output
    doc = json.loads(result.stdout)
    jsonschema.Draft202012Validator(_schema()).validate(doc)
    assert doc["same"] is (code == 0)
    human = cli.invoke("diff", *paths, "--all")
    assert human.exit_code == code
    lines = human.stdout.splitlines()
    assert lines[0].startswith("no changes" if code == 0 else doc["summary"][:40])
    assert all(len(line) <= 80 and line == line.rstrip() for line in lines)


def test_cli_flex_side_lists_the_flex_op(cli: Cli) -> None:
    result = cli.invoke("diff", str(FIXTURES / "mlp_float32.tflite"),
                  str(FIXTURES / "flex_cumprod.tflite"), "--json")  # fmt: skip
    doc = json.loads(result.stdout)
    assert doc["new"]["flex_ops"] == ["CUSTOM 'FlexCumprod'"] == doc["new"]["custom_ops"]
    assert doc["old"]["flex_ops"] == []


def test_cli_unreadable_model_exits_2(tmp_path: Path, cli: Cli) -> None:
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a model at all, not even close")
    for args in (
        ("diff", str(INT8), str(tmp_path / "missing.tflite")),
        ("diff", str(bad), str(INT8)),
        ("snapshot", str(bad), "-o", str(tmp_path / "s.json")),
    ):
        result = cli.invoke(*args)
        assert result.exit_code == 2
        assert result.stderr.startswith("tflkit: error: ") and "Traceback" not in result.stderr
    assert not (tmp_path / "s.json").exists()


def test_default_lists_20_per_section_and_all_lists_every_one(tmp_path: Path, cli: Cli) -> None:
    n = 25  # tensors added by hand, read by no operator: 25 changes in one section

    def add_tensors(m: Any) -> None:
        from ai_edge_litert import schema_py_generated as schema

        for k in range(n):
            t = schema.TensorT()
            t.name, t.shape, t.type, t.buffer = f"extra{k}".encode(), [1], 0, 0
            m.subgraphs[0].tensors.append(t)

    other = tmp_path / "extra.tflite"
    other.write_bytes(edited("mlp_float32.tflite", add_tensors))
    base = str(FIXTURES / "mlp_float32.tflite")
    short = cli.invoke("diff", base, str(other)).stdout.splitlines()
    full = cli.invoke("diff", base, str(other), "--all").stdout.splitlines()
    assert short[0] == f"{n} tensors added"
    assert "Tensors (25)" in short
    assert len([line for line in short if line.startswith("  tensor 'extra")]) == 20
    assert f"  ... {n - 20} more (--all lists them)" in short
    added = [line for line in full if line.startswith("  tensor 'extra")]
    assert added == [f"  tensor 'extra{k}': added (float32)" for k in range(n)]


def test_diff_imports_neither_tensorflow_nor_litert() -> None:
    code = (
        "import sys, tflkit\n"
        f"d = tflkit.diff({str(FIXTURES / 'mlp_float32.tflite')!r}, "
        f"{str(FIXTURES / 'mlp_int8.tflite')!r})\n"
        "assert not d.same\n"
        "heavy = [m for m in ('tensorflow', 'ai_edge_litert', 'typer') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_documented_diff_output_matches_the_fixtures(cli: Cli) -> None:
    import re

    readme = (ROOT / "README.md").read_text()
    command = "tflkit diff fixtures/mlp_int8.tflite fixtures/mlp_int8_float_io.tflite"
    console = re.search(rf"```console\n\$ {re.escape(command)}\n(.*?)```", readme, re.S)
    assert console is not None
    proc = cli.invoke(*command.split()[1:], entry="cli.py")
    assert proc.exit_code == 1, proc.stderr
    assert console.group(1).splitlines() == proc.stdout.splitlines()


def test_committed_snapshot_matches_the_fixture() -> None:
    # tests/snapshots/mlp_int8.json was written by `tflkit snapshot` and read by a person:
    # scales and zero points as in MANIFEST.json, 8 tensors, 3 ops. A change of format or of
    # the fixture shows here.
    snap = ROOT / "tests" / "snapshots" / "mlp_int8.json"
    before = snap.read_bytes()
    assert assert_matches_snapshot(INT8, snap) == "matched"
    assert snap.read_bytes() == before


@pytest.mark.parametrize(
    "args",
    [
        ["fixtures/mlp_int8.tflite", "fixtures/mlp_int8.tflite"],
        ["fixtures/mlp_float32.tflite", "fixtures/mlp_int8.tflite", "--json"],
        ["--all", "fixtures/mlp_float32.tflite", "fixtures/mlp_int8.tflite"],
        ["fixtures/mlp_int8.tflite", "fixtures/missing.tflite"],
    ],
)
def test_plain_path_and_typer_app_agree(args: list[str], cli: Cli) -> None:
    """`python -m tflkit diff ...` runs without typer; the typer app (CliRunner) prints the
    same stdout and stderr and exits with the same code."""
    from tflkit.cli._plain import diff_args

    assert diff_args(args) is not None
    fast = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tflkit", "diff", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert " typer" not in fast.stderr  # importtime lines name every module imported
    app_result = cli.invoke("diff", *args, cwd=ROOT)  # the paths are the checkout's
    assert fast.returncode == app_result.exit_code
    assert fast.stdout == app_result.stdout
    errors = [line for line in fast.stderr.splitlines() if not line.startswith("import time:")]
    assert "\n".join(errors).strip() == app_result.stderr.strip()


def test_diff_schema_is_valid_and_one_file() -> None:
    packaged = resources.files("tflkit").joinpath("schemas/diff.schema.json").read_bytes()
    assert (ROOT / "schemas" / "diff.schema.json").read_bytes() == packaged
    jsonschema.Draft202012Validator.check_schema(json.loads(packaged))


# ---------------------------------------------------------------- snapshot --check (the hook)


def _models(tmp_path: Path) -> Path:
    models = tmp_path / "models"
    models.mkdir()
    (models / "a.tflite").write_bytes(INT8.read_bytes())
    (models / "b.tflite").write_bytes((FIXTURES / "mlp_float32.tflite").read_bytes())
    return models


def test_cli_snapshot_default_path_and_check(tmp_path: Path, cli: Cli) -> None:
    models = _models(tmp_path)
    wrote = cli.invoke("snapshot", "models/a.tflite", "models/b.tflite", cwd=tmp_path)
    assert wrote.exit_code == 0, wrote.stderr
    folder = models / "__snapshots__"
    assert {p.name: json.loads(p.read_text())["model"] for p in folder.iterdir()} == {
        "a.json": "a.tflite",
        "b.json": "b.tflite",
    }
    stored = json.loads((folder / "a.json").read_text())
    (x,) = litert_interpreter(INT8).get_input_details()
    scales = stored["signatures"]["serving_default"]["inputs"]["keras_tensor"]["quantization"]
    assert scales["scales"] == [pytest.approx(x["quantization"][0], rel=1e-7)]

    same = cli.invoke("snapshot", "--check", "models/a.tflite", "models/b.tflite", cwd=tmp_path)
    assert same.exit_code == 0, same.stderr
    assert same.stdout.splitlines() == [
        "MATCH      models/a.tflite  models/__snapshots__/a.json",
        "MATCH      models/b.tflite  models/__snapshots__/b.json",
        "2 checked: 2 matched",
    ]
    (models / "a.tflite").write_bytes(edited("mlp_int8.tflite", _scale_times(1.5)))
    (models / "c.tflite").write_bytes(INT8.read_bytes())
    (folder / "b.json").write_text("{")
    args = ["snapshot", "--check", "models/a.tflite", "models/b.tflite", "models/c.tflite"]
    bad = cli.invoke(*args, cwd=tmp_path)
    assert bad.exit_code == 1, bad.stderr
    out = bad.stdout
    assert "CHANGED    models/a.tflite  models/__snapshots__/a.json" in out
    assert "scales 0.00390625 -> 0.00585938 (drift 50.00%)" in out  # 0.00390625 * 1.5
    assert "MALFORMED  models/b.tflite" in out and "not JSON" in out
    assert "MISSING    models/c.tflite: no snapshot models/__snapshots__/c.json" in out
    assert out.splitlines()[-1] == "3 checked: 1 changed, 1 missing, 1 malformed"
    assert max(len(line) for line in out.splitlines()) <= 80


def test_cli_snapshot_dir_and_refusals(tmp_path: Path, cli: Cli) -> None:
    _models(tmp_path)
    wrote = cli.invoke("snapshot", "models/a.tflite", "--snapshot-dir", "snaps", cwd=tmp_path)
    assert wrote.exit_code == 0, wrote.stderr
    assert json.loads((tmp_path / "snaps" / "a.json").read_text())["model"] == "a.tflite"
    check = ["snapshot", "--check", "models/a.tflite"]
    assert cli.invoke(*check, "--snapshot-dir", "snaps", cwd=tmp_path).exit_code == 0
    assert cli.invoke(*check, "-o", "snaps/a.json", cwd=tmp_path).exit_code == 0
    missing = cli.invoke(*check, cwd=tmp_path)
    assert missing.exit_code == 1
    for args, what in [
        (["snapshot", "models/a.tflite", "models/b.tflite", "-o", "x.json"], "--output names one"),
        (["snapshot", "models/a.tflite", "-o", "x.json", "--snapshot-dir", "s"], "go apart"),
        ([*check, "--force"], "--force does not go with --check"),
        (["snapshot", "models/a.tflite", "models/b.tflite", "--json"], "give one MODEL"),
    ]:
        refused = cli.invoke(*args, cwd=tmp_path)
        assert refused.exit_code == 2, (args, refused.output)
        assert what in refused.stderr and "Traceback" not in refused.stderr


def test_cli_snapshot_check_json_and_an_unreadable_model(tmp_path: Path, cli: Cli) -> None:
    """--check --json validates against its schema; an unreadable model is one error line and
    exit 2, the others still checked."""
    models = _models(tmp_path)
    assert cli.invoke("snapshot", "models/a.tflite", cwd=tmp_path).exit_code == 0
    (models / "b.tflite").write_bytes(edited("mlp_int8.tflite", _scale_times(1.5)))
    (models / "__snapshots__" / "b.json").write_bytes(
        (models / "__snapshots__" / "a.json").read_bytes()
    )
    args = ["snapshot", "--check", "--json", "models/a.tflite", "models/b.tflite"]
    done = cli.invoke(*args, "models/c.tflite", "models/none.tflite", cwd=tmp_path)
    assert done.exit_code == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("tflkit: error:")]
    assert errors == [
        f"tflkit: error: models/{name}.tflite: no such file or directory" for name in ("c", "none")
    ]
    assert [e["status"] for e in json.loads(done.stdout)["snapshots"]] == ["matched", "changed"]

    (models / "c.tflite").write_bytes(INT8.read_bytes())
    done = cli.invoke(*args, "models/c.tflite", cwd=tmp_path)
    assert done.exit_code == 1, done.stderr
    document = json.loads(done.stdout)
    schema = json.loads(
        resources.files("tflkit").joinpath("schemas/snapshot-check.schema.json").read_text()
    )
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(document, schema)
    assert (ROOT / "schemas" / "snapshot-check.schema.json").is_file()  # the top-level link
    status = {e["model"]: e["status"] for e in document["snapshots"]}
    assert status == {
        "models/a.tflite": "matched",
        "models/b.tflite": "changed",
        "models/c.tflite": "missing",
    }
    assert document["counts"] == {"matched": 1, "changed": 1, "missing": 1, "malformed": 0}
    assert document["passed"] is False and document["checked"] == 3
    (b,) = [e for e in document["snapshots"] if e["status"] == "changed"]
    scales = [c for c in b["changes"] if c["field"] == "scales"]
    assert scales and all(c["new"] == 0.005859375 for c in scales)  # 0.00390625 * 1.5
