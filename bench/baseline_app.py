"""The straightforward baseline ``invoke bench`` compares the API with.

What the API would be without its design choices: Falcon's WSGI app under
gunicorn's gthread worker (2 workers x 8 threads, the old server's default),
one PyMySQL connection per thread, and two autocommit statements per visit:
``INSERT … ON DUPLICATE KEY UPDATE count = count + 1``, then a read of every
row. Same table, same text answer. It writes no access log, so it is the
baseline at its fastest (the API writes one).

Only the benchmark runs it; it is not part of the product. The module is also
its own gunicorn config (``gunicorn -c python:bench.baseline_app``): gunicorn
reads the settings below and ignores every other name.
"""

from __future__ import annotations

import os
import socket
import threading

import falcon
import pymysql

from api.greeting import greeting_text
from api.store import Connection, Counts
from api.table import READ_COUNTS, SCHEMA

RECORD_VISIT = (
    "INSERT INTO visits (replica, count) VALUES (%s, 1) ON DUPLICATE KEY UPDATE count = count + 1"
)

# gunicorn settings.
wsgi_app = "bench.baseline_app:app"
worker_class = "gthread"
workers = 2
threads = 8
keepalive = 5
control_socket_disable = True


class ThreadConnections:
    """One connection per thread, opened on first use, dropped on any error."""

    def __init__(self) -> None:
        self._local = threading.local()

    def get(self) -> Connection:
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = pymysql.connect(
                host=os.environ["DB_HOST"],
                port=int(os.environ["DB_PORT"]),
                user=os.environ["DB_USER"],
                password=os.environ["DB_PASSWORD"],
                database=os.environ["DB_NAME"],
                charset="utf8mb4",
                autocommit=True,
                connect_timeout=3,
                read_timeout=3,
                write_timeout=3,
            )
            with connection.cursor() as cursor:
                cursor.execute(SCHEMA)
            self._local.connection = connection
        return connection

    def drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            connection.close()


class Greeting:
    def __init__(self, connections: ThreadConnections, replica: str) -> None:
        self._connections = connections
        self._replica = replica

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            with self._connections.get().cursor() as cursor:
                cursor.execute(RECORD_VISIT, (self._replica,))
                cursor.execute(READ_COUNTS)
                counts: Counts = [(name, int(count)) for name, count in cursor.fetchall()]
        except pymysql.Error as exc:
            self._connections.drop()
            raise falcon.HTTPServiceUnavailable(description=str(exc)) from None
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = greeting_text(self._replica, counts)
        resp.cache_control = ["no-store"]


class Liveness:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = "ok\n"


def create_app() -> falcon.App[falcon.Request, falcon.Response]:
    app = falcon.App()
    replica = os.environ.get("REPLICA_NAME") or socket.gethostname()
    app.add_route("/", Greeting(ThreadConnections(), replica))
    app.add_route("/healthz", Liveness())
    return app


app = create_app()
