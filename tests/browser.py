"""A small Chrome DevTools Protocol client, standard library only, for the browser tests.

Why: the dashboard's defects (a stale result, a lost focus, a page wider than
a phone) show only in a real browser running the real script.  This drives
headless Chromium (Debian package ``chromium``) through its DevTools protocol
over ``--remote-debugging-pipe``: Chromium reads commands from its file
descriptor 3 and writes answers and events to descriptor 4, each message one
JSON text ended by a NUL byte.  A pipe needs no port, no websocket and no
discovery over HTTP, and it closes when Chromium ends.

:class:`Browser` launches Chromium with ``os.posix_spawn`` (which places the
pipe ends on descriptors 3 and 4 without a ``preexec_fn``), attaches to its
page and offers what the tests need: navigate, evaluate, wait for a
condition, set the viewport, move the mouse, press keys, take a screenshot,
and the console errors seen so far.  Every wait is bounded; :meth:`close` ends
Chromium by its PID and removes its profile directory.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import signal
import tempfile
import time
from typing import Any, Dict, List, Optional

#: Chromium as root in a container needs --no-sandbox; the rest keeps it from
#: talking to the internet or to a GPU, and from first-run dialogs.
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--disable-extensions", "--mute-audio",
    "--remote-debugging-pipe",
)

#: Keys Input.dispatchKeyEvent needs to know by their Windows virtual key code.
KEYS = {
    "Tab": 9, "Enter": 13, "Escape": 27, " ": 32, "End": 35, "Home": 36,
    "ArrowLeft": 37, "ArrowUp": 38, "ArrowRight": 39, "ArrowDown": 40,
}


def find_chromium() -> Optional[str]:
    """The Chromium executable: /usr/bin/chromium, else ``chromium`` on PATH, else None."""
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium") or shutil.which("chromium-browser")


class BrowserError(RuntimeError):
    """Chromium ended, answered an error, or did not answer in time."""


class Browser:
    """One headless Chromium with one page, driven over the DevTools pipe."""

    def __init__(self, executable: str, width: int = 1280, height: int = 900,
                 timeout: float = 20.0) -> None:
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="statsd-chromium-")
        self.log_path = os.path.join(self.profile, "chromium.log")
        to_chromium_read, to_chromium_write = os.pipe()
        from_chromium_read, from_chromium_write = os.pipe()
        log = os.open(self.log_path, os.O_WRONLY | os.O_CREAT, 0o600)
        devnull = os.open(os.devnull, os.O_RDONLY)
        argv = [executable, *FLAGS, f"--user-data-dir={self.profile}",
                f"--window-size={width},{height}", "about:blank"]
        try:
            self.pid = os.posix_spawn(executable, argv, dict(os.environ), file_actions=[
                (os.POSIX_SPAWN_DUP2, devnull, 0),
                (os.POSIX_SPAWN_DUP2, log, 1),
                (os.POSIX_SPAWN_DUP2, log, 2),
                (os.POSIX_SPAWN_DUP2, to_chromium_read, 3),
                (os.POSIX_SPAWN_DUP2, from_chromium_write, 4),
            ])
        finally:
            for fd in (to_chromium_read, from_chromium_write, log, devnull):
                os.close(fd)
        self.writer = to_chromium_write
        self.reader = from_chromium_read
        self.buffer = b""
        self.next_id = 0
        self.events: List[Dict[str, Any]] = []
        self.session: Optional[str] = None
        self.closed = False
        try:
            self._attach()
        except BaseException:
            self.close()
            raise

    # -- the protocol ---------------------------------------------------------

    def _write(self, message: Dict[str, Any]) -> None:
        data = json.dumps(message).encode() + b"\0"
        while data:
            written = os.write(self.writer, data)
            data = data[written:]

    def _read_message(self, deadline: float) -> Dict[str, Any]:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("Chromium did not answer in time")
            ready, _, _ = select.select([self.reader], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.reader, 1 << 16)
            if not chunk:
                raise BrowserError(f"Chromium closed its pipe; its log: {self.log_text()[-800:]}")
            self.buffer += chunk
        text, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(text)

    def send(self, method: str, params: Optional[Dict[str, Any]] = None,
             session: bool = True, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Send one command (to the page's session unless ``session`` is false); return its result."""
        self.next_id += 1
        message: Dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        self._write(message)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            answer = self._read_message(deadline)
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            if "method" in answer:
                self.events.append(answer)

    def wait_event(self, method: str, timeout: Optional[float] = None) -> Dict[str, Any]:
        """The first event ``method`` not yet consumed, waiting for it if need be."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for index, event in enumerate(self.events):
                if event["method"] == method:
                    return self.events.pop(index)
            message = self._read_message(deadline)
            if "method" in message:
                self.events.append(message)

    def _attach(self) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            targets = self.send("Target.getTargets", session=False)["targetInfos"]
            pages = [target for target in targets if target["type"] == "page"]
            if pages:
                break
            if time.monotonic() > deadline:
                raise BrowserError("Chromium opened no page")
            time.sleep(0.1)
        self.session = self.send("Target.attachToTarget",
                                 {"targetId": pages[0]["targetId"], "flatten": True},
                                 session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")

    # -- what the tests use -------------------------------------------------------

    def navigate(self, url: str) -> None:
        """Open ``url`` and wait for its load event (none comes when only the hash changes)."""
        self.events = [event for event in self.events if event["method"] != "Page.loadEventFired"]
        result = self.send("Page.navigate", {"url": url})
        if "errorText" in result:
            raise BrowserError(f"{url}: {result['errorText']}")
        if result.get("loaderId"):  # a new document, not a move within this one
            self.wait_event("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises are awaited)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                "returnByValue": True})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(f"{expression[:80]}: "
                               f"{details.get('exception', {}).get('description') or details}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: Optional[float] = None,
                 what: str = "") -> Any:
        """Poll ``expression`` until it is truthy and return it; BrowserError after ``timeout``."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out waiting for {what or expression}")
            time.sleep(0.05)

    def viewport(self, width: int, height: int, mobile: bool = False) -> None:
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})

    def mouse_move(self, x: float, y: float) -> None:
        self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})

    def click_at(self, x: float, y: float) -> None:
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y,
                                                   "button": "left", "clickCount": 1})

    def press(self, key: str, shift: bool = False) -> None:
        """Press and release one key, as a person would (it moves focus, activates, ...)."""
        code = KEYS.get(key, ord(key.upper()) if len(key) == 1 else 0)
        params: Dict[str, Any] = {"key": key, "code": key if len(key) > 1 else f"Key{key.upper()}",
                                  "windowsVirtualKeyCode": code, "nativeVirtualKeyCode": code,
                                  "modifiers": 8 if shift else 0}
        down = dict(params, type="keyDown")
        if key in ("Enter", " ") or len(key) == 1:
            down["text"] = "\r" if key == "Enter" else key
        self.send("Input.dispatchKeyEvent", down)
        self.send("Input.dispatchKeyEvent", dict(params, type="keyUp"))

    def screenshot(self, path: str, full_page: bool = False) -> None:
        params: Dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            size = self.evaluate("[document.documentElement.scrollWidth,"
                                 " document.documentElement.scrollHeight]")
            params["clip"] = {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}
        data = self.send("Page.captureScreenshot", params)["data"]
        with open(path, "wb") as handle:
            handle.write(base64.b64decode(data))

    def console_errors(self) -> List[str]:
        """Uncaught exceptions, console.error calls and failed loads seen so far."""
        # Collect events that arrived while nothing was read.
        while True:
            ready, _, _ = select.select([self.reader], [], [], 0)
            if not ready:
                break
            chunk = os.read(self.reader, 1 << 16)
            if not chunk:
                break
            self.buffer += chunk
            while b"\0" in self.buffer:
                text, self.buffer = self.buffer.split(b"\0", 1)
                message = json.loads(text)
                if "method" in message:
                    self.events.append(message)
        errors = []
        for event in self.events:
            params = event.get("params", {})
            if event["method"] == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                errors.append(details.get("exception", {}).get("description")
                              or details.get("text", "exception"))
            elif event["method"] == "Runtime.consoleAPICalled" and params.get("type") == "error":
                errors.append(" ".join(str(arg.get("value", arg.get("description", "")))
                                       for arg in params.get("args", [])))
            elif event["method"] == "Log.entryAdded" and params["entry"]["level"] == "error":
                errors.append(f"{params['entry'].get('url', '')}: {params['entry']['text']}")
        return errors

    def log_text(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except OSError:
            return ""

    def close(self) -> None:
        """Ask Chromium to close, end it by PID if it does not, remove its profile."""
        if self.closed:
            return
        self.closed = True
        try:
            self.send("Browser.close", session=False, timeout=5)
        except (BrowserError, OSError):
            pass
        deadline = time.monotonic() + 10
        ended = False
        while time.monotonic() < deadline:
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                ended = True
                break
            time.sleep(0.05)
        if not ended:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        for fd in (self.writer, self.reader):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)
