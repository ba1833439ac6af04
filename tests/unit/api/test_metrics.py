"""The metrics registry itself (its HTTP side is tested in test_instrumentation.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from api.metrics import Metrics


def test_a_directory_set_after_the_client_was_imported_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This process imported prometheus-client without the variable: samples
    # stay in memory, so a multiprocess scrape would silently read nothing.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    with pytest.raises(RuntimeError, match="do not preload"):
        Metrics()


# Every latency bucket's edge, values just inside and outside it, and +Inf.
LATENCIES = [0.0, 0.0005, 0.001, 0.0011, 0.0025, 0.007, 0.05, 0.3, 1.0, 2.6, 10.0, 11.0, 99.0]


def test_answers_summed_per_loop_turn_give_the_samples_observe_gives() -> None:
    # flush_answers writes prometheus-client's histogram parts itself; this
    # pins them against the client's own observe() on every bucket edge.
    metrics, reference = Metrics(), Metrics()

    async def answer_all() -> None:
        for seconds in LATENCIES:
            metrics.request_answered("/", "GET", 200, seconds)
        metrics.request_answered(None, "BREW", 404, 0.002)

    asyncio.run(answer_all())
    for seconds in LATENCIES:
        reference.requests.labels("/", "GET", "200").inc()
        reference.latency.labels("/").observe(seconds)
    reference.requests.labels("unmatched", "other", "404").inc()
    reference.latency.labels("unmatched").observe(0.002)

    assert generate_latest(metrics.registry) == generate_latest(reference.registry)


def test_an_answer_reaches_the_samples_after_the_loop_turn_that_made_it() -> None:
    metrics = Metrics()

    def answered() -> float | None:
        labels = {"route": "/", "method": "GET", "code": "200"}
        return metrics.registry.get_sample_value("visit_counter_http_requests_total", labels)

    async def answer_and_look() -> list[float | None]:
        metrics.request_answered("/", "GET", 200, 0.001)
        metrics.request_answered("/", "GET", 200, 0.001)
        before = answered()
        await asyncio.sleep(0)
        return [before, answered()]

    assert asyncio.run(answer_and_look()) == [None, 2.0]
