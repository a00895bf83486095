"""A real headless Chromium, driven over the DevTools protocol, for the served web pages.

Debian's `chromium` package, no browser download: the test starts it with a fresh profile,
opens one page, records console errors, uncaught exceptions and failed requests, and runs
JavaScript in the page. Only `websockets` (already installed with uvicorn) is needed.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-extensions",
                  "--remote-debugging-port=0", "--remote-allow-origins=*"]


def chromium_path() -> str | None:
    """The Chromium binary, if installed (`apt-get install -y chromium`)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageLog:
    """What the page reported: console errors, uncaught exceptions and failed requests."""

    errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)
    posted: list[str] = field(default_factory=list)

    def record(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            args = params.get("args", [])
            self.errors.append(" ".join(str(a.get("value", a.get("description", "")))
                                        for a in args))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.errors.append(details.get("exception", {}).get("description")
                               or details.get("text", "exception"))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.errors.append(f"{params['entry'].get('url', '')}: {params['entry']['text']}")
        elif method == "Network.requestWillBeSent":
            self.requested.append(params["request"]["url"])
            if params["request"].get("postData"):
                self.posted.append(params["request"]["postData"])
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            self.failed_requests.append(params.get("errorText", "failed"))


class Page:
    """One tab: send DevTools commands, wait for JavaScript conditions."""

    def __init__(self, socket: Any, log: PageLog) -> None:
        self._socket, self.log = socket, log
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self._socket:
            message = json.loads(raw)
            if "id" in message and message["id"] in self._pending:
                self._pending.pop(message["id"]).set_result(message)
            elif "method" in message:
                self.log.record(message["method"], message.get("params", {}))

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools command; its result, or an AssertionError with its error."""
        call_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        await self._socket.send(json.dumps({"id": call_id, "method": method, "params": params}))
        reply = await asyncio.wait_for(future, 30)
        assert "error" not in reply, f"{method}: {reply['error']}"
        result: dict[str, Any] = reply["result"]
        return result

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                                 awaitPromise=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 30.0) -> Any:
        """Poll a JavaScript expression until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        guarded = (f"(() => {{ try {{ const v = ({expression}); return v instanceof Node || v; }}"
                   " catch (e) { return null; } })()")
        while True:
            value = await self.evaluate(guarded)
            if value:
                return value
            if time.monotonic() > deadline:
                first = [e.splitlines()[0] for e in self.log.errors[:3]]
                raise AssertionError(f"timed out waiting for {expression!r}; "
                                     f"{len(self.log.errors)} page errors, first {first}")
            await asyncio.sleep(0.2)

    async def screenshot(self, path: Path) -> None:
        """A PNG of the viewport."""
        import base64

        data = (await self.send("Page.captureScreenshot", format="png"))["data"]
        path.write_bytes(base64.b64decode(data))

    async def close(self) -> None:
        self._reader.cancel()
        await self._socket.close()


def _devtools_port(profile: Path, process: subprocess.Popen[bytes], timeout: float) -> int:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if marker.exists() and marker.read_text().strip():
            return int(marker.read_text().splitlines()[0])
        if process.poll() is not None:
            raise AssertionError(f"chromium exited with {process.returncode}")
        time.sleep(0.1)
    raise AssertionError("chromium did not open its DevTools port")


async def with_page(url: str, work: Callable[[Page], Awaitable[Any]],
                    cookies: list[dict[str, Any]] | None = None, timeout: float = 60.0) -> Any:
    """Open `url` in a fresh headless Chromium, run `work(page)`, then close everything."""
    binary = chromium_path()
    assert binary, "chromium is not installed"
    with tempfile.TemporaryDirectory(prefix="longcepo-chromium-", ignore_cleanup_errors=True) as tmp:
        profile = Path(tmp)
        process = subprocess.Popen([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                                    "about:blank"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        try:
            port = _devtools_port(profile, process, timeout)
            async with websockets.connect(_first_page_socket(port), max_size=2**26) as socket:
                page = Page(socket, PageLog())
                for domain in ("Page", "Runtime", "Log", "Network"):
                    await page.send(f"{domain}.enable")
                for cookie in cookies or []:
                    await page.send("Network.setCookie", **cookie)
                await page.send("Page.navigate", url=url)
                try:
                    return await asyncio.wait_for(work(page), timeout)
                finally:
                    await page.close()
        finally:
            _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop Chromium and its helper processes (its own process group)."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            time.sleep(0.2)  # helpers leave after the browser
        except subprocess.TimeoutExpired:
            continue


def _first_page_socket(port: int) -> str:
    import urllib.request

    deadline = time.monotonic() + 15
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as reply:
            pages = [t for t in json.loads(reply.read()) if t.get("type") == "page"]
        if pages:
            return str(pages[0]["webSocketDebuggerUrl"])
        if time.monotonic() > deadline:
            raise AssertionError("chromium opened no page")
        time.sleep(0.1)
