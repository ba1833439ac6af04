"""A TCP proxy on loopback that can break a connection at a chosen moment.

A database connection that breaks after a statement was sent and before its
answer came back leaves the statement's outcome unknown. Left to chance (a
server killed under load), that moment is rare; this proxy makes it happen on
demand: armed with a marker, it breaks the first client connection that sends
data containing the marker, either after passing that data to the server (the
statement runs, its answer is lost) or instead of passing it (it never runs).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

from localservers.ports import free_port

_CHUNK = 65536


class CuttingProxy:
    """Not ``listening`` at first, its port refuses connections at once (as a
    server that is restarting does) until :meth:`listen`."""

    def __init__(self, upstream_port: int, *, listening: bool = True) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()
        self._marker: bytes | None = None
        self._forward = False
        self.cut = threading.Event()  # set once the armed cut has happened
        self._closing = False
        if listening:
            self.listen()

    def listen(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def arm(self, marker: bytes, *, forward: bool) -> None:
        """Break the next connection whose client sends ``marker``: after
        passing that data on (``forward``), or instead of passing it."""
        with self._lock:
            self._marker, self._forward = marker, forward
            self.cut.clear()

    def close(self) -> None:
        self._closing = True
        if self._listener is not None:
            self._listener.close()

    def _accept(self, listener: socket.socket) -> None:
        while not self._closing:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            threading.Thread(target=self._to_server, args=(client, server), daemon=True).start()
            threading.Thread(target=self._to_client, args=(server, client), daemon=True).start()

    def _take_cut(self, data: bytes) -> bool | None:
        """None: pass the data on. Otherwise the armed cut fires, once:
        whether to pass the data on first."""
        with self._lock:
            if self._marker is None or self._marker not in data:
                return None
            self._marker = None
            return self._forward

    def _to_server(self, client: socket.socket, server: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(_CHUNK):
                forward = self._take_cut(data)
                if forward is None:
                    server.sendall(data)
                    continue
                if forward:
                    server.sendall(data)
                # The client sees its connection reset at once. The server
                # side stays open until the server answers, so the statement
                # runs to its end as if only the answer had been lost.
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
                self.cut.set()
                if not forward:
                    server.close()
                return
        _close(client, server)

    def _to_client(self, server: socket.socket, client: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := server.recv(_CHUNK):
                client.sendall(data)
        _close(client, server)


def _close(*sockets: socket.socket) -> None:
    for each in sockets:
        with contextlib.suppress(OSError):
            each.close()
