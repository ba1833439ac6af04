"""What ``GET /metrics`` costs the API: visits per second with a scraper on
``/metrics`` against the same load without one, in alternating windows of one
run, and how long one scrape takes.

The scraper asks every replica ``SCRAPES_PER_SECOND`` times a second (150
times Prometheus' usual one scrape per 15 s), each replica on its own
keep-alive connection, as Prometheus does. Windows alternate in ABBA order
(without, with, with, without, ...), so a drift in the machine's speed over
the run weighs on both sides alike.
"""

from __future__ import annotations

import http.client
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from bench.load import percentile

SCRAPES_PER_SECOND = 10
WITH, WITHOUT = "with_scraper", "without_scraper"


class Scraper:
    """One thread per URL, each scraping at a steady rate for ``seconds``
    (the load's, not its drain's: scrapes on an idle server would flatter
    the timings) or until stopped."""

    def __init__(self, urls: Sequence[str], per_second: float, seconds: float = 0) -> None:
        self._urls = list(urls)
        self._interval = 1 / per_second
        self._seconds = seconds
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.durations_us: Counter[int] = Counter()
        self.statuses: Counter[str] = Counter()
        self._threads = [
            threading.Thread(target=self._scrape_forever, args=(url,), daemon=True)
            for url in self._urls
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def scrape_once(self, connection: http.client.HTTPConnection, path: str) -> None:
        started = time.perf_counter()
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            status = str(response.status)
        except (OSError, http.client.HTTPException) as exc:
            connection.close()  # reconnects on the next request
            status = type(exc).__name__
        elapsed_us = round((time.perf_counter() - started) * 1e6)
        with self._lock:
            self.statuses[status] += 1
            self.durations_us[elapsed_us] += 1

    def _scrape_forever(self, url: str) -> None:
        parts = urlsplit(url)
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        next_at = time.monotonic()
        until = next_at + self._seconds
        try:
            while not self._stop.is_set() and time.monotonic() < until:
                self.scrape_once(connection, parts.path)
                next_at += self._interval
                self._stop.wait(max(0.0, next_at - time.monotonic()))
        finally:
            connection.close()


def warm_up(urls: Sequence[str]) -> None:
    """A first scrape on each replica, so the windows measure steady state."""
    scraper = Scraper(urls, SCRAPES_PER_SECOND, 0)
    for url in urls:
        parts = urlsplit(url)
        for _ in range(3):
            connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
            scraper.scrape_once(connection, parts.path)
            connection.close()


def alternate(
    pairs: int,
    load: Callable[[], dict[str, Any]],
    load_seconds: float,
    metrics_urls: Sequence[str],
) -> dict[str, Any]:
    """Run ``load`` (``load_seconds`` of load, then its drain) 2 x ``pairs``
    times, half of them with the scraper."""
    warm_up(metrics_urls)
    windows: dict[str, list[dict[str, Any]]] = {WITHOUT: [], WITH: []}
    durations_us: Counter[int] = Counter()
    statuses: Counter[str] = Counter()
    for pair in range(pairs):
        order = (WITHOUT, WITH) if pair % 2 == 0 else (WITH, WITHOUT)
        for kind in order:
            scraper = None
            if kind == WITH:
                scraper = Scraper(metrics_urls, SCRAPES_PER_SECOND, load_seconds)
            if scraper is not None:
                scraper.start()
            try:
                windows[kind].append(load())
            finally:
                if scraper is not None:
                    scraper.stop()
                    durations_us += scraper.durations_us
                    statuses += scraper.statuses
    rates = {
        kind: statistics.fmean(w["requests_per_second"] for w in results)
        for kind, results in windows.items()
    }
    return {
        "scrapes_per_second_per_replica": SCRAPES_PER_SECOND,
        "windows": pairs * 2,
        "requests_per_second": rates,
        "ratio": rates[WITH] / rates[WITHOUT],
        "window_requests_per_second": {
            kind: [w["requests_per_second"] for w in results] for kind, results in windows.items()
        },
        "exact": all(w["counts"]["exact"] for results in windows.values() for w in results),
        "errors": sum(w["errors"] for results in windows.values() for w in results),
        "scrape": {
            "count": sum(statuses.values()),
            "statuses": dict(statuses),
            "p50_ms": percentile(durations_us, 50) / 1000,
            "p99_ms": percentile(durations_us, 99) / 1000,
        },
    }
