"""gunicorn's uvicorn worker, with request limits and a deadline for headers.

uvicorn's httptools parser has no limit of its own on the request line or the
header fields (its only knob, ``h11_max_incomplete_event_size``, applies to
the slower h11 parser and answers 400), so this module adds them, sized for
browsers with large cookies and tighter than anything abuse needs:

- a request target over ``MAX_TARGET_BYTES``: ``414``;
- a header field over ``MAX_FIELD_BYTES``, more than ``MAX_FIELDS`` fields, or
  a whole request head over ``MAX_HEAD_BYTES``: ``431``;
- headers not complete ``HEAD_TIMEOUT_SECONDS`` after a request began (or the
  connection opened): ``408``, and the connection is closed;
- a request line without an HTTP/1.x version (HTTP/0.9's ``GET /``): ``400``
  at once. llhttp accepts it, then either waits for headers that will never
  come or hands uvicorn an HTTP/0.9 request that Falcon refuses with a 500.

On an event loop a slow client costs a coroutine, not a thread, so slow
clients cannot starve fast ones; the deadline bounds how long each holds a
socket and its buffer, as nginx's ``client_header_timeout`` does.

And one write per answer: uvicorn writes a response's head when the app
starts it and its body when the app sends it, two ``send()`` system calls
(and often two TCP segments) for every answer this API gives, whose bodies
are a few hundred bytes. :class:`OneWriteCycle` holds the head back and
writes it with the first body part.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn_worker import UvicornWorker  # type: ignore[import-untyped]

MAX_TARGET_BYTES = 8190
MAX_FIELD_BYTES = 16380
MAX_FIELDS = 100
MAX_HEAD_BYTES = 64 * 1024
HEAD_TIMEOUT_SECONDS = 10.0


HTTP_1 = ("1.0", "1.1")
BAD_REQUEST_LINE = (400, "Request line without HTTP/1.0 or HTTP/1.1")


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing a request we refuse."""


class _HeldHead:
    """Stands in for the transport while uvicorn writes a response's head."""

    def __init__(self) -> None:
        self.head = b""

    def write(self, data: bytes) -> None:
        self.head += data


class _WithHead:
    """Stands in for the transport while uvicorn writes the first body part:
    the held head goes out with it, in one write (or alone, before a close or
    when there is no body to write, as for HEAD)."""

    def __init__(self, transport: asyncio.Transport, head: bytes) -> None:
        self.transport = transport
        self.head = head

    def write(self, data: bytes) -> None:
        self.transport.write(self.flush() + data)

    def flush(self) -> bytes:
        head, self.head = self.head, b""
        return head

    def close(self) -> None:
        if self.head:
            self.transport.write(self.flush())
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()


class OneWriteCycle(RequestResponseCycle):
    """uvicorn's request-response cycle, writing a response's head with its
    first body part instead of on its own."""

    held_head = b""

    async def send(self, message: Any) -> None:
        transport = self.transport
        if message["type"] == "http.response.start" and not self.response_started:
            held = _HeldHead()
            self.transport = held  # type: ignore[assignment]
            try:
                await super().send(message)
            finally:
                self.transport = transport
            self.held_head = held.head
            return
        if not self.held_head:
            await super().send(message)
            return
        with_head = _WithHead(transport, self.held_head)
        self.held_head = b""
        self.transport = with_head  # type: ignore[assignment]
        try:
            await super().send(message)
        finally:
            self.transport = transport
            if with_head.head:  # nothing was written (HEAD, an empty body part)
                transport.write(with_head.flush())


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refusal: tuple[int, str] | None = None
        self._reading_head = True
        self._head_bytes = 0
        self._fields = 0
        self._head_deadline: asyncio.TimerHandle | None = None
        # The end of what arrived while a head was being read: enough to see
        # the current request line whole when it came in several pieces.
        self._head_tail = b""
        self._deferred: tuple[int, str] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._deferred is not None:
            return  # refused already; the answer waits for the one before it
        if self._reading_head:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse(431, "Request header fields too large")
                return
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
            if self._reading_head:
                self._check_request_line(data)
        except httptools.HttpParserUpgrade:
            # No route upgrades; uvicorn's answer, as in its own data_received.
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError:
            if self._refusal is not None:
                self._refuse(*self._refusal)
            else:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head = True
        self._fields = 0
        if self._head_deadline is None:
            self._arm_head_deadline()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_TARGET_BYTES:
            self._refusal = (414, "Request-URI too long")
            raise _Refused

    def on_header(self, name: bytes, value: bytes) -> None:
        self._fields += 1
        if self._fields > MAX_FIELDS or len(name) + len(value) > MAX_FIELD_BYTES:
            self._refusal = (431, "Request header fields too large")
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self.parser.get_http_version() not in HTTP_1:  # "GET /" and an empty line
            self._refusal = BAD_REQUEST_LINE
            raise _Refused
        self._reading_head = False
        self._head_bytes = 0
        self._head_tail = b""
        self._disarm_head_deadline()
        super().on_headers_complete()
        # uvicorn has just made the cycle and scheduled, not yet started, its
        # task: the cycle's methods are looked up when the task runs. uvicorn
        # offers no way to choose the class, so it is set here.
        self.cycle.__class__ = OneWriteCycle

    def _check_request_line(self, data: bytes) -> None:
        """Refuse a request line that ended without a version ("GET /" and a
        line break). llhttp reports no version until the line is whole, and
        then goes on to read headers, so the line is looked for in the bytes
        themselves: the method, this request's target, then the line's end.
        (A header line cannot match: its name ends with a colon.)"""
        self._head_tail = (self._head_tail + data)[-(MAX_TARGET_BYTES + 64) :]
        # (llhttp keeps the previous request's version until it parses this
        # one's, so the version cannot tell.)
        line = rb"(?:^|\n)[A-Z]+ " + re.escape(self.url) + rb"\r?\n"
        if self.url and re.search(line, self._head_tail):
            self._refuse(*BAD_REQUEST_LINE)

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        self._head_deadline = self.loop.call_later(HEAD_TIMEOUT_SECONDS, self._head_too_slow)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self._reading_head and not self.transport.is_closing():
            self._refuse(408, "Request headers took too long")

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._deferred is not None and not self.pipeline:
            self._refuse(*self._deferred)

    def _refuse(self, status: int, reason: str) -> None:
        """Answer ``status`` with a one-line reason and close the connection;
        after the answers to the requests before it on this connection, which
        are already counted (HTTP/1.1 pipelining)."""
        if self.pipeline or (self.cycle is not None and not self.cycle.response_complete):
            self._deferred = (status, reason)
            self.flow.pause_reading()
            return
        self._deferred = None
        body = reason.encode("ascii") + b"\n"
        self.transport.write(
            STATUS_LINE[status]
            + b"content-type: text/plain; charset=utf-8\r\n"
            + b"content-length: "
            + str(len(body)).encode("ascii")
            + b"\r\nconnection: close\r\n\r\n"
            + body
        )
        self.transport.close()


class Worker(UvicornWorker):  # type: ignore[misc]  # gunicorn is untyped
    """uvicorn_worker.UvicornWorker with the limits above and a drain on SIGTERM
    that ends before gunicorn's ``graceful_timeout`` kills the worker."""

    CONFIG_KWARGS: dict[str, Any] = {  # noqa: RUF012  # the base class reads it
        "loop": "auto",
        "http": LimitedHttpToolsProtocol,
        # The app writes its own access log, in batches (api/accesslog.py).
        "access_log": False,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config.timeout_graceful_shutdown = max(1, int(self.cfg.graceful_timeout) - 1)
