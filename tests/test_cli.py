"""The command line: exit codes, stdout/stderr split, JSON against the schema, 80 columns."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import FIXTURES, MODELS, ROOT, Cli, fixture_path

import tflkit


def inspect_schema() -> dict[str, Any]:
    text = resources.files("tflkit").joinpath("schemas/inspect.schema.json").read_text()
    return dict(json.loads(text))


@pytest.mark.parametrize(
    "name", ["inspect", "check", "run", "compare", "bench", "convert", "diff", "snapshot"]
)
def test_shipped_schema_and_top_level_schema_are_one_file(name: str) -> None:
    packaged = resources.files("tflkit").joinpath(f"schemas/{name}.schema.json").read_bytes()
    assert (ROOT / "schemas" / f"{name}.schema.json").read_bytes() == packaged
    jsonschema.Draft202012Validator.check_schema(json.loads(packaged))


def test_inspect_json_validates_for_every_fixture(fixture_name: str, cli: Cli) -> None:
    result = cli.invoke("inspect", "--json", str(fixture_path(fixture_name)))
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


def test_inspect_human_output_fits_80_columns(fixture_name: str, cli: Cli) -> None:
    # The path as the README spells it: the output must not depend on the checkout's depth.
    result = cli.invoke("inspect", "--tensors", f"fixtures/{fixture_name}", cwd=ROOT)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80  # nothing printed past the terminal's edge
    # One row a tensor, in order: a cell may take two lines (a blockwise scale's description),
    # a name never (shortened in the middle instead).
    firsts = [line.split("\u2502")[1].strip() for line in lines if line.startswith("\u2502 ")]
    n = len(tflkit.load(fixture_path(fixture_name)).subgraphs[0].tensors)
    assert [int(c) for c in firsts if c.isdigit()][:n] == list(range(n))
    assert "\x1b[" not in result.stdout  # no colour codes when not a terminal
    assert (
        "quantization" in result.stdout
        and MODELS[fixture_name]["quantization_kind"] in result.stdout
    )
    # Rich wraps what does not fit, so the width above holds whatever is printed: what shows
    # that the layout fits is that rich broke no name, number or path to make it fit (cells and
    # paragraphs may wrap between words).
    assert not result.broken, result.broken


def test_inspect_shows_the_real_range_an_int8_input_expects(cli: Cli) -> None:
    model = tflkit.load(FIXTURES / "mlp_int8.tflite")
    t = model.inputs[0]
    q = t.quantization
    assert q is not None
    lo = (-128 - q.zero_point) * q.scale
    hi = (127 - q.zero_point) * q.scale
    out = cli.invoke("inspect", str(FIXTURES / "mlp_int8.tflite")).stdout
    assert f"[{lo:.4g}, {hi:.4g}]" in out
    assert f"{q.scale:.4g}" in out and str(q.zero_point) in out


def test_inspect_subgraph_option(cli: Cli) -> None:
    path = FIXTURES / "while_loop.tflite"
    doc = json.loads(cli.invoke("inspect", "--json", "--subgraph", "1", str(path)).stdout)
    assert [sg["index"] for sg in doc["subgraphs"]] == [1]
    assert doc["subgraphs"][0]["name"] == tflkit.load(path).subgraphs[1].name
    bad = cli.invoke("inspect", "--subgraph", "99", str(path))
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
    tmp_path: Path, name: str, data: bytes, message: str, cli: Cli
) -> None:
    path = _write(tmp_path, name, data)
    for args in (["inspect", path], ["inspect", "--json", path]):
        result = cli.invoke(*args)
        assert result.exit_code == 2
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr
        assert lines[0].startswith("tflkit: error: ") and message in lines[0]
        assert name in lines[0]


def test_missing_file_exits_2(tmp_path: Path, cli: Cli) -> None:
    result = cli.invoke("inspect", str(tmp_path / "nope.tflite"))
    assert result.exit_code == 2
    assert (
        result.stderr.strip()
        == f"tflkit: error: {tmp_path / 'nope.tflite'}: no such file or directory"
    )


def test_usage_errors_exit_2_with_one_line(cli: Cli) -> None:
    for args in (["inspect", "--bogus", "x"], ["inspect"], ["nocommand"]):
        proc = cli.invoke(*args, entry="cli.py")
        assert proc.exit_code == 2, args
        assert proc.stdout == ""
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_checkout_shim_and_module_entry_points(cli: Cli) -> None:
    for proc in (cli.invoke("--help", entry="cli.py"), cli.invoke("--help", entry="-m")):
        assert proc.exit_code == 0, proc.stderr
        assert "inspect" in proc.stdout
    proc = cli.invoke("inspect", "--json", FIXTURES / "mlp_int8.tflite", entry="cli.py")
    assert proc.exit_code == 0 and json.loads(proc.stdout)["quantization_kind"] == "int8"
    proc = cli.invoke("--version", entry="-m")
    assert proc.stdout.strip() == f"tflkit {tflkit.__version__}"


def check_schema() -> dict[str, Any]:
    return dict(
        json.loads(resources.files("tflkit").joinpath("schemas/check.schema.json").read_text())
    )


def test_check_exit_codes_follow_the_manifest(fixture_name: str, cli: Cli) -> None:
    result = cli.invoke("check", f"fixtures/{fixture_name}", cwd=ROOT)
    assert result.exit_code == (0 if MODELS[fixture_name]["fully_int8"] else 1), result.stdout
    first = result.stdout.splitlines()[0]
    assert first.startswith("PASS" if MODELS[fixture_name]["fully_int8"] else "FAIL")
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    # A finding's sentence may wrap between words; no name or number is broken to fit.
    assert not result.broken, result.broken


def test_check_json_validates_single_and_many(cli: Cli) -> None:
    validator = jsonschema.Draft202012Validator(check_schema())
    one = cli.invoke("check", "--json", str(FIXTURES / "mlp_int8_float_io.tflite"))
    assert one.exit_code == 1
    doc = json.loads(one.stdout)
    validator.validate(doc)
    assert doc["passed"] is False and {v["rule"] for v in doc["violations"]} == {
        "int8-io-dtype",
        "no-float-tensors",
    }
    many = cli.invoke(
        "check",
        "--json",
        "--allow-uint8-io",
        str(FIXTURES / "mlp_int8.tflite"),
        str(FIXTURES / "cnn_uint8_io.tflite"),
    )
    assert many.exit_code == 0
    docs = json.loads(many.stdout)
    validator.validate(docs)
    assert [d["passed"] for d in docs] == [True, True]


def test_check_options(cli: Cli) -> None:
    path = str(FIXTURES / "mlp_int8_float_io.tflite")
    assert cli.invoke("check", "--ignore", "int8-io-dtype,no-float-tensors", path).exit_code == 0
    assert (
        cli.invoke(
            "check", "--ignore", "int8-io-dtype", "--ignore", "no-float-tensors", path
        ).exit_code
        == 0
    )
    assert cli.invoke("check", "--select", "builtin-ops-only", path).exit_code == 0
    assert (
        cli.invoke("check", "--profile", "int16x8", str(FIXTURES / "mlp_int16x8.tflite")).exit_code
        == 0
    )
    assert (
        cli.invoke("check", "--profile", "float16", str(FIXTURES / "mlp_float16.tflite")).exit_code
        == 0
    )
    rules = cli.invoke("check", "--list-rules")
    assert rules.exit_code == 0 and "bias-scale" in rules.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "--profile", "int4", "m.tflite"], "unknown profile 'int4'"),
        (["check", "--select", "nope", "m.tflite"], "unknown rule 'nope'"),
        (["check"], "no MODEL given"),
    ],
)
def test_check_usage_errors_exit_2(args: list[str], message: str, cli: Cli) -> None:
    result = cli.invoke(*args)
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_check_invalid_model_exits_2_and_still_checks_the_rest(tmp_path: Path, cli: Cli) -> None:
    bad = _write(tmp_path, "bad.tflite", b"not a model at all")
    result = cli.invoke("check", str(FIXTURES / "mlp_int8.tflite"), bad)
    assert result.exit_code == 2
    assert result.stdout.startswith("PASS")
    assert result.stderr.strip().splitlines() == [
        "tflkit: error: bad.tflite: file identifier is b'a mo', expected b'TFL3'"
    ]


def test_check_strict_turns_warnings_into_failures(tmp_path: Path, cli: Cli) -> None:
    from conftest import edited

    def softmax_scale(m: Any) -> None:
        m.subgraphs[0].tensors[7].quantization.scale = [1 / 128]

    path = _write(tmp_path, "soft.tflite", edited("mlp_int8.tflite", softmax_scale))
    normal = cli.invoke("check", path)
    assert normal.exit_code == 0 and "softmax-output (warning, 1)" in normal.stdout
    assert cli.invoke("check", "--strict", path).exit_code == 1


def run_schema() -> dict[str, Any]:
    return dict(
        json.loads(resources.files("tflkit").joinpath("schemas/run.schema.json").read_text())
    )


def test_run_writes_outputs_equal_to_the_runner(tmp_path: Path, cli: Cli) -> None:
    import numpy as np

    x = np.random.default_rng(0).random((40, 32), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "out.npz"
    model = str(FIXTURES / "mlp_int8.tflite")
    result = cli.invoke(
        "run", model, "--input", str(tmp_path / "x.npy"), "--output", str(out), "--json"
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    jsonschema.Draft202012Validator(run_schema()).validate(doc)
    assert doc["samples"] == 40 and doc["outputs"] == [
        {"name": "output_0", "dtype": "float32", "shape": [40, 10]}
    ]
    with np.load(out) as saved:
        np.testing.assert_array_equal(saved["output_0"], tflkit.Runner(model).predict(x))
    human = cli.invoke("run", model, "-i", str(tmp_path / "x.npy"))
    assert human.exit_code == 0 and "40 samples" in human.stdout
    assert max(len(line) for line in human.stdout.splitlines()) <= 80
    assert not human.wrapped, human.wrapped  # one line per output, a first line that fits


def test_run_npz_by_name_and_raw(tmp_path: Path, cli: Cli) -> None:
    import numpy as np

    rng = np.random.default_rng(1)
    feats, mask = rng.random((3, 8), dtype=np.float32), rng.random((3, 4), dtype=np.float32)
    np.savez(tmp_path / "in.npz", features=feats, mask=mask)
    out = tmp_path / "o.npz"
    result = cli.invoke(
        "run", str(FIXTURES / "multi_io.tflite"), "-i", str(tmp_path / "in.npz"), "-o", str(out)
    )
    assert result.exit_code == 0, result.stderr
    want = tflkit.Runner(FIXTURES / "multi_io.tflite").predict({"features": feats, "mask": mask})
    with np.load(out) as saved:
        assert sorted(saved.files) == ["logits", "score"]
        np.testing.assert_array_equal(saved["logits"], want["logits"])
    np.save(tmp_path / "q.npy", np.zeros((2, 32), np.int8))
    raw = cli.invoke(
        "run", str(FIXTURES / "mlp_int8.tflite"), "-i", str(tmp_path / "q.npy"), "--raw", "--json"
    )
    assert json.loads(raw.stdout)["outputs"][0]["dtype"] == "int8"


def test_run_errors_are_one_line(tmp_path: Path, cli: Cli) -> None:
    import numpy as np

    np.save(tmp_path / "x.npy", np.zeros((2, 31), np.float32))
    cases = [
        (
            ["run", str(FIXTURES / "mlp_int8.tflite"), "-i", str(tmp_path / "x.npy")],
            "expected shape (-1, 32)",
        ),
        (
            ["run", str(FIXTURES / "multi_io.tflite"), "-i", str(tmp_path / "x.npy")],
            "give them in a .npz",
        ),
        (
            ["run", str(FIXTURES / "flex_cumprod.tflite"), "-i", str(tmp_path / "x.npy")],
            "Flex ops need",
        ),
        (
            ["run", str(FIXTURES / "mlp_int8.tflite"), "-i", str(tmp_path / "nope.npy")],
            "no such file",
        ),
    ]
    for args, message in cases:
        result = cli.invoke(*args)
        assert result.exit_code == 2, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr


def test_run_warns_about_saturation_on_stderr(tmp_path: Path, cli: Cli) -> None:
    import numpy as np

    np.save(tmp_path / "px.npy", np.full((4, 32), 200.0, np.float32))
    result = cli.invoke("run", str(FIXTURES / "mlp_int8.tflite"), "-i", str(tmp_path / "px.npy"))
    assert result.exit_code == 0
    assert result.stderr.startswith("tflkit: warning: input 'keras_tensor': 100.0% of 128 values")


def _schema(name: str) -> dict[str, Any]:
    text = resources.files("tflkit").joinpath(f"schemas/{name}.schema.json").read_text()
    return dict(json.loads(text))


MLPS = [str(FIXTURES / f"{n}.tflite") for n in ("mlp_float32", "mlp_float16", "mlp_int8")]


def test_compare_json_with_data_labels_and_per_tensor(tmp_path: Path, cli: Cli) -> None:
    import numpy as np

    x, y = FIXTURES / "mlp_eval_x.npy", FIXTURES / "mlp_eval_y.npy"
    np.savez(tmp_path / "x.npz", keras_tensor=np.load(x))  # keyed by input name
    result = cli.invoke(
        "compare", *MLPS, "--data", str(tmp_path / "x.npz"), "--labels", str(y),
        "--samples", "100", "--per-tensor", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    jsonschema.Draft202012Validator(_schema("compare")).validate(doc)
    assert doc["samples"] == 100 and doc["data"] == str(tmp_path / "x.npz")
    assert [m["size_bytes"] for m in doc["models"]] == [Path(m).stat().st_size for m in MLPS]
    assert [m["kind"] for m in doc["models"]] == ["float32", "float16", "int8"]
    assert all(m["accuracy"] is not None for m in doc["models"])
    assert len(doc["per_tensor"]) == 2


def test_compare_human_output_fits_80_columns(cli: Cli) -> None:
    result = cli.invoke("compare", *MLPS, "--per-tensor", "--samples", "32")
    assert result.exit_code == 0, result.stderr
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    assert not result.broken, result.broken
    text = result.stdout
    assert "random inputs, seed 0, 32 samples" in text
    for name in ("mlp_float32", "mlp_float16", "mlp_int8"):
        assert name in text
    assert not result.broken, result.broken


def test_compare_speed_separates_invoke_and_call_in_every_format(cli: Cli) -> None:
    result = cli.invoke("compare", *MLPS, "--samples", "16", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    jsonschema.Draft202012Validator(_schema("compare")).validate(doc)
    for m in doc["models"]:
        # Two separately timed medians are not compared here (that can flip on a loaded
        # machine): bench/speed_bench.py measures invoke against the whole call.
        assert all(
            math.isfinite(ms) and ms > 0 for ms in (m["invoke_ms"]["p50"], m["latency_ms"]["p50"])
        )
        assert m["overhead_ms"] == pytest.approx(m["latency_ms"]["p50"] - m["invoke_ms"]["p50"])
        assert m["outputs"][0]["mse"] == pytest.approx(m["outputs"][0]["rmse"] ** 2)
    human = cli.invoke("compare", *MLPS, "--samples", "16", "--per-tensor")
    lines = human.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert all(line == line.rstrip() for line in lines)
    headers = [line.split() for line in lines if line.startswith("model") and "invoke" in line]
    assert headers == [
        ["model", "invoke", "vs", "ref", "overhead", "call", "vs", "ref"],
        ["model", "invoke", "vs", "ref", "call", "vs", "ref"],
    ]
    assert "Speed: the whole batch (samples/s)" in lines
    assert 'invoke: the runtime alone; it answers "is int8 faster on this machine?"' in lines
    assert "what an app pays per call" in human.stdout
    assert any(line.split()[:4] == ["model", "agree", "max", "err"] for line in lines)
    errors = [line for line in lines if line.startswith("tensor ") or " agree " in line]
    assert len(errors) == 1 + 2 and all("MSE" in line for line in errors)
    assert not human.broken, human.broken


def test_compare_markdown(cli: Cli) -> None:
    result = cli.invoke("compare", *MLPS, "--samples", "16", "--markdown")
    assert result.exit_code == 0, result.stderr
    md = result.stdout
    assert md.startswith("Reference: mlp_float32; 16 samples; data: random inputs, seed 0\n")
    for path, kind in zip(MLPS, ("float32", "float16", "int8"), strict=True):
        size = Path(path).stat().st_size
        assert f"| {Path(path).stem} | {kind} | " in md and f"| {size:,} |" in md
    assert "| model | invoke | vs ref | overhead | call | vs ref |" in md
    assert "| model | invoke | vs ref | call | vs ref |" in md
    assert "| model | agree | max err | MSE | RMSE | SNR |" in md
    assert "─" not in md  # no rich table drawn
    both = cli.invoke("compare", *MLPS, "--markdown", "--json")
    assert both.exit_code == 2 and "exclude each other" in both.stderr and both.stdout == ""


def test_npz_whose_key_names_no_input_is_used_with_a_note(tmp_path: Path, cli: Cli) -> None:
    import numpy as np

    x = np.random.default_rng(2).random((8, 32), dtype=np.float32)
    np.savez(tmp_path / "x.npz", data=x)
    np.savez(tmp_path / "named.npz", keras_tensor=x)
    note = "tflkit: note: x.npz: array 'data' fed to input 'keras_tensor' (the only input)"
    run = cli.invoke("run", MLPS[2], "-i", str(tmp_path / "x.npz"), "-o", str(tmp_path / "o.npz"))
    assert run.exit_code == 0 and run.stderr.splitlines() == [note]
    with np.load(tmp_path / "o.npz") as saved:
        np.testing.assert_array_equal(saved["output_0"], tflkit.Runner(MLPS[2]).predict(x))
    compared = cli.invoke("compare", MLPS[0], MLPS[2], "-d", str(tmp_path / "x.npz"), "--no-speed")
    assert compared.exit_code == 0 and compared.stderr.splitlines() == [note]
    named = cli.invoke("run", MLPS[2], "-i", str(tmp_path / "named.npz"))
    assert named.exit_code == 0 and named.stderr == ""
    feats, mask = np.zeros((2, 8), np.float32), np.zeros((2, 4), np.float32)
    np.savez(tmp_path / "two.npz", mask, feats)  # arr_0, arr_1 in the model's input order
    multi = cli.invoke("run", str(FIXTURES / "multi_io.tflite"), "-i", str(tmp_path / "two.npz"))
    names = tflkit.Runner(FIXTURES / "multi_io.tflite").input_names
    assert multi.exit_code == 0 and multi.stderr.splitlines() == [
        "tflkit: note: two.npz: no array is named after an input; fed in order: "
        f"'arr_0' to {names[0]!r}, 'arr_1' to {names[1]!r}"
    ]


def test_compare_labels_for_a_named_output(tmp_path: Path, cli: Cli) -> None:
    import numpy as np

    model = str(FIXTURES / "multi_io.tflite")
    outputs = tflkit.Runner(model).output_names
    n = 20
    np.save(tmp_path / "y.npy", np.zeros(n, np.int64))
    args = ["compare", model, model, "-n", str(n), "--no-speed", "--json", "-l"]
    result = cli.invoke(*args, str(tmp_path / "y.npy"), "--label-output", outputs[-1])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    jsonschema.Draft202012Validator(_schema("compare")).validate(doc)  # no speed: nulls
    assert doc["label_output"] == outputs[-1] and doc["models"][0]["latency_ms"] is None
    result = cli.invoke(*args, str(tmp_path / "y.npy"), "--label-output", "nope")
    assert result.exit_code == 2 and "label_output 'nope' is not an output" in result.stderr


def test_compare_refuses_mismatched_models_with_one_line(cli: Cli) -> None:
    result = cli.invoke("compare", MLPS[0], str(FIXTURES / "multi_io.tflite"))
    assert result.exit_code == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("tflkit: error: multi_io does not take the reference's inputs")


def test_compare_plot(tmp_path: Path, cli: Cli) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "c.png"
    result = cli.invoke("compare", *MLPS, "--samples", "16", "--plot", str(out), "--no-speed")
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    assert f"plot written to {out}" in result.stderr


def test_compare_plot_without_matplotlib_says_which_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    import importlib.util

    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "matplotlib" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    result = cli.invoke("compare", *MLPS, "--plot", str(tmp_path / "c.png"))
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "tflkit: error: plots need matplotlib: pip install 'tflkit[plot]'"
    )
    assert not (tmp_path / "c.png").exists()


def test_bench_json_validates_and_is_ordered(cli: Cli) -> None:
    result = cli.invoke("bench", MLPS[2], "--seconds", "0.05", "--batch-size", "4", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    jsonschema.Draft202012Validator(_schema("bench")).validate(doc)
    lat = doc["latency"]
    assert 0 < lat["min_ms"] <= lat["p50_ms"] <= lat["p90_ms"] <= lat["p99_ms"] <= lat["max_ms"]
    assert doc["batch_size"] == 4 and doc["calls"] >= 10
    inv = doc["invoke"]
    assert 0 < inv["min_ms"] <= inv["p50_ms"] <= inv["p90_ms"] <= inv["p99_ms"] <= inv["max_ms"]
    # invoke's p50 against the call's is measured in bench/speed_bench.py: two separate
    # timings can come out either way on a loaded machine.
    assert doc["overhead_ms"] == pytest.approx(lat["p50_ms"] - inv["p50_ms"])


def test_bench_human_output_and_errors(tmp_path: Path, cli: Cli) -> None:
    # A relative path, as the README spells it: the first line names the model, and its length
    # must not depend on the checkout's depth (tests/test_any_machine.py tries a long path).
    result = cli.invoke("bench", "fixtures/mlp_int8.tflite", "--seconds", "0.05", cwd=ROOT)
    assert result.exit_code == 0, result.stderr
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    assert not result.wrapped, result.wrapped  # rich broke no line to make it fit
    assert "samples/s" in result.stdout and "peak RSS" in result.stdout
    lines = result.stdout.splitlines()
    assert all(line == line.rstrip() for line in lines)
    assert [line.split()[0] for line in lines[2:5]] == ["latency", "invoke", "overhead"]
    assert 'invoke alone: the runtime; it answers "is this model faster on this machine?"' in lines
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a model")
    result = cli.invoke("bench", str(bad))
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1


def test_bench_first_line_shortens_a_long_path(tmp_path: Path, cli: Cli) -> None:
    # A checkout or data directory deep in the file system: the path alone is 150 characters.
    import shutil

    room = max(1, 150 - len(str(tmp_path)) - len("/mlp_int8.tflite") - 1)
    model = tmp_path / ("a_long_directory_name_" * 20)[:room] / "mlp_int8.tflite"
    model.parent.mkdir()
    shutil.copy(MLPS[2], model)
    assert len(str(model)) >= 150
    result = cli.invoke("bench", str(model), "--seconds", "0.05")
    assert result.exit_code == 0, result.stderr
    first, second = result.stdout.splitlines()[:2]
    assert len(first) <= 80 and second == ""  # one line, not wrapped
    assert first.startswith(str(tmp_path)[:10]) and "/mlp_int8.tflite: " in first
    assert first.endswith(" s") and " calls of 1 sample(s) in " in first


def test_native_stderr_filter_drops_runtime_info_but_not_python_output() -> None:
    """Native INFO lines on fd 2 are dropped; progress bars written to sys.stderr still show."""
    code = (
        "import os, sys\n"
        "from tflkit.cli._shared import native_stderr_filtered\n"
        "with native_stderr_filtered():\n"
        "    os.write(2, b'INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n')\n"
        "    os.write(2, b'ERROR: from C++\\n')\n"
        "    sys.stderr.write('progress from Python\\n')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == ["progress from Python", "ERROR: from C++"]


# ---------------------------------------------------------------- `inspect --json` without typer
# tflkit.cli.main runs `inspect --json MODEL` without the typer app; every other spelling goes
# to the app. The two must print the same bytes and exit with the same code.


def _main_output(main: Any, args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple:
    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capsys.readouterr()
    return info.value.code, out, err


def _cut_model(tmp_path: Path) -> Path:
    path = tmp_path / "cut.tflite"
    path.write_bytes(FIXTURES.joinpath("mlp_int8.tflite").read_bytes()[:3000])
    return path


@pytest.mark.parametrize(
    "model",
    [
        lambda tmp: str(FIXTURES / "mlp_int8.tflite"),
        lambda tmp: str(FIXTURES / "while_loop.tflite"),
        lambda tmp: (
            "./" + str((FIXTURES / "mlp_int8.tflite").relative_to(Path.cwd()))
            if FIXTURES.is_relative_to(Path.cwd())
            else str(FIXTURES / "mlp_int8.tflite")
        ),
        lambda tmp: str(tmp / "missing.tflite"),
        lambda tmp: str(tmp),  # a directory
        lambda tmp: str(_cut_model(tmp)),
    ],
    ids=["int8", "while", "dot-slash", "missing", "directory", "truncated"],
)
@pytest.mark.parametrize("order", ["json-first", "json-last"])
def test_inspect_json_without_typer_prints_what_the_app_prints(
    model: Any, order: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import tflkit.cli
    from tflkit.cli import _app

    path = model(tmp_path)
    args = ["inspect", "--json", path] if order == "json-first" else ["inspect", path, "--json"]
    assert tflkit.cli._inspect_json_model(args) == path  # the path without typer is taken
    fast = _main_output(tflkit.cli.main, args, capsys)
    full = _main_output(_app.main, args, capsys)
    assert fast == full
    code, out, err = fast
    if code == 0:
        jsonschema.Draft202012Validator(inspect_schema()).validate(json.loads(out))
        assert err == ""
    else:
        assert code == 2 and out == "" and err.startswith("tflkit: error: ")
        assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    "args",
    [
        ["inspect", "--json"],
        ["inspect", "--json", "--help"],
        ["inspect", "--json", "-"],
        ["inspect", "--json", "m.tflite", "--tensors"],
        ["inspect", "--json", "--json"],
        ["inspect", "-t", "m.tflite"],
        ["check", "--json", "m.tflite"],
        ["--version"],
        [],
    ],
)
def test_every_other_command_line_goes_to_the_app(args: list[str]) -> None:
    import tflkit.cli

    assert tflkit.cli._inspect_json_model(args) is None
