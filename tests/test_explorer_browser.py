"""``--explorer`` node data in the real viewer: Model Explorer's server and headless Chromium.

The test writes the SNR node data of ``mlp_int8`` against ``mlp_float32`` with tflkit, starts
Model Explorer's own server (``model-explorer MODEL --node_data_paths=FILE``) on 127.0.0.1 and
loads its page in Debian's Chromium, driven over the DevTools protocol (tests/_chromium.py). Then,
for each of three tensors, it searches the graph for the node whose output is that tensor,
selects it (Alt+click, as a person would) and reads the NODE INFO panel: the node data value the
app shows and the output tensor name. Requests that would leave the machine (the app asks
fonts.gstatic.com for a web font) are failed by the browser, never sent.

As a script it takes the README's screenshot::

    python tests/test_explorer_browser.py MODEL NODE_DATA.json OUT.png
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: _chromium
from _chromium import SKIP_REASON, WAIT, Chromium, available  # noqa: E402

pytestmark = pytest.mark.skipif(not available(), reason=SKIP_REASON)

#: Where Model Explorer's page asks for its web font (Google Fonts): the one request refused.
FONT_HOSTS = {"fonts.gstatic.com", "fonts.googleapis.com"}


#: Starts tried before giving up: another process can take the free port between the moment it
#: is found and the moment the server binds it.
STARTS = 3
#: What the server says when its port was taken: its own check before binding
#: ("port N already in use.", then exit 1), or Werkzeug's bind in the server's app thread
#: failing after that check (the thread dies with the OSError; the process waits on).
PORT_TAKEN = re.compile(r"port \d+ already in use|Address already in use")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(cmd: list[str], log: Any) -> tuple[subprocess.Popen[bytes], str | None]:
    """Start the server on a free port: the process, and the page's URL (None: the port was
    taken before the server bound it, and the process is stopped)."""
    # Not ``--port 0`` (the kernel's pick, read back): Model Explorer 0.1.34 health-checks and
    # prints http://HOST:PORT/ with the port as given (model_explorer/server.py, start(): the
    # `requests.get(f'http://{host}:{port}/')` loop after `app.run(host=host, port=port)`), so
    # with 0 it would wait forever. Its default, 8080, makes it scan 8080-8099 itself: every
    # concurrent server then starts on the same port first. A port the kernel found free, and
    # another try when that port was taken meanwhile, is the narrowest race the server allows.
    log.seek(0)
    log.truncate()
    port = _free_port()
    proc = subprocess.Popen(
        [*cmd, "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    deadline = time.monotonic() + WAIT
    while True:
        log.seek(0)
        text = log.read()
        if PORT_TAKEN.search(text):  # first: a server that lost its port may still print a URL
            _stop(proc)
            return proc, None
        found = re.search(rf"http://127\.0\.0\.1:{port}/\?data=\S+", text)
        if found:
            return proc, found.group(0)
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            raise RuntimeError(f"model-explorer did not start:\n{text[-2000:]}")
        time.sleep(0.2)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def explorer_server(model: Path, node_data: Path) -> Iterator[str]:
    """``model-explorer MODEL --node_data_paths=FILE`` on 127.0.0.1; yields the page's URL."""
    cmd = [sys.executable, "-m", "model_explorer", str(model), f"--node_data_paths={node_data}"]
    cmd += ["--no_open_in_browser", "--host", "127.0.0.1"]
    with tempfile.TemporaryFile("w+") as log:
        for _ in range(STARTS):
            proc, url = _start(cmd, log)
            if url is not None:
                break
        else:
            log.seek(0)
            raise RuntimeError(f"model-explorer: no free port in {STARTS} tries:\n{log.read()}")
        try:
            yield url
        finally:
            _stop(proc)


def open_graph(page: Chromium, url: str, title: str) -> None:
    """Load Model Explorer's page and wait until the node data table shows ``title``."""
    page.navigate(url, load=False)  # the app draws after the load event: wait for the table
    page.wait_for(
        "(() => [...document.querySelectorAll('table.results tbody tr')].length > 0 && "
        f"document.body.innerText.includes({json.dumps(title)}))()",
        "the node data table",
    )


def _js_regex(text: str) -> str:
    return "^" + re.sub(r"[.*+?^${}()|\[\]\\/]", lambda m: "\\" + m.group(0), text) + "$"


