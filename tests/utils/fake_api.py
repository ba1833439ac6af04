"""A stdlib HTTP server that answers like the API, for the client-side tests
(polling, drills): it is the client logic under test, not the API."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Behaviour = Callable[[int], tuple[int, str | None]]


class FakeApi:
    """Answers GET / like the API: the replica named by ``behaviour(n)`` for
    the n-th request (or a status without a replica), counting per replica."""

    def __init__(self, behaviour: Behaviour, port: int = 0, retry_after: bool = True) -> None:
        self.behaviour = behaviour
        # The API's 503 carries Retry-After; False makes a broken one.
        self.retry_after = retry_after
        self.visits: dict[str, int] = {}
        self.accept_headers: list[str] = []
        self.connections: set[tuple[str, int]] = set()
        self.requests = itertools.count()
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                api.connections.add(self.client_address)
                api.accept_headers.append(self.headers.get("Accept", ""))
                if self.path == "/visits":
                    self.answer(200, {"visits": api.visits})
                    return
                if self.path == "/healthz":
                    self.answer(200, {"status": "ok"})
                    return
                with api.lock:
                    status, replica = api.behaviour(next(api.requests))
                    if replica is None:
                        self.answer(status, {"error": "database unavailable"})
                        return
                    api.visits[replica] = api.visits.get(replica, 0) + 1
                    body = {
                        "replica": replica,
                        "visits": dict(api.visits),
                        "total": sum(api.visits.values()),
                    }
                self.answer(200, body)

            def answer(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if status == 503 and api.retry_after:
                    self.send_header("Retry-After", "1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeApi:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def rotating(*replicas: str) -> Behaviour:
    return lambda n: (200, replicas[n % len(replicas)])
