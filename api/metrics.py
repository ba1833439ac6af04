"""The service's Prometheus metrics, and their text exposition.

Under gunicorn every worker is a process of its own, so each one writes its
samples to files in ``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's
multiprocess mode; gunicorn.conf.py makes the directory and exports the
variable before any worker starts) and a scrape, answered by any one worker,
merges every worker's files. Without that variable (falcon.testing, a plain
``uvicorn`` run) the samples live in this process's own registry.

Labels only ever take values from small fixed sets: the route template (never
the raw path), the HTTP method (or ``other``), the status code, and a reason
class for database errors (never the server's message). Nothing here can see
a setting, so no password can reach a sample.
"""

from __future__ import annotations

import asyncio
import os
from bisect import bisect_left

import falcon.constants
import pymysql
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector

from api.db_errors import ERROR_REASONS, error_reason

# No ``*_created`` series: multiprocess mode cannot have them, and the same
# metrics should come out however the app is served.
disable_created_metrics()  # type: ignore[no-untyped-call]

# The classic text format; every name and label here is valid in it.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# The route label of a request no route matched (a 404): one value for any path.
UNMATCHED_ROUTE = "unmatched"
# The method label of a method Falcon does not know.
OTHER_METHOD = "other"
KNOWN_METHODS = frozenset(falcon.constants.COMBINED_METHODS)

# Answers take about a millisecond; a 503 waits up to DB_CONNECT_TIMEOUT (3 s
# by default) and more while the handshake times out too.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# Visits applied by one statement of the group commit (api/store.py).
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    """Every metric of one app, and the scrape's answer."""

    def __init__(self) -> None:
        # The test prometheus-client itself makes when first imported.
        self.multiprocess_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if self.multiprocess_dir and not values.ValueClass._multiprocess:
            # The client was imported before the variable was set, so it
            # keeps samples in memory and a scrape of the files would read
            # nothing. (gunicorn.conf.py refuses --preload, the usual way in.)
            raise RuntimeError(
                "prometheus-client was imported before PROMETHEUS_MULTIPROC_DIR was set; "
                "do not preload the app"
            )
        # Each app has a registry of its own, so test apps never share counts.
        # In multiprocess mode the samples live in the files and the scrape
        # reads those; this registry then goes unread.
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "visit_counter_http_requests_total",
            "HTTP requests answered, by route template, method and status code.",
            ("route", "method", "code"),
            registry=registry,
        )
        self.latency = Histogram(
            "visit_counter_http_request_duration_seconds",
            "Time from a request's arrival in the app to its answer, by route template.",
            ("route",),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.visits = Counter(
            "visit_counter_visits_total",
            "Visits stored in the database by this replica.",
            registry=registry,
        )
        self.batch_size = Histogram(
            "visit_counter_visit_batch_size",
            "Visits stored per database statement (the group commit's batch size).",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.database_errors = Counter(
            "visit_counter_database_errors_total",
            "Failed database operations, by reason: " + ", ".join(ERROR_REASONS) + ".",
            ("reason",),
            registry=registry,
        )
        # 1 when the replica's latest database operation succeeded, 0 when it
        # failed. Each worker only knows what its own operations saw, so the
        # scrape takes the most recent observation of any live worker
        # (livemostrecent): a worker that has been idle since before an outage
        # or a recovery cannot outvote the one that just saw it. min or max
        # would let an idle worker's stale view hold the gauge. A worker's
        # view leaves with it (gunicorn.conf.py marks the process dead).
        # 0 until the replica's first database operation.
        self.database_up = Gauge(
            "visit_counter_database_up",
            "1 if the replica's latest database operation succeeded, else 0.",
            multiprocess_mode="livemostrecent",
            registry=registry,
        )
        for reason in ERROR_REASONS:
            # Every reason shows from the start, at 0, so rate() sees its first error.
            self.database_errors.labels(reason)
        # Each answer's samples, by label set: labels() takes a lock and builds
        # its key on every call, which doubled the cost of counting a request.
        # Keyed by the labels themselves, so it holds no more entries than
        # the metrics have series (routes are templates, methods a fixed set).
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        # Answers not yet in the samples, by label set (see request_answered).
        self._unflushed: dict[tuple[str, str, int], _Answers] = {}
        self._flush_scheduled = False

    def request_answered(self, route: str | None, method: str, status: int, seconds: float) -> None:
        """Count one answer. Called on the event loop.

        In multiprocess mode every sample update takes a lock, a getpid()
        system call and a write to the mapped file: three per answer were
        2 % of a replica's CPU under load. So answers are summed here and
        reach the samples once per turn of the event loop, right after the
        callbacks that answered them: under load that is one update for
        many answers, and idle it is at once.
        """
        route = UNMATCHED_ROUTE if route is None else route
        method = method if method in KNOWN_METHODS else OTHER_METHOD
        key = (route, method, status)
        answers = self._unflushed.get(key)
        if answers is None:
            answers = self._unflushed[key] = _Answers()
        answers.count += 1
        answers.seconds += seconds
        answers.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush_answers)

    def flush_answers(self) -> None:
        """Put every answer counted so far into the samples. Called on the
        event loop: before a scrape, at shutdown, and after each loop turn."""
        self._flush_scheduled = False
        unflushed, self._unflushed = self._unflushed, {}
        for (route, method, status), answers in unflushed.items():
            counter, histogram = self._children(route, method, status)
            counter.inc(answers.count)
            # prometheus-client observes one value at a time; these are the
            # parts observe() updates (the sum and the one bucket a value
            # falls in), pinned by a test against observe() itself.
            histogram._sum.inc(answers.seconds)
            for bucket, count in enumerate(answers.buckets):
                if count:
                    histogram._buckets[bucket].inc(count)

    def _children(self, route: str, method: str, status: int) -> tuple[Counter, Histogram]:
        key = (route, method, status)
        children = self._request_children.get(key)
        if children is None:
            answered = self.requests.labels(route, method, str(status))
            children = (answered, self.latency.labels(route))
            self._request_children[key] = children
        return children

    def visits_stored(self, visits: int) -> None:
        self.visits.inc(visits)
        self.batch_size.observe(visits)

    def database_reached(self) -> None:
        self.database_up.set(1)

    def database_failed(self, error: pymysql.Error) -> None:
        self.database_errors.labels(error_reason(error)).inc()
        self.database_up.set(0)

    def exposition(self) -> bytes:
        """Every metric in the text format; in multiprocess mode, every
        worker's files merged (file reads: call it off the event loop)."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(merged)


class _Answers:
    """Answers of one label set not yet in the samples: how many, their
    seconds summed, and how many fell in each latency bucket (the last one
    is +Inf)."""

    __slots__ = ("buckets", "count", "seconds")

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