def select_by_output(page: Chromium, tensor: str) -> dict[str, Any]:
    """Search the graph for the node whose output is ``tensor`` (Outputs only, the name as an
    anchored regex), Alt+click the result to select it, read NODE INFO: the node data values
    ({title: text}) and the output tensor names."""
    box = 'input[placeholder^="Search nodes"]'
    page.click(box)
    # typed text replaces the selection: the previous search goes
    page.eval(f"(() => {{ const e = document.querySelector({json.dumps(box)}); e.select(); }})()")
    page.send("Input.insertText", text=_js_regex(tensor))
    page.wait_for("document.querySelectorAll('.option-container').length > 0", "the results")
    # only the Outputs match type: a name may also be another node's input
    for option in ("Label", "Attrs", "Inputs"):
        selector = (
            "[...document.querySelectorAll('.option-container')].find(e => "
            f"e.innerText.trim().endsWith({json.dumps(option)}))"
        )
        if page.eval(f"{selector}?.classList.contains('selected') ?? false"):
            page.eval(f"{selector}.click()")
    page.wait_for(
        "document.querySelectorAll('mat-tree-node.leaf[data-id]').length === 1",
        f"one search result for {tensor!r}",
    )
    page.click("mat-tree-node.leaf[data-id] .label-and-metadata", alt=True)
    deadline = time.monotonic() + WAIT
    info: dict[str, Any] = {}
    while time.monotonic() < deadline:  # until the panel shows the node just selected
        text = page.text()
        if "NODE INFO" in text and "OUTPUTS (" in text:
            info = parse_node_info(text)
            if tensor in info["outputs"]:
                break
        page.pump(0.25)
    return info


def parse_node_info(text: str) -> dict[str, Any]:
    """The NODE DATA PROVIDERS rows and the OUTPUTS tensor names of the NODE INFO panel."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    start = lines.index("NODE INFO")
    data: dict[str, str] = {}
    if "NODE DATA PROVIDERS" in lines[start:]:
        i = lines.index("NODE DATA PROVIDERS", start) + 1
        while i + 1 < len(lines) and lines[i] != "expand_more":
            data[lines[i]] = lines[i + 1]
            i += 2
    outputs_at = next(i for i in range(start, len(lines)) if lines[i].startswith("OUTPUTS ("))
    outputs = [lines[i + 1] for i in range(outputs_at, len(lines) - 1) if lines[i] == "tensor_name"]
    return {"node_data": data, "outputs": outputs}


# ----------------------------------------------------------------------------- the test


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import numpy as np
    from conftest import FIXTURES, need_fixture

    import tflkit

    ref, model = need_fixture("mlp_float32.tflite"), need_fixture("mlp_int8.tflite")
    x = np.load(FIXTURES / "mlp_eval_x.npy")
    folder = tmp_path_factory.mktemp("explorer")
    files = tflkit.compare([ref, model], x, speed=False, per_tensor=True).to_explorer(folder)
    snr = next(f for f in files if f.metric == "snr")
    return {"model": model, "path": Path(snr.path), "doc": json.loads(Path(snr.path).read_text())}


def test_model_explorer_shows_the_snr_of_three_tensors(written: dict[str, Any]) -> None:
    doc = written["doc"]
    tensors = sorted(doc["results"])
    assert len(tensors) == 3  # the two FULLY_CONNECTED and the SOFTMAX of mlp_int8
    with explorer_server(written["model"], written["path"]) as url:
        page = Chromium(1600, 1000)
        try:
            open_graph(page, url, doc["name"])
            shown = {}
            for tensor in tensors:
                info = select_by_output(page, tensor)
                assert info["outputs"] == [tensor]  # the node selected writes that tensor
                shown[tensor] = info["node_data"]
            errors = page.errors()
            blocked = page.blocked
        finally:
            page.close()
    for tensor in tensors:
        # the app prints the number as JavaScript does: the same shortest round-trip digits
        assert float(shown[tensor][doc["name"]]) == doc["results"][tensor]["value"], tensor
    # the one off-machine request the page makes is its web font: refused, and its failed
    # load is no error; anything else leaving the machine, or any other error, fails
    assert {urllib.parse.urlsplit(u).hostname for u in blocked} <= FONT_HOSTS, blocked
    assert errors == [], (errors, blocked)


def test_a_port_taken_before_the_server_binds_it_is_tried_again(
    written: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import urllib.request

    with socket.socket() as taken:  # a port found free, then taken by someone else
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        first = [int(taken.getsockname()[1])]
        free = _free_port
        monkeypatch.setattr(
            sys.modules[__name__], "_free_port", lambda: first.pop() if first else free()
        )
        with explorer_server(written["model"], written["path"]) as url:
            port = urllib.parse.urlsplit(url).port
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as page:
                assert page.status == 200
        assert not first and port != taken.getsockname()[1]


def _screenshot(model: Path, node_data: Path, out: Path) -> None:
    """The README's picture: the graph, every layer expanded, with the node data overlay."""
    doc = json.loads(node_data.read_text())
    with explorer_server(model, node_data) as url:
        page = Chromium(1280, 1100)
        try:
            open_graph(page, url, doc["name"])
            for icon in ("unfold_more_double", "fit_screen"):  # expand every layer, then fit
                page.click(
                    icon,
                    element="[...document.querySelectorAll('mat-icon')].find(e => "
                    f"e.innerText.trim() === {json.dumps(icon)})",
                )
                page.pump(1.5)
            # the pointer off the toolbar: no tooltip in the picture
            page.send("Input.dispatchMouseEvent", type="mouseMoved", x=5, y=400)
            page.pump(1.5)
            page.screenshot(out)
        finally:
            page.close()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: python tests/test_explorer_browser.py MODEL NODE_DATA.json OUT.png")
    _screenshot(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
