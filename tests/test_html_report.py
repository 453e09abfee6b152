"""``compare --html`` / ``convert --html`` (issue 24): one self-contained page whose tables hold
the numbers of ``--json`` from the same run.

Truths: html5lib's strict parser (the page is valid HTML5), the ``--json`` document of the same
command (every number, exactly and as shown), the LiteRT interpreter's input and output details
(scales and zero points) and its operator order (the chart's graph order).
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _html_tables import check_tables, etree_tables, json_number, shown_matches
from conftest import FIXTURES, Cli, litert_interpreter

html5lib = pytest.importorskip("html5lib")

F32, I8 = FIXTURES / "mlp_float32.tflite", FIXTURES / "mlp_int8.tflite"
X, Y = FIXTURES / "mlp_eval_x.npy", FIXTURES / "mlp_eval_y.npy"


def parse(page: str) -> Any:
    """The page through html5lib's strict parser: any parse error raises."""
    parser = html5lib.HTMLParser(
        tree=html5lib.getTreeBuilder("etree"), strict=True, namespaceHTMLElements=False
    )
    return parser.parse(page)


def els(root: Any, name: str) -> list[Any]:
    """Elements by local name (html5lib puts SVG's in the SVG namespace)."""
    return [e for e in root.iter() if isinstance(e.tag, str) and e.tag.split("}")[-1] == name]


# Attributes that make a browser fetch (or navigate to) what they name
_URL_ATTRS = {"src", "href", "srcset", "action", "formaction", "poster", "data", "background"}


def assert_self_contained(root: Any, page: str) -> None:
    """No URL leaves the document: no src/href but fragments and data: URIs, no external
    stylesheet, no @import, no url() but data:, no http(s) anywhere in the markup."""
    for el in root.iter():
        for k, v in el.attrib.items():
            if k.split("}")[-1].split(":")[-1] in _URL_ATTRS:
                assert v.startswith(("#", "data:")), (el.tag, k, v)
        assert el.tag not in ("link", "iframe", "object", "embed", "img", "base"), el.tag
    css = " ".join("".join(s.itertext()) for s in root.iter("style"))
    assert "@import" not in css
    assert all(u.strip("'\" ").startswith("data:") for u in re.findall(r"url\(([^)]*)\)", css))
    assert not re.search(r"https?://", page)
    csp = [m for m in root.iter("meta") if m.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0].get("content")


@pytest.fixture(scope="module")
def compare_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    """One ``compare --per-tensor --json --html`` run: its JSON and its page."""
    from typer.testing import CliRunner

    from tflkit.cli import app

    report = tmp_path_factory.mktemp("html") / "report.html"
    args = [str(F32), str(I8), "--data", str(X), "--labels", str(Y), "--per-tensor"]
    got = CliRunner().invoke(app, ["compare", *args, "--json", "--html", str(report)])
    assert got.exit_code == 0, got.output
    doc = json.loads(got.stdout)
    return doc, report.read_text(encoding="utf-8")


def test_compare_page_parses_and_is_self_contained(compare_run: tuple[dict[str, Any], str]):
    doc, page = compare_run
    root = parse(page)
    assert_self_contained(root, page)
    assert root.find("head/meta[@name='viewport']") is not None  # phone width
    assert doc["html"].endswith("report.html")


def test_every_number_in_the_tables_is_the_json_one(compare_run: tuple[dict[str, Any], str]):
    doc, page = compare_run
    tables = etree_tables(parse(page))
    kinds = {t["kind"] for t in tables}
    assert {"size", "output", "speed", "throughput", "per-tensor", "io"} <= kinds
    checked = check_tables(tables, doc)
    per = doc["per_tensor"][0]["tensors"]
    # size and vs ref per model, accuracy, delta, agree and five errors per model, the speed
    # tables, and five figures per tensor
    assert checked >= 2 * (2 + 8 + 5 + 4) + 5 * len(per)


def test_io_scales_and_zero_points_are_the_interpreters(compare_run: tuple[dict[str, Any], str]):
    _, page = compare_run
    tables = [t for t in etree_tables(parse(page)) if t["kind"] == "io"]
    assert [t["attrs"]["model"] for t in tables] == ["mlp_float32", "mlp_int8"]
    interp = litert_interpreter(I8)
    details = [*interp.get_input_details(), *interp.get_output_details()]
    rows = tables[1]["rows"]
    assert len(rows) == len(details)
    for row, d in zip(rows, details, strict=True):
        cells = {c["key"]: c for c in row["cells"] if c["key"]}
        scale, zp = d["quantization"]
        assert float(cells["scale"]["v"]) == pytest.approx(scale, rel=1e-7)
        assert shown_matches(cells["scale"]["text"], scale, 1.0)
        assert int(cells["zero_point"]["v"]) == zp
        assert cells["dtype"]["text"] == np.dtype(d["dtype"]).name
    float_rows = tables[0]["rows"]
    assert all(not c["text"] for r in float_rows for c in r["cells"][4:])  # no scales


