"""A stand-in for the original experiment's Go server, for testing the
benchmark's ``--original`` plumbing where the original cannot be built (its
source lives on GitHub, which CI cannot reach). It keeps the original's
contract as bench/original.py describes it: the same environment, every path
counting a visit, and per request BEGIN, INSERT … ON DUPLICATE KEY UPDATE,
SELECT * and COMMIT on ``visitstracker``. The real one is measured with
bench/build-original.sh's binary; this only proves the wiring and the count
check. Run as a script: ``python tests/utils/original_standin.py``."""

from __future__ import annotations

import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pymysql

NAME = os.environ.get("REPLICA_NAME") or socket.gethostname()
LOCAL = threading.local()


def connection() -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
    if not hasattr(LOCAL, "conn"):
        LOCAL.conn = pymysql.connect(
            host=os.environ["DB_SERVICE_SERVICE_HOST"],
            port=int(os.environ["DB_SERVICE_SERVICE_PORT"]),
            user=os.environ["MYSQL_USER"],
            password=os.environ["MYSQL_PASSWORD"],
            database=os.environ["MYSQL_DATABASE"],
        )
    conn: pymysql.connections.Connection[pymysql.cursors.Cursor] = LOCAL.conn
    return conn


class Visit(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        conn = connection()
        conn.begin()
        with conn.cursor() as cursor:
            cursor.execute(
                "INSERT INTO visitstracker (visits, containername) VALUES (1, %s) "
                "ON DUPLICATE KEY UPDATE visits = visits + 1",
                (NAME,),
            )
            cursor.execute("SELECT * FROM visitstracker")
            rows = cursor.fetchall()
        conn.commit()
        body = f"Hello from {NAME}!\n\nYou visited:\n" + "".join(
            f"- {name} {visits} times\n" for visits, name in rows
        )
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    with connection().cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS `visitstracker` (`visits` INT(10) NOT NULL DEFAULT 0, "
            "`containername` VARCHAR(64) UNIQUE, PRIMARY KEY (`containername`))"
        )
    address = (os.environ.get("HOST", ""), int(os.environ.get("PORT", "80")))
    ThreadingHTTPServer(address, Visit).serve_forever()


if __name__ == "__main__":
    main()
