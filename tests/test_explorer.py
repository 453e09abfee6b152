"""``tflkit compare --explorer DIR`` / ``Comparison.to_explorer``: Model Explorer node data.

Truths: the LiteRT interpreter (which tensors the operators write, and the reference's tensor
values on the same samples), ``--per-tensor``'s own JSON from a separate run, and Model
Explorer's ``node_data_builder`` classes (ai-edge-model-explorer, the ``[explorer]`` extra).
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, ROOT, Cli, need_fixture

import tflkit

FLOAT, INT8, INT8_FLOAT_IO = "mlp_float32.tflite", "mlp_int8.tflite", "mlp_int8_float_io.tflite"
DATA = "mlp_eval_x.npy"
PER_TENSOR_SAMPLES = 64  # compare() runs the first 64 samples with every tensor kept
METRICS = {"snr": "snr_db", "rmse": "rmse", "max_abs": "max_abs"}


def _interpreter(path: Path, preserve: bool = False) -> Any:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    # no default delegate: XNNPACK would replace operators by DELEGATE nodes and fuse tensors
    return Interpreter(
        model_path=str(path),
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        experimental_preserve_all_tensors=preserve,
    )


def _operator_outputs(path: Path) -> set[str]:
    """Names of the tensors the model's operators write, as LiteRT reports them."""
    interp = _interpreter(path)
    interp.allocate_tensors()
    names = {t["index"]: t["name"] for t in interp.get_tensor_details()}
    return {names[int(i)] for op in interp._get_ops_details() for i in op["outputs"]}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One ``--explorer`` run and one plain ``--per-tensor`` run on the same models and data."""
    paths = [need_fixture(n) for n in (FLOAT, INT8_FLOAT_IO, INT8)]
    data = FIXTURES / DATA
    out = tmp_path_factory.mktemp("explorer") / "nodes"  # not there yet: made by the command
    cli = Cli()
    common = [*paths, "--data", data, "--no-speed", "--json"]
    got = cli.invoke("compare", *common, "--explorer", out)
    assert got.exit_code == 0, got.output
    plain = cli.invoke("compare", *common, "--per-tensor")
    assert plain.exit_code == 0, plain.output
    return {
        "dir": out,
        "json": json.loads(got.stdout),
        "per_tensor": json.loads(plain.stdout)["per_tensor"],
        "paths": paths,
        "data": data,
    }


def _files(run: dict[str, Any]) -> dict[str, Any]:
    return {p.name: json.loads(p.read_text()) for p in sorted(run["dir"].iterdir())}


def test_one_file_per_model_and_metric_and_the_reference_ranges(run: dict[str, Any]) -> None:
    names = sorted(p.name for p in run["dir"].iterdir())
    want = [f"{m}.{k}.json" for m in ("mlp_int8", "mlp_int8_float_io") for k in METRICS]
    assert names == sorted([*want, "mlp_float32.range.json"])  # no temporary file left
    listed = run["json"]["explorer"]
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((ROOT / "tflkit" / "schemas" / "compare.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(run["json"])
    assert [f["metric"] for f in listed] == [*METRICS, *METRICS, "range"]
    assert sorted(Path(f["path"]).name for f in listed) == names
    for f in listed:
        doc = json.loads(Path(f["path"]).read_text())
        assert f["tensors"] == len(doc["results"])


def test_every_key_is_an_output_tensor_of_that_model(run: dict[str, Any]) -> None:
    outputs = {p.stem: _operator_outputs(p) for p in run["paths"]}
    for name, doc in _files(run).items():
        model = name.split(".")[0]
        assert doc["results"], name
        assert set(doc["results"]) <= outputs[model], name
    # the QUANTIZE of the float input writes a tensor the float model does not have: no key
    assert len(outputs["mlp_int8_float_io"]) == 5


def test_values_equal_per_tensor_json(run: dict[str, Any]) -> None:
    files = _files(run)
    assert run["json"]["per_tensor"] == run["per_tensor"]  # --explorer computes the same
    for per in run["per_tensor"]:
        path = next(p for p in run["paths"] if p.stem == per["model"])
        outputs = _operator_outputs(path)
        for key, field in METRICS.items():
            doc = files[f"{per['model']}.{key}.json"]
            want = {
                t["name"]: t[field]
                for t in per["tensors"]
                if t["name"] in outputs and isinstance(t[field], float) and math.isfinite(t[field])
            }
            got = {k: v["value"] for k, v in doc["results"].items()}
            assert got == want and len(want) == 3


def test_range_file_holds_the_reference_tensor_spans(run: dict[str, Any]) -> None:
    """max - min of each tensor of the float model on the first 64 samples, from LiteRT."""
    x = np.load(run["data"])[:PER_TENSOR_SAMPLES]
    interp = _interpreter(run["paths"][0], preserve=True)
    d = interp.get_input_details()[0]
    interp.resize_tensor_input(d["index"], list(x.shape))
    interp.allocate_tensors()
    interp.set_tensor(d["index"], x)
    interp.invoke()
    spans = {}
    for t in interp.get_tensor_details():
        v = interp.get_tensor(t["index"])
        spans[t["name"]] = float(v.max()) - float(v.min())
    doc = _files(run)["mlp_float32.range.json"]
    assert set(doc["results"]) == _operator_outputs(run["paths"][0])
    for k, v in doc["results"].items():
        assert v["value"] == pytest.approx(spans[k], rel=1e-6), k
        assert v["value"] > 0


def test_files_load_with_node_data_builder(run: dict[str, Any]) -> None:
    ndb = pytest.importorskip(
        "model_explorer.node_data_builder", reason="pip install 'tflkit[explorer]'"
    )
    for name, doc in _files(run).items():
        graph = ndb.GraphNodeData(
            **{
                **doc,
                "results": {k: ndb.NodeDataResult(**v) for k, v in doc["results"].items()},
                "thresholds": [ndb.ThresholdItem(**t) for t in doc["thresholds"]],
                "gradient": [ndb.GradientItem(**g) for g in doc["gradient"]],
            }
        )
        # the file is what Model Explorer's own writer writes for the same data
        assert json.loads(graph.to_json_string()) == doc, name
        model = ndb.ModelNodeData(graphsData={"main": graph})
        assert json.loads(model.to_json_string())["main"] == doc
        stops = [g.stop for g in graph.gradient]
        assert stops[0] == 0 and stops[-1] == 1 and stops == sorted(stops)


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def test_worst_tensors_are_red(run: dict[str, Any]) -> None:
    """Stop 0 is the smallest value: red for SNR, green for the errors (and the reverse)."""
    for name, doc in _files(run).items():
        first, last = _rgb(doc["gradient"][0]["bgColor"]), _rgb(doc["gradient"][-1]["bgColor"])
        if ".snr." in name:
            assert first[0] > first[1] and last[1] > last[0], name
        elif ".range." not in name:
            assert first[1] > first[0] and last[0] > last[1], name


def test_to_explorer_in_python(tmp_path: Path) -> None:
    x = np.random.default_rng(2).random((8, 32), dtype=np.float32)
    paths = [need_fixture(FLOAT), need_fixture(INT8)]
    c = tflkit.compare(paths, x, speed=False, per_tensor=True)
    written = [f.path for f in c.to_explorer(tmp_path)]
    assert [Path(p).name for p in written] == [
        "mlp_int8.snr.json",
        "mlp_int8.rmse.json",
        "mlp_int8.max_abs.json",
        "mlp_float32.range.json",
    ]
    assert c.per_tensor is not None
    snr = json.loads(Path(written[0]).read_text())["results"]
    assert snr == {t.name: {"value": t.snr_db} for t in c.per_tensor[0].tensors if t.name in snr}
    without = tflkit.compare(paths, x, speed=False)
    with pytest.raises(tflkit.TflkitError, match="no per-tensor errors"):
        without.to_explorer(tmp_path / "none")
    assert not (tmp_path / "none").exists()


def test_identical_tensors_are_left_out_and_listed(tmp_path: Path) -> None:
    """A model against itself: every SNR is infinite (no finite value for the gradient)."""
    x = np.random.default_rng(3).random((4, 32), dtype=np.float32)
    c = tflkit.compare([need_fixture(FLOAT), need_fixture(FLOAT)], x, speed=False, per_tensor=True)
    from tflkit._explorer import write_explorer

    files = {f.metric: f for f in write_explorer(c, tmp_path)}
    assert files["snr"].tensors == 0 and len(files["snr"].nonfinite) == 3
    assert json.loads(Path(files["snr"].path).read_text())["results"] == {}
    assert files["rmse"].tensors == 3  # zeros are finite; the input is no operator's output
    assert Path(files["snr"].path).name == "mlp_float32_1.snr.json"  # from "mlp_float32 [1]"


def test_dir_that_is_a_file_is_refused_before_the_work(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_text("keep")
    got = cli.invoke(
        "compare", need_fixture(FLOAT), need_fixture(INT8), "--no-speed", "--explorer", target
    )
    assert got.exit_code == 2, got.output
    assert got.stdout == ""
    assert got.stderr.count("\n") == 1 and "Traceback" not in got.stderr
    assert "expected a directory" in got.stderr and str(target) in got.stderr
    assert target.read_text() == "keep"


def test_nothing_written_on_error(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "nodes"
    # a model that cannot be read: the folder is never made
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a model")
    got = cli.invoke("compare", need_fixture(FLOAT), bad, "--no-speed", "--explorer", out)
    assert got.exit_code == 2 and not out.exists(), got.output
    # a target name taken by a folder: refused before any file is written
    out.mkdir()
    (out / "mlp_int8.max_abs.json").mkdir()
    got = cli.invoke(
        "compare", need_fixture(FLOAT), need_fixture(INT8), "--no-speed", "--explorer", out
    )
    assert got.exit_code == 2, got.output
    assert "mlp_int8.max_abs.json" in got.stderr and got.stderr.count("\n") == 1
    assert sorted(p.name for p in out.iterdir()) == ["mlp_int8.max_abs.json"]


def test_writing_needs_no_model_explorer(tmp_path: Path) -> None:
    code = (
        "import sys, numpy as np, tflkit\n"
        "x = np.zeros((2, 32), np.float32)\n"
        f"c = tflkit.compare([{str(need_fixture(FLOAT))!r}, {str(need_fixture(INT8))!r}], x,"
        " speed=False, per_tensor=True)\n"
        f"c.to_explorer({str(tmp_path)!r})\n"
        "print(sorted(m for m in sys.modules if m.startswith('model_explorer')))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    assert len(list(tmp_path.iterdir())) == 4


def test_readme_commands_and_what_the_picture_shows(cli: Cli, tmp_path: Path) -> None:
    """The README's "On the graph: Model Explorer" commands, run as written (the viewer's
    aside): the second convolution is the worst tensor, the first the best."""
    pytest.importorskip("tensorflow", reason="tflkit convert from .keras needs tflkit[convert]")
    section = (ROOT / "README.md").read_text().split("### On the graph: Model Explorer", 1)[1]
    block = re.search(r"^```bash\n(.*?)^```", section, re.M | re.S)
    assert block is not None
    lines = block.group(1).splitlines()
    assert lines[2] == "model-explorer int8.tflite --node_data_paths=nodes/int8.snr.json"
    for line in lines[:2]:
        args = [a.replace("fixtures/", f"{FIXTURES}/") for a in line.split()]
        assert args[0] == "tflkit"
        got = cli.invoke(*args[1:], entry="cli.py", cwd=tmp_path)
        assert got.exit_code == 0, got.output
    snr = json.loads((tmp_path / "nodes" / "int8.snr.json").read_text())["results"]
    order = sorted(snr, key=lambda k: snr[k]["value"])
    assert "/conv2_1/" in order[0] and "/conv1_1/" in order[-1]
    assert (tmp_path / "nodes" / "outlier_cnn_float32.range.json").is_file()


def test_shards_are_refused_naming_the_option_given(cli: Cli, tmp_path: Path) -> None:
    """Streamed shards have no per-tensor errors: ``--explorer`` is named, not the
    ``--per-tensor`` it implies; the library names only the arguments that came."""
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "part0.npy").write_bytes((FIXTURES / DATA).read_bytes())
    out = tmp_path / "nodes"
    models = [need_fixture(FLOAT), need_fixture(INT8)]
    got = cli.invoke("compare", *models, "--data", shards, "--no-speed", "--explorer", out)
    assert got.exit_code == 2 and got.stdout == "", got.output
    lines = got.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tflkit: error: --explorer needs per-tensor")
    assert "--per-tensor" not in lines[0] and str(shards) in lines[0]
    assert not out.exists()
    got = cli.invoke("compare", *models, "--data", shards, "--no-speed", "--per-tensor")
    assert got.stderr.splitlines() == [
        "tflkit: error: shards in --data stream through tflite models only: leave out --per-tensor"
    ]
    from tflkit.comparison import compare_files

    with pytest.raises(tflkit.InputError) as info:
        compare_files(models, shards, speed=False, per_tensor=True, samples=8)
    assert str(info.value).endswith("leave out per_tensor=True and samples=")
