"""The API seen from outside: the one HTTP client of the deploy tasks and the tests.

Each request goes on a new connection, read whole, so a Service spreads them
over the pods (kube-proxy picks a pod per connection). On it: hit ``GET /``
until three distinct replicas have answered (the original experiment's "hit
another pod", made automatic), and read the counts.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from deploy.commands import DeployError

# The API's NodePort on a cluster's node, where the deploy and drill tasks look.
DEFAULT_URL = "http://127.0.0.1:30001/"
REPLICAS = 3


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: str
    seconds: float  # from sending the request to the answer read whole

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    url: str,
    method: str = "GET",
    accept: str | None = None,
    timeout: float = 30.0,
    headers: Mapping[str, str] | None = None,
) -> Answer:
    """One request on a new connection. Raises OSError (refused, reset,
    timeout) or http.client.HTTPException when no HTTP answer came."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"not an http:// URL: {url}")
    sent = {**({"Accept": accept} if accept else {}), "Connection": "close", **(headers or {})}
    started = time.monotonic()
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target, headers=sent)
        response = conn.getresponse()
        body = response.read().decode("utf-8", "replace")
        answered = {name.lower(): value for name, value in response.getheaders()}
        return Answer(response.status, answered, body, time.monotonic() - started)
    finally:
        conn.close()


def path_url(url: str, path: str) -> str:
    """``url`` with its path replaced, e.g. the base URL's ``/visits``."""
    return url.rstrip("/") + path


@dataclass(frozen=True)
class Visit:
    """One ``GET /`` answer in JSON: who answered, and every replica's count."""

    replica: str
    visits: dict[str, int]
    total: int


def _json_200(url: str, timeout: float, *keys: str) -> dict[str, Any]:
    """The JSON object of a ``200`` to ``GET url``; DeployError on another
    status, or when it lacks one of ``keys``."""
    answer = request(url, accept="application/json", timeout=timeout)
    if answer.status != 200:
        raise DeployError(f"{url} answered {answer.status}: {answer.body.strip()[:120]}")
    try:
        data = answer.json()
        if all(key in data for key in keys) and isinstance(data["visits"], dict):
            return dict(data)
    except (ValueError, TypeError):
        pass
    raise DeployError(f"{url} answered without the documented JSON: {answer.body[:80]!r}")


def visit(url: str, timeout: float = 5.0) -> Visit:
    """``GET /``: counts one visit. OSError when nothing listens."""
    data = _json_200(url, timeout, "replica", "visits", "total")
    return Visit(data["replica"], data["visits"], data["total"])


def counts(url: str, timeout: float = 5.0) -> dict[str, int]:
    """``GET /visits``: every replica's count, counting nothing."""
    visits: dict[str, int] = _json_200(path_url(url, "/visits"), timeout, "visits")["visits"]
    return visits


@dataclass
class Survey:
    """The distinct replicas that answered, in the order they first did."""

    replicas: list[str] = field(default_factory=list)
    visits: dict[str, int] = field(default_factory=dict)
    requests: int = 0


def wait_for_replicas(
    url: str,
    want: int = REPLICAS,
    timeout: float = 180.0,
    interval: float = 0.25,
    *,
    hint: str = "",
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    say: Callable[[str], None] = print,
) -> Survey:
    """Hit ``GET /`` until ``want`` distinct replicas have answered.

    Until the API answers at all (a port forward not up yet, pods not ready)
    it keeps trying. Past ``timeout`` the error says how many replicas
    answered and the last error, so the user knows whether nothing answered
    or too few pods did; ``hint`` (where to look next) ends it.
    """
    deadline = clock() + timeout
    survey = Survey()
    last_error = ""
    while True:
        try:
            answer = visit(url)
        except (OSError, http.client.HTTPException, DeployError) as exc:
            last_error = str(exc) or type(exc).__name__
        else:
            survey.requests += 1
            survey.visits = answer.visits
            if answer.replica not in survey.replicas:
                survey.replicas.append(answer.replica)
                say(f"  replica {len(survey.replicas)}/{want} answered: {answer.replica}")
            if len(survey.replicas) >= want:
                return survey
        if clock() >= deadline:
            break
        sleep(interval)
    raise DeployError(
        f"timed out after {timeout:.0f}s: {len(survey.replicas)} of {want} replicas answered "
        f"{url} ({', '.join(survey.replicas) or 'none'}) in {survey.requests} successful "
        "request(s)"
        + (f"; last error: {last_error}" if last_error else "")
        + (f". {hint}" if hint else "")
    )
