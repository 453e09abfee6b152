"""The ``--html`` report in a real browser (issue 24): Debian's headless Chromium, driven over
the DevTools protocol by tests/_chromium.py.

Truths: what Chromium itself says after loading the page from file:// - the tables read back
from its DOM (compared with the ``--json`` of the same run), its console and uncaught
exceptions, every request it recorded (Network domain), its layout at a 390 px wide phone
viewport, the order of rows after a click on a header (the sort script ran).

Skipped, with the reason shown, only where no chromium is installed (.ci/run installs it).

Run as a script, it writes the README's screenshot:
    python tests/test_html_browser.py REPORT.html docs/report.png
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: the helpers
from _chromium import SKIP_REASON, Chromium, available  # noqa: E402
from _html_tables import check_tables  # noqa: E402

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

# The tables in the shape tests/_html_tables.py reads with html5lib
READ_TABLES = """
Array.from(document.querySelectorAll("table")).map(function (t) {
  var attrs = {}, kind = "";
  Array.from(t.attributes).forEach(function (a) {
    if (a.name === "data-table") kind = a.value;
    else if (a.name.indexOf("data-") === 0) attrs[a.name.slice(5)] = a.value;
  });
  return {
    kind: kind, attrs: attrs,
    caption: t.caption ? t.caption.textContent : "",
    headers: Array.from(t.tHead.rows[0].cells).map(function (c) {
      return c.textContent.trim(); }),
    rows: Array.from(t.tBodies[0].rows).map(function (r) {
      return {row: r.getAttribute("data-row"), cells: Array.from(r.cells).map(function (c) {
        return {key: c.getAttribute("data-key") || "", v: c.getAttribute("data-v"),
                text: c.textContent.trim()}; })}; })
  };
})
"""


def open_page(
    b: Chromium, path: Path, width: int, height: int = 900, *, scripts: bool = True
) -> None:
    """Load the report at a viewport ``width`` wide; the events start afresh. ``scripts``:
    wait a frame for the page's script (with scripts off nothing runs, not even that)."""
    b.viewport(width, height)
    b.navigate(path.resolve().as_uri())
    if scripts:
        b.eval("new Promise(function (r) { requestAnimationFrame(function () { r(1); }); })")


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    if not available():
        pytest.skip(SKIP_REASON)
    b = Chromium()
    try:
        yield b
    finally:
        b.close()


def compare_report(out: Path) -> dict[str, Any]:
    """``tflkit compare`` of the float and int8 MLPs with --per-tensor: its --json, and the
    page written to ``out``."""
    from typer.testing import CliRunner

    from tflkit.cli import app

    args = [
        "compare", str(FIXTURES / "mlp_float32.tflite"), str(FIXTURES / "mlp_int8.tflite"),
        "--data", str(FIXTURES / "mlp_eval_x.npy"), "--labels", str(FIXTURES / "mlp_eval_y.npy"),
        "--per-tensor", "--json", "--html", str(out),
    ]  # fmt: skip
    got = CliRunner().invoke(app, args)
    assert got.exit_code == 0, got.output
    return dict(json.loads(got.stdout))


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("browser") / "report.html"
    return out, compare_report(out)


def test_tables_in_the_dom_hold_the_json_numbers(
    browser: Chromium, report: tuple[Path, dict[str, Any]]
) -> None:
    path, doc = report
    open_page(browser, path, 1200)
    assert browser.errors() == []
    assert browser.requests() == [path.resolve().as_uri()]  # the file itself, nothing else
    assert browser.blocked == []
    tables = browser.eval(READ_TABLES)
    assert check_tables(tables, doc) > 20


def test_phone_width_has_no_horizontal_overflow(
    browser: Chromium, report: tuple[Path, dict[str, Any]]
) -> None:
    path, _ = report
    open_page(browser, path, 390, 844)
    assert browser.eval("window.innerWidth") == 390
    widths = browser.eval(
        "[document.documentElement.scrollWidth, document.body.scrollWidth, "
        "document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[2] and widths[1] <= widths[2], widths
    # the wide tables scroll inside their own box instead
    boxes = browser.eval(
        "Array.from(document.querySelectorAll('.scroll')).map(function (d) {"
        "  var r = d.getBoundingClientRect(); return [r.left, r.right]; })"
    )
    assert boxes and all(left >= 0 and right <= 390 for left, right in boxes), boxes
    assert browser.errors() == []
    assert browser.requests() == [path.resolve().as_uri()]


def test_a_click_on_a_header_sorts_the_per_tensor_table(
    browser: Chromium, report: tuple[Path, dict[str, Any]]
) -> None:
    path, doc = report
    open_page(browser, path, 1200)
    read = (
        "Array.from(document.querySelectorAll('table[data-table=per-tensor] tbody tr'))"
        ".map(function (r) { return r.getAttribute('data-row'); })"
    )
    click = (
        "Array.from(document.querySelectorAll('table[data-table=per-tensor] th'))"
        ".find(function (h) { return h.textContent.indexOf('{}') === 0; }).click(); 1"
    )
    tensors = doc["per_tensor"][0]["tensors"]
    assert browser.eval(read) == [t["name"] for t in tensors]  # worst first, as --json
    browser.eval(click.replace("{}", "RMSE"))
    assert browser.eval(read) == [t["name"] for t in sorted(tensors, key=lambda t: t["rmse"])]
    browser.eval(click.replace("{}", "RMSE"))
    by_rmse = sorted(tensors, key=lambda t: -t["rmse"])
    assert browser.eval(read) == [t["name"] for t in by_rmse]
    browser.eval(click.replace("{}", "tensor"))
    by_name = sorted(tensors, key=lambda t: t["name"].lower())
    assert browser.eval(read) == [t["name"] for t in by_name]
    assert browser.errors() == []


def test_the_page_reads_the_same_with_javascript_off(
    browser: Chromium, report: tuple[Path, dict[str, Any]]
) -> None:
    path, doc = report
    browser.send("Emulation.setScriptExecutionDisabled", value=True)
    try:
        open_page(browser, path, 390, 844, scripts=False)
        browser.send("Emulation.setScriptExecutionDisabled", value=False)  # to read the DOM
        assert check_tables(browser.eval(READ_TABLES), doc) > 20
        assert browser.eval("document.querySelectorAll('th.sort').length") == 0  # no script ran
        assert browser.eval("document.documentElement.scrollWidth") <= 390
    finally:
        browser.send("Emulation.setScriptExecutionDisabled", value=False)


def _main(argv: list[str]) -> int:
    """``python tests/test_html_browser.py REPORT.html SHOT.png [WIDTH]``: a screenshot of
    the whole page at WIDTH (default 900) CSS pixels."""
    if not available():
        print(SKIP_REASON, file=sys.stderr)
        return 2
    page, out = Path(argv[0]), Path(argv[1])
    width = int(argv[2]) if len(argv) > 2 else 900
    b = Chromium()
    try:
        open_page(b, page, width)
        b.screenshot(out, full_page=True)
    finally:
        b.close()
    print(f"{out}: {os.path.getsize(out):,} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
