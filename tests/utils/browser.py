"""A real browser for the tests: headless Chromium driven through chromedriver.

The stack tier's browser test is the user the load balancer's sticky cookie is
for: one profile must keep meeting the same replica, fresh profiles must not.
This speaks the W3C WebDriver protocol (plain JSON over HTTP) with the standard
library, so the tests need no selenium: the protocol's handful of calls used
here is smaller than a dependency and its lock-file pins.

    with Browser() as browser:
        browser.get("http://127.0.0.1:8000/")
        text = browser.page_text()
        cookies = browser.cookies()

Each ``Browser`` is a fresh, empty profile in its own temporary folder, so two
browsers never share a cookie. By default each starts (and stops) its own
chromedriver; several browsers may share one ``ChromeDriver`` instead.

Every call has a bound: each HTTP request to chromedriver has a socket timeout,
and the session's page-load timeout is set, so a hung page or browser fails the
test instead of hanging it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from localservers.ports import free_port, wait_until
from tests.utils.tools import require_tool

# The one-line fix that a skip (laptop) or failure (CI=true) names.
HINT = "Debian: apt-get install chromium chromium-driver"

# chromedriver answers /status within a second or two; a loaded CI box is slower.
DRIVER_START_TIMEOUT = 30.0
# Creating a session starts Chromium itself: the slowest call.
SESSION_TIMEOUT = 60.0
# The session's own bound on a navigation; the HTTP call that asks for the
# navigation waits a little longer, so the browser's clearer error wins.
PAGE_LOAD_TIMEOUT = 30.0
SCRIPT_TIMEOUT = 10.0
# Any other WebDriver command (cookies, a script, closing the session).
COMMAND_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

JSONObject = dict[str, Any]


class WebDriverError(RuntimeError):
    """chromedriver refused a command, or answered something unexpected."""


def chromium_args(profile: Path) -> list[str]:
    """Chromium's command line for a fresh, headless, local-only profile."""
    args = [
        "--headless=new",
        # A profile of its own: no cookie, cache or storage shared with any
        # other browser (or with a developer's own Chromium).
        f"--user-data-dir={profile}",
        # No GPU in CI containers; headless draws in software anyway.
        "--disable-gpu",
        "--no-first-run",
        # Chromium honours http_proxy/https_proxy from the environment; the
        # tests' pages are on this machine and must be fetched directly.
        "--no-proxy-server",
        # Nothing off the machine: no update checks, no component downloads.
        "--disable-background-networking",
        "--disable-component-update",
        # Docker gives containers a 64 MB /dev/shm, too small for Chromium's
        # shared memory; /tmp has room.
        "--disable-dev-shm-usage",
    ]
    if os.geteuid() == 0:
        # Chromium's sandbox refuses to start as root ("Running as root without
        # --no-sandbox is not supported"), and CI containers run as root. As an
        # ordinary user the sandbox works, so it stays on there.
        args.append("--no-sandbox")
    return args