def test_per_tensor_chart_follows_the_interpreters_operator_order(
    compare_run: tuple[dict[str, Any], str],
) -> None:
    doc, page = compare_run
    root = parse(page)
    interp = litert_interpreter(I8)
    interp.allocate_tensors()
    names = {d["index"]: d["name"] for d in interp.get_tensor_details()}
    order = [d["name"] for d in interp.get_input_details()]
    for op in interp._get_ops_details():  # the interpreter's own operator list, in run order
        order += [names[i] for i in op["outputs"] if names[i] not in order]
    measured = {t["name"] for t in doc["per_tensor"][0]["tensors"]}
    want = [n for n in order if n in measured]
    svg = next(s for s in els(root, "svg") if s.get("data-chart") == "per-tensor")
    bars = ["".join(els(r, "title")[0].itertext()) for r in els(svg, "rect")]
    got = [t.split(" ", 1)[1].rsplit(": ", 1)[0] for t in bars]
    assert got == want
    table = next(t for t in etree_tables(root) if t["kind"] == "per-tensor")
    positions = {r["row"]: int(r["cells"][1]["v"]) for r in table["rows"]}
    assert sorted(positions, key=positions.__getitem__) == want


def test_model_strings_are_escaped(tmp_path: Path) -> None:
    """A file, model and tensor name holding markup shows as text, never as an element."""
    import tflkit

    evil = "<script>alert('x')</script>&<b>"
    f = tmp_path / "<img src=x onerror=alert(1)>.tflite"
    shutil.copy(I8, f)
    c = tflkit.compare([str(F32), str(f)], np.load(X)[:32], per_tensor=True, speed=False)
    assert c.per_tensor is not None
    p = c.per_tensor[0]
    first = replace(p.tensors[0], name=evil)
    c = replace(c, per_tensor=(replace(p, tensors=(first, *p.tensors[1:])),), notes=(evil,))
    page = c.to_html()
    root = parse(page)
    assert len(list(root.iter("script"))) == 1  # tflkit's own sorting script
    assert not list(root.iter("img")) and not list(root.iter("b"))
    texts = ["".join(td.itertext()) for td in root.iter("td")]
    assert evil in texts and f.stem in texts
    assert evil in "".join(root.find("body").itertext())


def test_repr_html_is_a_fragment_with_the_tables() -> None:
    import tflkit

    c = tflkit.compare([str(F32), str(I8)], np.load(X)[:32], speed=False)
    frag = c._repr_html_()
    assert "<html" not in frag and "<body" not in frag
    root = html5lib.parseFragment(frag, treebuilder="etree", namespaceHTMLElements=False)
    kinds = [t.get("data-table") for t in root.iter("table")]
    assert kinds.count("output") == 1 and "size" in kinds


def test_to_html_writes_the_page_whole(tmp_path: Path) -> None:
    import tflkit

    c = tflkit.compare([str(F32), str(I8)], np.load(X)[:16], speed=False)
    out = tmp_path / "r.html"
    assert c.to_html(out) == out.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]  # no temporary file left


@pytest.mark.parametrize("where", ["missing/r.html", "."])
def test_an_unwritable_report_path_is_one_line_and_exit_2(
    where: str, tmp_path: Path, cli: Cli
) -> None:
    target = tmp_path / where
    got = cli.invoke(
        "compare", str(F32), str(I8), "--data", str(X), "-n", "8", "--no-speed",
        "--html", str(target),
    )  # fmt: skip
    assert got.exit_code == 2, got.output
    lines = got.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tflkit: error: report "), lines
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written, nothing left


