"""The access log: one line per request on stdout, written in batches.

An ASGI middleware formats one line per request. By default it is the format
the gthread server used (client, request line, status, body bytes, seconds,
user agent), followed by the request's id:

    127.0.0.1 "GET / HTTP/1.1" 200 93 0.001834s "curl/8.5.0" 5f0c9e1d7a2b4c3e

With ``LOG_FORMAT=json`` the same facts, and the replica, are one JSON object.

Every request has an id: the client's ``X-Request-ID`` when it sent a sane
one, else a new random one. The answer carries it back in ``X-Request-ID``,
so a client, a proxy and this log can name the same request.

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
import random
import re
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from api.logformat import json_line, timestamp

FLUSH_SECONDS = 0.2

# A client's X-Request-ID is kept when it is short and plain (it ends up in
# log lines and headers); anything else gets a fresh id instead.
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")

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


def request_id(scope: Scope) -> str:
    """The client's X-Request-ID if it is sane, else a new random one."""
    sent = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"")
    if _SANE_REQUEST_ID.fullmatch(sent):
        return sent.decode("ascii")
    # 128 random bits as 32 hex digits, like uuid4().hex but without its
    # getrandom() system call per request. An id names a request; it guards
    # nothing, so it needs no secret randomness. Python reseeds `random` in
    # each forked worker, so workers never share a sequence.
    return f"{random.getrandbits(128):032x}"


class AccessLog:
    """ASGI middleware: a request id for every HTTP request, and one
    access-log line each, as text or (``log_format="json"``) JSON."""

    def __init__(self, app: ASGIApp, replica: str = "-", log_format: str = "text") -> None:
        self.app = app
        self.replica = replica
        self.json = log_format == "json"

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
        rid = request_id(scope)

        async def send_and_note(message: Message) -> None:
            nonlocal status, length
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", []), (b"x-request-id", rid.encode("ascii"))]
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body":
                length += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            seconds = time.monotonic() - started
            if self.json:
                line = format_json_line(scope, status, length, seconds, rid, self.replica)
            else:
                line = format_line(scope, status, length, seconds, rid)
            _lines.add(line)


def _flushing_at_shutdown(send: Any) -> Callable[[Message], Awaitable[None]]:
    """Flush the buffered lines before telling the server shutdown is complete:
    uvicorn then re-raises the SIGTERM it caught, and the worker is gone."""

    async def send_after_flush(message: Message) -> None:
        if message["type"] == "lifespan.shutdown.complete":
            flush()
        await send(message)

    return send_after_flush


def _target(scope: Scope) -> str:
    target = scope.get("raw_path") or scope["path"].encode()
    if scope.get("query_string"):
        target += b"?" + scope["query_string"]
    return str(target.decode("latin-1"))


def _agent(scope: Scope) -> str:
    agent = next((v for k, v in scope["headers"] if k == b"user-agent"), b"-")
    return str(agent.decode("latin-1"))


def format_line(scope: Scope, status: int, length: int, seconds: float, rid: str) -> str:
    client = scope.get("client")
    request_line = f"{scope['method']} {_target(scope)} HTTP/{scope['http_version']}"
    return (
        f'{client[0] if client else "-"} "{request_line}" {status} {length or "-"} '
        f'{seconds:.6f}s "{_agent(scope)}" {rid}\n'
    )


def format_json_line(
    scope: Scope, status: int, length: int, seconds: float, rid: str, replica: str
) -> str:
    client = scope.get("client")
    return json_line(
        {
            "time": timestamp(time.time()),
            "level": "info",
            "type": "access",
            "method": scope["method"],
            "path": _target(scope),
            "status": status,
            "bytes": length,
            "duration": round(seconds, 6),
            "replica": replica,
            "request_id": rid,
            "client": client[0] if client else None,
            "user_agent": _agent(scope),
        }
    )
