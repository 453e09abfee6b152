"""Human output of inspect and check on long real-world names: every line fits the terminal,
no trailing whitespace, op names whole, long names shortened in the middle (start and end
kept), full names in --json. The long names are written into a committed fixture with
LiteRT's flatbuffer object API, so the truth is the edit itself."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jsonschema
import numpy as np
import pytest
from conftest import ALL_FIXTURES, MODELS, Cli, edited, fixture_path, litert_interpreter

from tflkit.render import ELLIPSIS, shorten_middle

BASE = "mlp_int8_float_io.tflite"  # float I/O quantized inside: the I/O table's widest case
SUBGRAPH = "subgraph_" + "s" * 87 + "_end"  # 100 characters
WIDTHS = (80, 200)


def _tensor_name(i: int) -> str:
    fused = (
        f"model_1/model/block_{i}/re_lu/Relu6;model_1/model/batch_normalization/FusedBatchNormV3;"
    )
    return (fused * 3)[:190] + f"_tensor{i:03d}"  # 200 characters, unique at both ends


def _signature_name(kind: str, n: int) -> str:
    return f"{kind}_{n}_" + "signature" * 13 + f"_end_{kind}"


def _long_names(m: Any) -> None:
    sg = m.subgraphs[0]
    sg.name = SUBGRAPH.encode()
    for i, t in enumerate(sg.tensors):
        t.name = _tensor_name(i).encode()
    for sd in m.signatureDefs:
        for kind, xs in (("in", sd.inputs), ("out", sd.outputs)):
            for n, x in enumerate(xs):
                x.name = _signature_name(kind, n).encode()


@pytest.fixture(scope="module")
def long_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("long") / "long_names.tflite"
    path.write_bytes(edited(BASE, _long_names))
    return str(path)


def _assert_fits(text: str, width: int) -> list[str]:
    lines = text.splitlines()
    assert lines
    for line in lines:
        assert len(line) <= width, line
        assert line == line.rstrip(), repr(line)
    return lines


def _assert_unwrapped(cli: Cli, width: int, *args: str, wide: Any = None) -> list[str]:
    """The output at ``width`` fits it, and a line that fits is not wrapped: rich wraps a
    longer line, so lengths alone cannot fail. At 1000 columns nothing needs wrapping; each
    line there that fits ``width`` must be found whole at ``width`` (a finding's message
    longer than the terminal wraps, indented, by design). ``wide``: the same command's result
    at 1000 columns, when the caller already has it."""
    result = cli.invoke(*args, width=width)
    if wide is None:
        wide = cli.invoke(*args, width=1000)
    assert result.exit_code in (0, 1), result.stderr
    lines = _assert_fits(result.stdout, width)
    fitting = [line for line in wide.stdout.splitlines() if len(line) <= width]
    assert [line for line in fitting if line not in lines] == []
    return lines


def _cells(lines: list[str]) -> list[str]:
    return [c.strip() for line in lines for c in line.split("\u2502")[1:-1]]


# ------------------------------------------------------------------ the helper


@pytest.mark.parametrize(
    ("text", "width", "expected"),
    [
        ("abcdefghij", 10, "abcdefghij"),
        ("abcdefghij", 9, "abcd\u2026ghij"),  # 4 + 1 + 4
        ("abcdefghij", 5, "ab\u2026ij"),
        ("abcdefghij", 6, "abc\u2026ij"),  # the start gets the odd cell
        ("abcdefghij", 2, "a\u2026"),
        ("abcdefghij", 1, "\u2026"),
        ("abcdefghij", 0, ""),
        ("\u65e5\u672c\u8a9e\u65e5\u672c\u8a9e", 5, "\u65e5\u2026\u8a9e"),  # wide: 2 cells each
    ],
)
def test_shorten_middle_by_hand(text: str, width: int, expected: str) -> None:
    assert shorten_middle(text, width) == expected


def test_shorten_middle_keeps_both_ends_at_every_width() -> None:
    name = _tensor_name(7)
    for width in range(3, len(name) + 5):
        short = shorten_middle(name, width)
        assert len(short) == min(width, len(name))
        if width >= len(name):
            assert short == name
            continue
        head, tail = short.split(ELLIPSIS)
        assert name.startswith(head) and name.endswith(tail)
        assert len(head) - len(tail) in (0, 1)


# ------------------------------------------------------------------ inspect


@pytest.mark.parametrize("width", WIDTHS)
def test_inspect_long_names_fit_and_ops_stay_whole(long_model: str, width: int, cli: Cli) -> None:
    result = cli.invoke("inspect", "--tensors", long_model, width=width)
    assert result.exit_code == 0, result.stderr
    lines = _assert_fits(result.stdout, width)
    cells = _cells(lines)
    # Every op name of the model (the manifest) is one whole cell.
    for op in MODELS[BASE]["ops"][0]:
        assert op in cells, op
    # The subgraph's name: whole when the terminal has room, else its start and end.
    label = f"0 {SUBGRAPH}"
    sg_cells = [c for c in cells if c.startswith("0 subgraph_")]
    assert len(sg_cells) == 1
    if width >= 200:
        assert sg_cells[0] == label
    else:
        head, tail = sg_cells[0].split(ELLIPSIS)
        assert label.startswith(head) and label.endswith(tail) and len(tail) >= 8
    # Tensors table: one row per tensor, its name's start and end, never one letter a line.
    rows = [
        line
        for line in lines
        if line.startswith("\u2502") and line.split("\u2502")[1].strip().isdigit()
    ]
    doc = json.loads(cli.invoke("inspect", "--json", long_model, width=width).stdout)
    n_tensors = len(doc["subgraphs"][0]["tensors"])
    assert [int(r.split("\u2502")[1]) for r in rows] == list(range(n_tensors))
    for r in rows:
        i, cell = int(r.split("\u2502")[1]), r.split("\u2502")[2].strip()
        name = _tensor_name(i)
        head, tail = cell.split(ELLIPSIS)
        assert name.startswith(head) and name.endswith(tail) and len(head) >= 4
        assert tail.endswith(f"{i:03d}")  # the ends tell the tensors apart
    # I/O table: the signature names, shortened the same way.
    for kind in ("in", "out"):
        io = [c for c in cells if c.startswith(f"{kind}_0_")]
        assert len(io) == 1
        full = _signature_name(kind, 0)
        if ELLIPSIS in io[0]:
            head, tail = io[0].split(ELLIPSIS)
            assert full.startswith(head) and full.endswith(tail)
        else:
            assert io[0] == full


def test_inspect_json_keeps_the_full_names(long_model: str, cli: Cli) -> None:
    doc = json.loads(cli.invoke("inspect", "--json", long_model).stdout)
    sg = doc["subgraphs"][0]
    assert sg["name"] == SUBGRAPH
    assert [t["name"] for t in sg["tensors"]] == [
        _tensor_name(i) for i in range(len(sg["tensors"]))
    ]
    sig = doc["signatures"][0]
    assert sig["inputs"][0]["name"] == _signature_name("in", 0)


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_inspect_and_check_have_no_trailing_whitespace(name: str, cli: Cli) -> None:
    path = str(fixture_path(name))
    for args in (
        ["inspect", "--tensors", path],
        *(["check", "-p", p, path] for p in ("int8", "int16x8", "float16")),
    ):
        wide = cli.invoke(*args, width=1000)  # one run at 1000 columns for every width
        for width in WIDTHS:
            _assert_unwrapped(cli, width, *args, wide=wide)


# ------------------------------------------------------------------ check


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("profile", ["int8", "int16x8"])
def test_check_findings_shorten_long_names(
    long_model: str, width: int, profile: str, cli: Cli
) -> None:
    result = cli.invoke("check", "-p", profile, long_model, width=width)
    assert result.exit_code == 1
    lines = _assert_fits(result.stdout, width)
    doc = json.loads(cli.invoke("check", "--json", "-p", profile, long_model, width=width).stdout)
    findings = doc["violations"]
    assert findings
    listed = [line for line in lines if line.startswith("    subgraph 0 ")]
    for f in findings:
        name = _tensor_name(f["tensor"])
        assert name in f["message"]  # --json: the whole name
        hits = [line for line in listed if f"tensor {f['tensor']} '" in line]
        if f["rule"] == "no-float-tensors":
            continue  # counted under the summary line, not listed
        assert len(hits) == 1
        quoted = hits[0].split("'")[1]
        head, tail = quoted.split(ELLIPSIS)
        assert name.startswith(head) and name.endswith(tail)
    # A finding takes at most two lines (a 200-character name took four or five); three
    # when it also says how to get int8 I/O.
    starts = [k for k, line in enumerate(lines) if line.startswith("    subgraph")]
    ends = [
        *starts[1:],
        next(k for k, line in enumerate(lines) if not line.startswith("    ") and k > starts[-1]),
    ]
    most = 3 if profile == "int8" and width == 80 else 2
    assert all(e - s <= most for s, e in zip(starts, ends, strict=True)), lines
    # The verdict line is one line, whatever the path's length.
    assert lines[0].startswith("FAIL  ") and lines[0].endswith(" warnings")


def test_check_of_a_float32_model_leads_with_one_summary_line(cli: Cli) -> None:
    path = str(fixture_path("mlp_float32.tflite"))
    lines = _assert_fits(cli.invoke("check", path).stdout, 80)
    doc = json.loads(cli.invoke("check", "--json", path).stdout)
    assert lines[0].startswith("FAIL  ") and lines[0].endswith("6 violations, 0 warnings")
    assert lines[1].startswith(
        "  float32 model: nothing is quantized; convert with full-integer quantization"
    )
    assert doc["summary"].startswith(lines[1].strip())
    # --json keeps every finding; the human output lists the I/O ones and counts the rest.
    # Truth: the interpreter's float tensors that are graph inputs or some op's output.
    interp = litert_interpreter(path)
    ins = [d["index"] for d in interp.get_input_details()]
    outs = [d["index"] for d in interp.get_output_details()]
    made = {int(i) for op in interp._get_ops_details() for i in op["outputs"]}
    floats = [
        d["index"]
        for d in interp.get_tensor_details()
        if d["dtype"] is np.float32 and (d["index"] in made or d["index"] in ins)
    ]
    float_tensors = [f["tensor"] for f in doc["violations"] if f["rule"] == "no-float-tensors"]
    assert sorted(float_tensors) == sorted(floats)
    count = f"  no-float-tensors (violation, {len(floats)}): not listed (--json lists all)"
    assert count in lines
    assert not any("expected an integer type" in line for line in lines)
    io = [f["tensor"] for f in doc["violations"] if f["rule"] == "int8-io-dtype"]
    assert io == ins + outs
    assert any(f"input 0, tensor {ins[0]} " in line for line in lines)
    assert any(f"output 0, tensor {outs[0]} " in line for line in lines)


def test_inspect_shows_the_in_graph_quantization_of_float_io(cli: Cli) -> None:
    path = fixture_path(BASE)
    interp = litert_interpreter(path)
    details = interp.get_tensor_details()
    ops = interp._get_ops_details()
    quantize = next(o for o in ops if o["op_name"] == "QUANTIZE")
    dequantize = next(o for o in ops if o["op_name"] == "DEQUANTIZE")
    out = cli.invoke("inspect", str(path)).stdout
    doc = json.loads(cli.invoke("inspect", "--json", str(path)).stdout)
    sg = doc["subgraphs"][0]
    for io, inner in (
        (sg["inputs"][0], int(quantize["outputs"][0])),
        (sg["outputs"][0], int(dequantize["inputs"][0])),
    ):
        scale, zp = details[inner]["quantization"]
        lo, hi = (-128 - zp) * scale, (127 - zp) * scale
        assert f"[{lo:.4g}, {hi:.4g}]*" in out and f"{scale:.4g}*" in out
        got = sg["tensors"][io]["quantized_in_graph"]
        assert got["tensor_index"] == inner and got["dtype"] == "int8"
        assert got["quantization"]["scales"] == pytest.approx([scale]) and got["quantization"][
            "zero_points"
        ] == [zp]
        assert got["real_range"] == pytest.approx([lo, hi])
        assert sg["tensors"][io]["real_range"] is None  # the float tensor itself has none
    assert got["op"] == "DEQUANTIZE"
    assert "* quantized inside the graph" in out
    others = [t for t in sg["tensors"] if t["index"] not in sg["inputs"] + sg["outputs"]]
    assert all(t["quantized_in_graph"] is None for t in others)
    plain = cli.invoke("inspect", str(fixture_path("mlp_int8.tflite"))).stdout
    assert "*" not in plain


def test_check_report_json_has_kind_and_summary(cli: Cli) -> None:
    schema = json.loads(resources.files("tflkit").joinpath("schemas/check.schema.json").read_text())
    for name in ("mlp_float32.tflite", "mlp_int8.tflite", "mlp_int8_float_io.tflite"):
        doc = json.loads(cli.invoke("check", "--json", str(fixture_path(name))).stdout)
        jsonschema.Draft202012Validator(schema).validate(doc)
        assert doc["quantization_kind"] == MODELS[name]["quantization_kind"]
        assert (doc["summary"] is None) == MODELS[name]["fully_int8"]


def test_readme_check_example_is_the_output(monkeypatch: pytest.MonkeyPatch, cli: Cli) -> None:
    import re

    from conftest import ROOT

    monkeypatch.chdir(ROOT)  # the README's relative path
    readme = (ROOT / "README.md").read_text()
    block = re.search(
        r"```console\n\$ tflkit check fixtures/mlp_int8_float_io.tflite\n(.*?)```", readme, re.S
    )
    assert block is not None
    result = cli.invoke("check", "fixtures/mlp_int8_float_io.tflite")
    assert block.group(1).splitlines() == result.stdout.splitlines()


def test_list_rules_fits_without_trailing_whitespace(cli: Cli) -> None:
    from tflkit.checks import RULES

    for width in WIDTHS:
        result = cli.invoke("check", "--list-rules", width=width)
        assert result.exit_code == 0
        cells = _cells(_assert_fits(result.stdout, width))
        assert all(rule in cells for rule in RULES)  # every rule id whole


def test_every_render_name_resolves_and_rich_waits_for_drawing() -> None:
    # `from tflkit.render import X` for every public name; the dicts and plain lines need no
    # rich (`inspect --json` and `diff` run without it), the tables import it when drawn.
    import subprocess
    import sys

    import tflkit.render as render

    assert [name for name in render.__all__ if getattr(render, name, None) is None] == []
    assert set(render.__all__) <= set(dir(render))
    code = (
        "import sys\n"
        "from tflkit.render import diff_lines, diff_to_dict, json_float, model_to_dict\n"
        "from tflkit.render import comparison_to_dict, report_to_dict, shorten_middle\n"
        "assert shorten_middle('abcdef', 4) == 'ab\u2026f'\n"
        "assert 'rich' not in sys.modules, sorted(m for m in sys.modules if 'rich' in m)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
