"""A polling client that records what users would have seen during a drill.

A background thread sends ``GET /`` (``Accept: application/json``, a new
connection each time, so kube-proxy may pick any pod) every 50 ms until it is
stopped or its time runs out, and records every outcome: the status and
whether a ``Retry-After`` came with it, or why no HTTP answer came at all.
:class:`deploy.drill_report.DrillReport` then sorts them by the drill's rules.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from dataclasses import dataclass

from deploy.api_client import request

# Longer than the API's worst promised answer time (twice DB_CONNECT_TIMEOUT,
# 6 s), so a slow 503 is recorded as a 503 and not as a client timeout.
REQUEST_TIMEOUT = 10.0


@dataclass(frozen=True)
class Sample:
    """One request: when it ended (seconds since the poller started), its
    status (None: no HTTP answer) and the reason no answer came."""

    at: float
    status: int | None
    retry_after: bool = False
    error: str = ""

    @property
    def outcome(self) -> str:
        """What was seen, as a report lists it: ``200``, ``503``, ``connection refused``."""
        return str(self.status) if self.status is not None else self.error


def error_kind(exc: BaseException) -> str:
    """A short, stable name for why a request got no HTTP answer."""
    if isinstance(exc, TimeoutError):  # socket.timeout too
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    # RemoteDisconnected (closed without an answer) is a ConnectionResetError.
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return "connection reset"
    if isinstance(exc, http.client.HTTPException):
        return f"bad HTTP answer ({type(exc).__name__})"
    if isinstance(exc, OSError):
        return f"network error ({exc.strerror or type(exc).__name__})"
    return type(exc).__name__


class Poller:
    """``GET url`` every ``interval`` seconds in a background thread, for at
    most ``max_seconds``; use as a context manager, read :attr:`samples`."""

    def __init__(self, url: str, interval: float = 0.05, max_seconds: float = 600.0) -> None:
        self.url = url
        self.interval = interval
        self.max_seconds = max_seconds
        self.started = time.monotonic()
        self._samples: list[Sample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="drill-poller", daemon=True)

    def now(self) -> float:
        """Seconds since the poller started, on the samples' clock."""
        return time.monotonic() - self.started

    def _run(self) -> None:
        while not self._stop.is_set() and self.now() < self.max_seconds:
            began = time.monotonic()
            try:
                answer = request(self.url, accept="application/json", timeout=REQUEST_TIMEOUT)
                sample = Sample(self.now(), answer.status, "retry-after" in answer.headers)
            except (OSError, http.client.HTTPException) as exc:
                sample = Sample(self.now(), None, error=error_kind(exc))
            with self._lock:
                self._samples.append(sample)
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - began)))

    @property
    def samples(self) -> list[Sample]:
        with self._lock:
            return list(self._samples)

    def first_ok_within(self, moment: float, timeout: float) -> Sample | None:
        """The first ``200`` that ended after ``moment`` (poller seconds),
        waiting up to ``timeout`` seconds for it."""
        deadline = time.monotonic() + timeout
        while True:
            first = next((s for s in self.samples if s.at >= moment and s.status == 200), None)
            if first is not None or time.monotonic() >= deadline:
                return first
            time.sleep(0.05)

    def start(self) -> None:
        self.started = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(REQUEST_TIMEOUT + 5)

    def __enter__(self) -> Poller:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def outcomes_over(url: str, seconds: float) -> dict[str, int]:
    """Wait ``seconds``, asking ``GET url`` about once a second; each outcome's count."""
    seen: Counter[str] = Counter()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            seen[str(request(url, timeout=5).status)] += 1
        except OSError as exc:
            seen[error_kind(exc)] += 1
        time.sleep(max(0.0, min(1.0, deadline - time.monotonic())))
    return dict(seen)
