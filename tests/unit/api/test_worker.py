"""api/worker.py's OneWriteCycle: a response's head goes out with its first
body part, in one write to the transport, whatever the response's shape; and
the worker's protocol uses it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.server import ServerState

from api.worker import LimitedHttpToolsProtocol, OneWriteCycle


class RecordingTransport(asyncio.Transport):
    """A transport that records each write and whether it was closed."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0


def cycle(transport: RecordingTransport, method: str = "GET", keep_alive: bool = True) -> Any:
    scope: Any = {"type": "http", "method": method, "http_version": "1.1", "headers": []}
    return OneWriteCycle(
        scope=scope,
        transport=transport,
        flow=FlowControl(transport),
        logger=logging.getLogger("test"),
        access_logger=logging.getLogger("test.access"),
        access_log=False,
        default_headers=[],
        message_event=asyncio.Event(),
        expect_100_continue=False,
        keep_alive=keep_alive,
        on_response=lambda: None,
    )


def start(length: int) -> dict[str, Any]:
    headers = [(b"content-length", str(length).encode())]
    return {"type": "http.response.start", "status": 200, "headers": headers}


def body(data: bytes, more: bool = False) -> dict[str, Any]:
    return {"type": "http.response.body", "body": data, "more_body": more}


def test_head_and_body_go_out_in_one_write() -> None:
    transport = RecordingTransport()
    answer = cycle(transport)

    async def respond() -> None:
        await answer.send(start(5))
        assert transport.writes == []  # the head waits for the body
        await answer.send(body(b"hello"))

    asyncio.run(respond())
    [written] = transport.writes
    assert written.startswith(b"HTTP/1.1 200 OK\r\n")
    assert written.endswith(b"\r\n\r\nhello")
    assert answer.response_complete


def test_later_body_parts_are_written_as_they_come() -> None:
    transport = RecordingTransport()
    answer = cycle(transport)

    async def respond() -> None:
        await answer.send(start(6))
        await answer.send(body(b"abc", more=True))
        await answer.send(body(b"def"))

    asyncio.run(respond())
    assert len(transport.writes) == 2
    assert transport.writes[0].endswith(b"\r\n\r\nabc")
    assert transport.writes[1] == b"def"


@pytest.mark.parametrize(("method", "keep_alive"), [("HEAD", True), ("GET", False)])
def test_the_head_is_never_lost(method: str, keep_alive: bool) -> None:
    # HEAD writes no body; a connection not kept alive is closed after the
    # body: the head must still go out, before the close.
    transport = RecordingTransport()
    answer = cycle(transport, method=method, keep_alive=keep_alive)

    async def respond() -> None:
        await answer.send(start(5))
        await answer.send(body(b"hello" if method == "GET" else b""))

    asyncio.run(respond())
    assert b"".join(transport.writes).startswith(b"HTTP/1.1 200 OK\r\n")
    assert len(transport.writes) == 1
    assert transport.closed is not keep_alive


class ConnectedTransport(RecordingTransport):
    """A RecordingTransport that knows its two ends, as a socket's does."""

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        ends = {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}
        return ends.get(name, default)


def test_the_workers_protocol_answers_a_request_in_one_write() -> None:
    # The wiring: LimitedHttpToolsProtocol swaps uvicorn's cycle for
    # OneWriteCycle; without it the head and the body are two writes.
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(start(5))
        await send(body(b"hello"))

    async def serve_one() -> list[bytes]:
        config = Config(app=app, lifespan="off", access_log=False)
        config.load()
        protocol = LimitedHttpToolsProtocol(config=config, server_state=ServerState(), app_state={})
        transport = ConnectedTransport()
        protocol.connection_made(transport)
        protocol.data_received(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        assert protocol.cycle is not None
        await asyncio.wait_for(protocol.cycle.message_event.wait(), 5)
        while not protocol.cycle.response_complete:
            await asyncio.sleep(0.01)
        return transport.writes

    [written] = asyncio.run(serve_one())
    assert written.startswith(b"HTTP/1.1 200 OK\r\n")
    assert written.endswith(b"\r\n\r\nhello")
