"""``--explorer`` node data in the real viewer: Model Explorer's server and headless Chromium.

The test writes the SNR node data of ``mlp_int8`` against ``mlp_float32`` with tflkit, starts
Model Explorer's own server (``model-explorer MODEL --node_data_paths=FILE``) on 127.0.0.1 and
loads its page in Debian's Chromium, driven over the DevTools protocol (``websockets``). Then,
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
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
# Flags of the brief: no first-run, sync, component or background traffic, a fresh profile.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-port=0",  # Chromium picks a free port, written to DevToolsActivePort
)
WAIT = 90.0  # seconds for the server, the browser and the page to come up (2 shared cores)

pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"no Chromium at {CHROMIUM} (Debian: apt-get install -y chromium)",
)


def _local(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname
    return url.startswith(("data:", "blob:", "about:")) or host in ("127.0.0.1", "localhost")


class Page:
    """One Chromium tab over the DevTools protocol: commands, and the events that came."""

    def __init__(self, width: int = 1600, height: int = 1000) -> None:
        from websockets.sync.client import connect

        self.profile = tempfile.mkdtemp(prefix="tflkit-chromium-")
        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}", f"--window-size={width},{height}"]
            + ["about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = Path(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + WAIT
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"{CHROMIUM} did not start (exit code {self.proc.poll()})")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as r:
            tabs = json.load(r)
        tab = next(t for t in tabs if t["type"] == "page")
        self.stack = contextlib.ExitStack()
        self.ws = self.stack.enter_context(
            connect(tab["webSocketDebuggerUrl"], max_size=None, open_timeout=30)
        )
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        self.blocked: list[str] = []  # off-machine requests failed by the browser
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.send(f"{domain}.enable")
        self.send("Fetch.enable", patterns=[{"urlPattern": "*"}])

    def _event(self, msg: dict[str, Any]) -> None:
        if msg.get("method") == "Fetch.requestPaused":  # every request stops here first
            request_id, url = msg["params"]["requestId"], msg["params"]["request"]["url"]
            if _local(url):
                self._command("Fetch.continueRequest", requestId=request_id)
            else:
                self.blocked.append(url)
                self._command(
                    "Fetch.failRequest", requestId=request_id, errorReason="BlockedByClient"
                )
        self.events.append(msg)

    def _command(self, method: str, **params: Any) -> int:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        return self.next_id

    def send(self, method: str, **params: Any) -> Any:
        wanted = self._command(method, **params)
        while True:
            msg = json.loads(self.ws.recv(timeout=WAIT))
            if msg.get("id") == wanted:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result")
            if "method" in msg:
                self._event(msg)

    def pump(self, seconds: float) -> None:
        """Take events (and answer paused requests) for ``seconds``."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            try:
                msg = json.loads(self.ws.recv(timeout=left))
            except TimeoutError:
                return
            if "method" in msg:
                self._event(msg)

    def eval(self, expression: str) -> Any:
        got = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in got:
            raise RuntimeError(f"{expression[:60]}...: {got['exceptionDetails']}")
        return got["result"].get("value")

    def wait_for(self, expression: str, what: str) -> Any:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            value = self.eval(expression)
            if value:
                return value
            self.pump(0.25)
        raise AssertionError(f"timed out after {WAIT:.0f} s waiting for {what}")

    def click(self, selector: str, *, alt: bool = False, element: str | None = None) -> None:
        """A real mouse click in the middle of the first element ``selector`` matches (or the
        element the JavaScript expression ``element`` gives)."""
        find = element or f"document.querySelector({json.dumps(selector)})"
        box = self.wait_for(
            f"(() => {{ const e = {find}; if (!e) return null; "
            "const r = e.getBoundingClientRect(); return r.width ? "
            "[r.x + r.width / 2, r.y + r.height / 2] : null; })()",
            selector,
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                type=kind,
                x=box[0],
                y=box[1],
                button="left",
                clickCount=1,
                modifiers=1 if alt else 0,
            )

    def text(self) -> str:
        return str(self.eval("document.body.innerText"))

    def errors(self) -> list[str]:
        """Console errors, exceptions and failed loads, but the requests this page blocked."""
        found = []
        for e in self.events:
            method, p = e.get("method"), e.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(json.dumps(p["exceptionDetails"])[:300])
            elif method == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
                found.append(" ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
            elif method == "Log.entryAdded" and p["entry"]["level"] == "error":
                entry = p["entry"]
                if entry.get("source") == "network" and entry.get("url") in self.blocked:
                    continue
                found.append(f"{entry.get('url', '')}: {entry['text']}")
        return found

    def screenshot(self, path: Path) -> None:
        import base64

        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stack.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def explorer_server(model: Path, node_data: Path) -> Iterator[str]:
    """``model-explorer MODEL --node_data_paths=FILE`` on 127.0.0.1; yields the page's URL."""
    cmd = [sys.executable, "-m", "model_explorer", str(model), f"--node_data_paths={node_data}"]
    cmd += ["--no_open_in_browser", "--host", "127.0.0.1", "--port", str(_free_port())]
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + WAIT
            url = None
            while url is None:
                log.seek(0)
                found = re.search(r"http://127\.0\.0\.1:\d+/\?data=\S+", log.read())
                if found:
                    url = found.group(0)
                elif proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"model-explorer did not start:\n{log.read()[-2000:]}")
                else:
                    time.sleep(0.2)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def open_graph(page: Page, url: str, title: str) -> None:
    """Load Model Explorer's page and wait until the node data table shows ``title``."""
    page.send("Page.navigate", url=url)
    page.wait_for(
        "(() => [...document.querySelectorAll('table.results tbody tr')].length > 0 && "
        f"document.body.innerText.includes({json.dumps(title)}))()",
        "the node data table",
    )


def _js_regex(text: str) -> str:
    return "^" + re.sub(r"[.*+?^${}()|\[\]\\/]", lambda m: "\\" + m.group(0), text) + "$"


def select_by_output(page: Page, tensor: str) -> dict[str, Any]:
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
        page = Page()
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
    # failed loads of the off-machine requests the page refused (its web font) are no error
    assert errors == [], (errors, blocked)


def _screenshot(model: Path, node_data: Path, out: Path) -> None:
    """The README's picture: the graph, every layer expanded, with the node data overlay."""
    doc = json.loads(node_data.read_text())
    with explorer_server(model, node_data) as url:
        page = Page(1280, 1100)
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