class ChromeDriver:
    """A chromedriver process on a free loopback port, ready for sessions.

    A context manager; ``stop()`` ends it and every Chromium it started."""

    def __init__(self) -> None:
        # Found now, so a missing chromedriver skips (or fails) before anything starts.
        self.executable = require_tool("chromedriver", HINT)
        self.port = 0
        self.workdir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None, "chromedriver has not started"
        return self.workdir / "chromedriver.log"

    def start(self) -> None:
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="visit-counter-chromedriver-"))
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [self.executable, f"--port={self.port}", f"--log-path={self.log_path}"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                # Its own process group: stop() can end the Chromium processes
                # it started too, even when chromedriver itself is gone.
                start_new_session=True,
            )
        try:
            wait_until(self._ready, DRIVER_START_TIMEOUT, f"chromedriver (log: {self.log_path})")
        except BaseException:
            self.stop()
            raise

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise WebDriverError(f"chromedriver exited: {self.log_tail()}")
        try:
            status = self.request("GET", "/status", timeout=2)
        except (OSError, WebDriverError):
            return False
        return isinstance(status, dict) and status.get("ready") is True

    def request(
        self, method: str, path: str, body: JSONObject | None = None, timeout: float = 30.0
    ) -> Any:
        """One WebDriver command; returns the answer's ``value``.

        http.client rather than urllib: it never routes through a proxy named
        in the environment, and a fresh connection per call keeps no state."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            payload = None if body is None else json.dumps(body).encode()
            headers = {"Content-Type": "application/json; charset=utf-8"} if payload else {}
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        try:
            answer = json.loads(raw)
        except ValueError:
            raise WebDriverError(
                f"{method} {path}: HTTP {response.status}, not JSON: {raw[:200]!r}"
            ) from None
        value = answer.get("value") if isinstance(answer, dict) else None
        if response.status != 200:
            detail = value if isinstance(value, dict) else {}
            # The message's first line: the rest is chromedriver's stack trace.
            message = str(detail.get("message") or raw[:200]).strip().splitlines() or [""]
            raise WebDriverError(
                f"{method} {path}: HTTP {response.status} {detail.get('error', '')}: {message[0]}"
            )
        return value

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except (AssertionError, OSError):
            return "(no log)"

    def stop(self) -> None:
        """End chromedriver and every Chromium it started; remove its files.

        May be called more than once, and after a failed start."""
        process, self.process = self.process, None
        if process is not None:
            # The whole group, not chromedriver alone: a Chromium whose session
            # was never closed would outlive it. Until chromedriver is reaped
            # its pid (the group's id) cannot name anyone else's processes.
            self._signal_group(process, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._signal_group(process, signal.SIGKILL)
                process.wait(timeout=STOP_TIMEOUT)
            # Chromium's own processes may outlast the TERM; while any of them
            # is left the group, and so its id, is still theirs.
            self._signal_group(process, signal.SIGKILL)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    @staticmethod
    def _signal_group(process: subprocess.Popen[bytes], signum: signal.Signals) -> None:
        # ProcessLookupError: nothing left in the group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signum)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class Browser:
    """One headless Chromium session with a fresh temporary profile.

    A context manager. Without ``driver`` it starts its own chromedriver and
    stops it on ``quit()``; with one, it only closes its own session there.
    ``quit()`` always closes the session and removes the profile, and may be
    called more than once."""

    def __init__(self, driver: ChromeDriver | None = None) -> None:
        # Both found first, so a missing one skips (or fails) before anything starts.
        self.binary = require_tool("chromium", HINT)
        self._owns_driver = driver is None
        self.driver = driver if driver is not None else ChromeDriver()
        self.profile: Path | None = None
        self.session_id: str | None = None

    def start(self) -> None:
        try:
            self.profile = Path(tempfile.mkdtemp(prefix="visit-counter-chromium-"))
            if self._owns_driver:
                self.driver.start()
            capabilities = {
                "browserName": "chrome",
                # get() returns once the page has loaded.
                "pageLoadStrategy": "normal",
                "timeouts": {
                    "pageLoad": int(PAGE_LOAD_TIMEOUT * 1000),
                    "script": int(SCRIPT_TIMEOUT * 1000),
                    "implicit": 0,
                },
                "goog:chromeOptions": {
                    "binary": self.binary,
                    "args": chromium_args(self.profile),
                },
            }
            value = self.driver.request(
                "POST",
                "/session",
                {"capabilities": {"alwaysMatch": capabilities}},
                timeout=SESSION_TIMEOUT,
            )
            session_id = value.get("sessionId") if isinstance(value, dict) else None
            if not isinstance(session_id, str):
                raise WebDriverError(f"no session id in chromedriver's answer: {value!r}")
            self.session_id = session_id
        except BaseException:
            self.quit()
            raise

    def _command(
        self,
        method: str,
        command: str,
        body: JSONObject | None = None,
        timeout: float = COMMAND_TIMEOUT,
    ) -> Any:
        if self.session_id is None:
            raise WebDriverError("the browser has no session (not started, or quit)")
        path = f"/session/{self.session_id}{command}"
        return self.driver.request(method, path, body, timeout=timeout)

    def get(self, url: str) -> None:
        """Load ``url`` and wait for the page to finish loading."""
        self._command("POST", "/url", {"url": url}, timeout=PAGE_LOAD_TIMEOUT + 10)

    def execute(self, script: str, *args: Any) -> Any:
        """Run JavaScript (a function body) in the page; returns what it returns."""
        return self._command("POST", "/execute/sync", {"script": script, "args": list(args)})

    def page_text(self) -> str:
        """The page's visible text (``document.body.innerText``)."""
        text = self.execute("return document.body ? document.body.innerText : null;")
        if not isinstance(text, str):
            raise WebDriverError("the page has no body")
        return text

    def cookies(self) -> list[dict[str, Any]]:
        """The current page's cookies, as WebDriver describes them (name, value,
        domain, path, httpOnly, secure, sameSite, and expiry when set)."""
        value = self._command("GET", "/cookie")
        if not isinstance(value, list):
            raise WebDriverError(f"cookies: not a list: {value!r}")
        return value

    def cookie(self, name: str) -> str | None:
        """The value of the current page's cookie ``name``, or None."""
        for cookie in self.cookies():
            if cookie.get("name") == name:
                return str(cookie.get("value"))
        return None

    def quit(self) -> None:
        """Close the session, stop an own chromedriver, remove the profile."""
        session_id, self.session_id = self.session_id, None
        try:
            # Closing the session ends its Chromium. Should that fail, stopping
            # the driver ends it anyway (its whole process group): here for an
            # own driver, at the shared driver's stop() otherwise.
            if session_id is not None:
                with contextlib.suppress(OSError, WebDriverError):
                    self.driver.request("DELETE", f"/session/{session_id}", timeout=COMMAND_TIMEOUT)
        finally:
            if self._owns_driver:
                self.driver.stop()
            if self.profile is not None:
                shutil.rmtree(self.profile, ignore_errors=True)
                self.profile = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.quit()
