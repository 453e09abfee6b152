"""The browser tests' one Chromium: Debian's headless ``chromium`` driven over the DevTools
protocol (``websockets``' sync client), shared by tests/test_html_browser.py (the ``--html``
report from file://) and tests/test_explorer_browser.py (Model Explorer's page on 127.0.0.1).

Each ``Chromium`` starts its own browser with a fresh ``--user-data-dir`` (removed on close) and
the flags below, on one tab. Every request stops at the Fetch domain first: file:, data:,
blob:, about: and 127.0.0.1 / localhost go on, anything else is failed by the browser
(``BlockedByClient``), never sent, and listed in ``blocked``; ``requests()`` lists every URL the
page asked for (the Network domain), ``errors()`` the console errors, uncaught exceptions and
error log entries but the failed loads of the requests blocked here.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

CHROMIUM = "/usr/bin/chromium"
#: Why a browser test is skipped where there is no browser (.ci/run installs it).
SKIP_REASON = f"no Chromium at {CHROMIUM} (Debian: apt-get install -y chromium; .ci/run does)"
# Nothing in the background (no sync, component or first-run traffic), no sandbox (containers)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-port=0",  # Chromium picks a free port, written to DevToolsActivePort
)
WAIT = 90.0  # seconds for the browser and a page to come up or answer (2 shared cores)


def available() -> bool:
    """A Chromium to run, and the websockets package to drive it."""
    if not os.access(CHROMIUM, os.X_OK):
        return False
    try:
        import websockets.sync.client  # noqa: F401
    except ImportError:  # pragma: no cover - a dev dependency
        return False
    return True


def local(url: str) -> bool:
    """A URL that stays on this machine."""
    if url.startswith(("file:", "data:", "blob:", "about:")):
        return True
    return urllib.parse.urlsplit(url).hostname in ("127.0.0.1", "localhost")


class Chromium:
    """One headless Chromium with one tab: commands, and the events that came."""

    def __init__(self, width: int = 1280, height: int = 900) -> None:
        from websockets.sync.client import connect

        self.profile = tempfile.mkdtemp(prefix="tflkit-chromium-")
        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}", f"--window-size={width},{height}"]
            + ["about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.stack = contextlib.ExitStack()
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        self.blocked: list[str] = []  # off-machine requests failed by the browser
        try:
            port_file = Path(self.profile, "DevToolsActivePort")
            deadline = time.monotonic() + WAIT
            while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{CHROMIUM} did not start (exit code {self.proc.poll()})")
                time.sleep(0.05)
            port = int(port_file.read_text().split()[0])
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as r:
                tab = next(t for t in json.load(r) if t["type"] == "page")
            self.ws = self.stack.enter_context(
                connect(tab["webSocketDebuggerUrl"], max_size=None, open_timeout=30)
            )
            for domain in ("Page", "Runtime", "Network", "Log"):
                self.send(f"{domain}.enable")
            self.send("Fetch.enable", patterns=[{"urlPattern": "*"}])
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Chromium:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------ the protocol

    def _event(self, msg: dict[str, Any]) -> None:
        if msg.get("method") == "Fetch.requestPaused":  # every request stops here first
            request_id, url = msg["params"]["requestId"], msg["params"]["request"]["url"]
            if local(url):
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
        """One DevTools command; its result (events that come meanwhile are kept)."""
        wanted = self._command(method, **params)
        while True:
            msg = json.loads(self.ws.recv(timeout=WAIT))
            if msg.get("id") == wanted:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
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

    def wait_event(self, method: str, since: int = 0) -> dict[str, Any]:
        """The first event ``method`` from ``events[since:]`` on, waiting for it."""
        deadline = time.monotonic() + WAIT
        while True:
            for e in self.events[since:]:
                if e.get("method") == method:
                    return e
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {WAIT:.0f} s waiting for {method}")
            self.pump(0.1)

    # ------------------------------------------------------------ the page

    def viewport(self, width: int, height: int) -> None:
        """The page's viewport in CSS pixels (a phone below 600 wide)."""
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=width < 600,
        )

    def navigate(self, url: str, *, load: bool = True) -> None:
        """Go to ``url``; the events (and ``blocked``) start afresh. ``load``: wait for the
        load event."""
        self.events.clear()
        self.blocked.clear()
        self.send("Page.navigate", url=url)
        if load:
            self.wait_event("Page.loadEventFired")

    def eval(self, expression: str) -> Any:
        """The value of a JavaScript expression (a promise is awaited)."""
        got = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in got:
            raise RuntimeError(f"page script failed: {expression[:60]}: {got['exceptionDetails']}")
        return got["result"].get("value")

    def wait_for(self, expression: str, what: str) -> Any:
        """The first truthy value of ``expression``, polled every 0.25 s."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            value = self.eval(expression)
            if value:
                return value
            self.pump(0.25)
        raise AssertionError(f"timed out after {WAIT:.0f} s waiting for {what}")

    def click(self, selector: str, *, alt: bool = False, element: str | None = None) -> None:
        """A real mouse click in the middle of the first element ``selector`` matches (or the
        element the JavaScript expression ``element`` gives), Alt held when ``alt``."""
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

    def requests(self) -> list[str]:
        """Every URL the page asked for since it was opened, blocked ones too."""
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent"
        ]

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries (a CSP refusal too), but
        the failed loads of the requests blocked here."""
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

    def screenshot(self, path: str | os.PathLike[str], *, full_page: bool = False) -> None:
        """A PNG of the viewport, or of the whole page's scroll size."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            w, h = self.eval("[document.documentElement.scrollWidth, document.body.scrollHeight]")
            params["captureBeyondViewport"] = True
            params["clip"] = {"x": 0, "y": 0, "width": w, "height": h, "scale": 1}
        data = self.send("Page.captureScreenshot", **params)["data"]
        Path(path).write_bytes(base64.b64decode(data))

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