def test_convert_max_drop_page_has_the_search_steps(tmp_path: Path, cli: Cli) -> None:
    pytest.importorskip("litert_quantizer")
    from conftest import MANIFEST

    files = MANIFEST["models"]["outlier_mlp_float32.tflite"]["selective"]["files"]
    report = tmp_path / "convert.html"
    got = cli.invoke(
        "convert", str(FIXTURES / "outlier_mlp_float32.tflite"), "-o", str(tmp_path / "s.tflite"),
        "-c", str(FIXTURES / files["calib"]), "--eval", str(FIXTURES / files["eval_x"]),
        "-l", str(FIXTURES / files["eval_y"]), "--max-drop", "1", "--json",
        "--html", str(report),
    )  # fmt: skip
    assert got.exit_code == 0, got.stderr
    doc = json.loads(got.stdout)
    assert doc["html"] == str(report)
    from importlib import resources

    jsonschema = pytest.importorskip("jsonschema")
    schema = resources.files("tflkit").joinpath("schemas/convert.schema.json").read_text()
    jsonschema.validate(doc, json.loads(schema))
    page = report.read_text(encoding="utf-8")
    root = parse(page)
    assert_self_contained(root, page)
    tables = etree_tables(root)
    search = next(t for t in tables if t["kind"] == "search")
    steps = doc["search"]["steps"]
    assert len(search["rows"]) == len(steps)
    for i, (row, step) in enumerate(zip(search["rows"], steps, strict=True)):
        cells = {c["key"]: c for c in row["cells"]}
        assert cells["phase"]["text"].rstrip(" *") == step["phase"]
        assert cells["phase"]["text"].endswith("*") == (i == doc["search"]["chosen"])
        assert int(cells["kept"]["v"]) == len(step["kept"])
        assert int(cells["size_bytes"]["v"]) == step["size_bytes"]
        for key in ("accuracy", "snr_db", "invoke_ms"):
            assert float(cells[key]["v"]) == json_number(step[key])
        assert cells["meets"]["text"] == ("yes" if step["meets"] else "no")
    curve = next(s for s in els(root, "svg") if s.get("data-chart") == "search")
    assert len(els(curve, "circle")) == len(steps)
    kept = "".join(root.find("body").itertext())
    assert all(name in kept for name in doc["kept_float"])
    # the comparison with the float32 conversion: the same numbers as --json's
    check_tables([t for t in tables if t["kind"] != "search"], doc["comparison"])
    verdict = next(p for p in root.iter("p") if p.get("data-check") is not None)
    assert ("PASS" in "".join(verdict.itertext())) == doc["check"]["passed"]


def test_a_failed_check_is_shown_with_its_findings(tmp_path: Path, cli: Cli) -> None:
    """cnn_uint8_io is int8 inside with uint8 inputs and outputs (the interpreter says so):
    the int8 profile fails on its I/O dtype, and the page says FAIL with those findings."""
    model = FIXTURES / "cnn_uint8_io.tflite"
    interp = litert_interpreter(model)
    io = [*interp.get_input_details(), *interp.get_output_details()]
    assert {np.dtype(d["dtype"]).name for d in io} == {"uint8"}
    report = tmp_path / "r.html"
    got = cli.invoke("compare", model, model, "-n", "4", "--no-speed", "--html", report)
    assert got.exit_code == 0, got.output
    assert f"report written to {report}" in got.stderr
    root = parse(report.read_text(encoding="utf-8"))
    verdicts = [p for p in root.iter("p") if p.get("data-check") is not None]
    assert len(verdicts) == 2 and all("FAIL" in "".join(v.itertext()) for v in verdicts)
    rules = ["".join(s.itertext()) for s in root.iter("summary")]
    assert any(r.startswith("int8-io-dtype (violation, ") for r in rules), rules
    findings = ["".join(li.itertext()) for d in root.iter("details") for li in d.iter("li")]
    assert findings and sum("uint8" in f for f in findings) >= len(io)


def test_the_json_with_html_follows_the_schema(compare_run: tuple[dict[str, Any], str]) -> None:
    from importlib import resources

    jsonschema = pytest.importorskip("jsonschema")
    doc, _ = compare_run
    schema = resources.files("tflkit").joinpath("schemas/compare.schema.json").read_text()
    jsonschema.validate(doc, json.loads(schema))


def test_convert_refuses_an_existing_report_without_force(tmp_path: Path, cli: Cli) -> None:
    report = tmp_path / "r.html"
    report.write_text("kept")
    out = tmp_path / "m.tflite"
    got = cli.invoke("convert", F32, "-o", out, "-c", X, "--html", report)
    assert got.exit_code == 2, got.output
    assert got.stderr.strip() == f"tflkit: error: {report} exists; add --force to replace it"
    assert report.read_text() == "kept" and not out.exists()


def test_compare_prints_its_report_when_the_page_cannot_be_written(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills up between the check of the path and the page: the --json document
    (without "html") is still printed, then the one-line error, exit 2."""
    from tflkit.comparison import Comparison

    def disk_full(self: Any, path: Any = None) -> str:
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(Comparison, "to_html", disk_full)
    report = tmp_path / "r.html"
    got = cli.invoke(
        "compare", I8, F32, "-d", X, "-n", "8", "--no-speed", "--json", "--html", report
    )
    assert got.exit_code == 2, got.output
    doc = json.loads(got.stdout)
    assert "html" not in doc and len(doc["models"]) == 2
    assert got.stderr.strip().splitlines() == [f"tflkit: error: {report}: no space left on device"]
    assert not report.exists()
