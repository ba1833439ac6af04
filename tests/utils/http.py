"""The tests' HTTP client, on the standard library: one new connection per
request, the answer read whole."""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    url: str,
    method: str = "GET",
    accept: str | None = None,
    timeout: float = 30,
    headers: dict[str, str] | None = None,
) -> Answer:
    parts = urlsplit(url)
    headers = {**({"Accept": accept} if accept else {}), **(headers or {})}
    started = time.monotonic()
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target, headers=headers)
        resp = conn.getresponse()
        body = resp.read().decode()
        return Answer(
            status=resp.status,
            headers={k.lower(): v for k, v in resp.getheaders()},
            body=body,
            seconds=time.monotonic() - started,
        )
    finally:
        conn.close()
