"""Slow clients: connections that trickle their headers cost a coroutine, not
a thread, so they cannot starve normal clients; and each gets a deadline."""

from __future__ import annotations

import re
import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from api.worker import HEAD_TIMEOUT_SECONDS
from deploy.api_client import Answer, request
from localservers.mariadb import MariaDBServer
from localservers.replica import Replica
from tests.utils.servers import ReplicaFactory, integration_env

# Enough to take every thread of the thread-per-request server this replaced
# (workers x 8 threads), twice over, and then some.
OLD_THREADS_PER_WORKER = 8
TRICKLE_SECONDS = 20
ANSWERED_WITHIN_SECONDS = 2


def trickle(port: int, stop: threading.Event) -> None:
    """Send a request head one byte a second until ``stop``; reconnect when
    the server closes the connection."""
    head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"s" * 64 + b"\r\n\r\n"
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                for byte in head:
                    sock.sendall(bytes([byte]))
                    if stop.wait(1):
                        return
        except OSError:
            stop.wait(0.1)


def test_slow_clients_do_not_starve_normal_ones(
    mariadb: MariaDBServer, database: str, start_replicas: ReplicaFactory
) -> None:
    (replica,) = start_replicas(mariadb, database, "web-1")
    workers = int(integration_env(mariadb, database)["WEB_CONCURRENCY"])
    slow_clients = 2 * (workers * OLD_THREADS_PER_WORKER) + 4

    stop = threading.Event()
    tricklers = [
        threading.Thread(target=trickle, args=(replica.port, stop), daemon=True)
        for _ in range(slow_clients)
    ]
    answers: list[Answer | None] = []
    try:
        for thread in tricklers:
            thread.start()
        time.sleep(2)  # every slow connection is open and trickling
        deadline = time.monotonic() + TRICKLE_SECONDS - 3
        paths = ["/healthz", "/"]
        while time.monotonic() < deadline:
            path = paths[len(answers) % 2]
            try:
                answers.append(request(f"{replica.url}{path}", timeout=ANSWERED_WITHIN_SECONDS))
            except OSError:
                answers.append(None)
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in tricklers:
            thread.join(timeout=5)

    in_time = [a for a in answers if a and a.status == 200 and a.seconds <= ANSWERED_WITHIN_SECONDS]
    print(f"{len(in_time)} of {len(answers)} answered within {ANSWERED_WITHIN_SECONDS}s")
    assert len(answers) >= 20
    assert len(in_time) >= 0.9 * len(answers), f"{len(in_time)} of {len(answers)} in time"


@contextmanager
def one_worker(mariadb: MariaDBServer, database: str) -> Iterator[Replica]:
    """One replica with one worker, so one event loop sees the connection."""
    replica = Replica("web-1", {**integration_env(mariadb, database), "WEB_CONCURRENCY": "1"})
    try:
        replica.start()
        yield replica
    finally:
        replica.stop()


@pytest.mark.parametrize("sent", [b"", b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"])
def test_headers_must_arrive_within_the_deadline(
    mariadb: MariaDBServer, database: str, sent: bytes
) -> None:
    with (
        one_worker(mariadb, database) as replica,
        socket.create_connection(("127.0.0.1", replica.port), timeout=5) as sock,
    ):
        opened = time.monotonic()
        sock.sendall(sent)
        answer = b""
        while time.monotonic() - opened < HEAD_TIMEOUT_SECONDS + 5:
            readable, _, _ = select.select([sock], [], [], 1)
            if readable:
                chunk = sock.recv(4096)
                if not chunk:
                    break  # closed by the server
                answer += chunk
            elif sent:
                sock.sendall(b"x")  # one more byte of a header that never ends
        closed_after = time.monotonic() - opened

    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert HEAD_TIMEOUT_SECONDS - 1 < closed_after < HEAD_TIMEOUT_SECONDS + 3


@pytest.mark.parametrize(
    "sent",
    [
        b"GET /\r\n\r\n",  # HTTP/0.9 with its empty line: reached Falcon, a 500
        b"GET /\r\n",  # no empty line: waited for the header deadline, a 408
        b"GET /?a=b HTTP/1.1\r\n\r\nGET /?a=b\r\n",  # the same, behind a good request
    ],
)
def test_a_request_line_without_a_version_gets_400_at_once(
    mariadb: MariaDBServer, database: str, sent: bytes
) -> None:
    with one_worker(mariadb, database) as replica:
        with socket.create_connection(("127.0.0.1", replica.port), timeout=5) as sock:
            opened = time.monotonic()
            for piece in (sent[:4], sent[4:]):  # a request line in two pieces
                sock.sendall(piece)
                time.sleep(0.05)
            answer = b""
            while chunk := sock.recv(4096):  # until the server closes
                answer += chunk
            closed_after = time.monotonic() - opened
        log = replica.log_path.read_text()

    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)
    # The good request before it is answered first, then the 400.
    assert statuses == [b"200"] * (sent.count(b"GET") - 1) + [b"400"], answer
    assert closed_after < 2, closed_after
    assert "Traceback" not in log, log
