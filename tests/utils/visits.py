"""Visits in bulk, and what an answer during a database outage must look like."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from deploy.api_client import Answer, request
from localservers.replica import Replica
from tests.utils.servers import CONNECT_TIMEOUT

# A 503 may take the connect timeout plus the handshake's read timeout, plus
# scheduling noise on a busy 2-core machine.
FAST_503_SECONDS = 2 * CONNECT_TIMEOUT + 1.5


def visit_all_threads(replicas: list[Replica], per_replica: int = 40) -> list[Answer]:
    """Enough concurrent visits that every worker thread opens its connection."""
    urls = [f"{r.url}/" for r in replicas for _ in range(per_replica)]
    with ThreadPoolExecutor(max_workers=24) as pool:
        return list(pool.map(request, urls))


def assert_unavailable(answer: Answer) -> None:
    assert answer.status == 503
    assert answer.headers["retry-after"].isdigit()
    assert answer.body.startswith("database unavailable")
    assert answer.body.count("\n") == 1, "the reason must be one line"
    assert "Traceback" not in answer.body
    assert answer.seconds < FAST_503_SECONDS
