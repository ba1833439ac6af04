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
from collections.abc import Callable
from dataclasses import dataclass

from deploy.api_client import request

INTERVAL = 0.05
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

    def __init__(
        self,
        url: str,
        interval: float = INTERVAL,
        request_timeout: float = REQUEST_TIMEOUT,
        max_seconds: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.interval = interval
        self.request_timeout = request_timeout
        self.max_seconds = max_seconds
        self.clock = clock
        self.started = clock()
        self._samples: list[Sample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="drill-poller", daemon=True)

    def now(self) -> float:
        """Seconds since the poller started, on the samples' clock."""
        return self.clock() - self.started

    def _once(self) -> Sample:
        try:
            answer = request(self.url, accept="application/json", timeout=self.request_timeout)
        except (OSError, http.client.HTTPException) as exc:
            return Sample(self.now(), None, error=error_kind(exc))
        return Sample(self.now(), answer.status, "retry-after" in answer.headers)

    def _run(self) -> None:
        while not self._stop.is_set() and self.now() < self.max_seconds:
            began = self.clock()
            sample = self._once()
            with self._lock:
                self._samples.append(sample)
            self._stop.wait(max(0.0, self.interval - (self.clock() - began)))

    @property
    def samples(self) -> list[Sample]:
        with self._lock:
            return list(self._samples)

    def first_ok_after(self, moment: float) -> Sample | None:
        """The first ``200`` that ended after ``moment`` (poller seconds)."""
        return next((s for s in self.samples if s.at >= moment and s.status == 200), None)

    def first_ok_within(self, moment: float, timeout: float) -> Sample | None:
        """:meth:`first_ok_after`, waiting up to ``timeout`` seconds for it."""
        deadline = time.monotonic() + timeout
        while (first := self.first_ok_after(moment)) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return first

    def start(self) -> None:
        self.started = self.clock()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.request_timeout + 5)

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
