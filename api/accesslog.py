"""The access log: one line per request on stdout, written in batches.

An ASGI middleware formats one line per request, in the format the gthread
server used (client, request line, status, body bytes, seconds, user agent):

    127.0.0.1 "GET / HTTP/1.1" 200 93 0.001834s "curl/8.5.0"

Writing each line with its own write and flush cost more CPU than the request
itself (~0.25 ms per request on a 2-core box, measured with ``invoke bench``),
so lines gather in memory and a background thread writes them every
``FLUSH_SECONDS`` in one write, as nginx's ``access_log ... buffer= flush=``
does. The worker flushes what is left when it stops (at the ASGI lifespan's
shutdown, after the last request has been answered); a worker killed outright
loses at most the last ``FLUSH_SECONDS`` of lines.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

FLUSH_SECONDS = 0.2

Scope = dict[str, Any]
Message = dict[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


class _Lines:
    """Lines waiting to be written, and the thread that writes them."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._flusher_pid: int | None = None

    def add(self, line: str) -> None:
        with self._lock:
            self._lines.append(line)
            start = self._flusher_pid != os.getpid()
            if start:
                # Threads do not survive fork: each worker starts its own.
                self._flusher_pid = os.getpid()
        if start:
            threading.Thread(target=self._flush_forever, name="access-log", daemon=True).start()

    def _flush_forever(self) -> None:
        # A daemon thread: it ends with the worker, whose exit hook flushes last.
        while True:
            time.sleep(FLUSH_SECONDS)
            self.flush()

    def flush(self) -> None:
        with self._lock:
            lines, self._lines = self._lines, []
        if lines:
            sys.stdout.write("".join(lines))
            sys.stdout.flush()


_lines = _Lines()


def flush() -> None:
    """Write every buffered line now, in one write."""
    _lines.flush()


class AccessLog:
    """ASGI middleware: one access-log line per HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, _flushing_at_shutdown(send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 500  # what the server answers if the app fails before replying
        length = 0

        async def send_and_note(message: Message) -> None:
            nonlocal status, length
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                length += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            _lines.add(format_line(scope, status, length, time.monotonic() - started))


def _flushing_at_shutdown(send: Any) -> Callable[[Message], Awaitable[None]]:
    """Flush the buffered lines before telling the server shutdown is complete:
    uvicorn then re-raises the SIGTERM it caught, and the worker is gone."""

    async def send_after_flush(message: Message) -> None:
        if message["type"] == "lifespan.shutdown.complete":
            flush()
        await send(message)

    return send_after_flush


def format_line(scope: Scope, status: int, length: int, seconds: float) -> str:
    client = scope.get("client")
    target = scope.get("raw_path") or scope["path"].encode()
    if scope.get("query_string"):
        target += b"?" + scope["query_string"]
    agent = next((v for k, v in scope["headers"] if k == b"user-agent"), b"-")
    request_line = f"{scope['method']} {target.decode('latin-1')} HTTP/{scope['http_version']}"
    return (
        f'{client[0] if client else "-"} "{request_line}" {status} {length or "-"} '
        f'{seconds:.6f}s "{agent.decode("latin-1")}"\n'
    )
