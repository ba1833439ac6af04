"""A polling client that records what users would have seen during a drill.

A background thread sends ``GET /`` (``Accept: application/json``, a new
connection each time, so kube-proxy may pick any pod) every 50 ms until it is
stopped or its time runs out, and records every outcome: the status and
whether a ``Retry-After`` came with it, or why no HTTP answer came at all.
:func:`tally` then sorts the outcomes into allowed and failed for the drill's
own rules, into a :class:`DrillReport`.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from deploy.service import fetch

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


def failure_reason(sample: Sample, allow_503: bool) -> str | None:
    """Why ``sample`` counts as a failed request, or None when it is allowed.

    Only ``200`` is allowed, unless ``allow_503``: while the database is away
    the API's contract is a ``503`` with ``Retry-After``, and that is an
    answer, not a failure. A ``503`` without ``Retry-After`` is not.
    """
    if sample.status is None:
        return sample.error or "no answer"
    if sample.status == 200:
        return None
    if sample.status == 503 and allow_503:
        return None if sample.retry_after else "503 without Retry-After"
    return f"status {sample.status}"


@dataclass
class Tally:
    requests: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return sum(self.failures.values())


def tally(samples: list[Sample], allow_503: bool) -> Tally:
    failures: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    for sample in samples:
        statuses[sample.outcome] += 1
        reason = failure_reason(sample, allow_503)
        if reason:
            failures[reason] += 1
    return Tally(len(samples), dict(failures), dict(statuses))


@dataclass
class DrillReport:
    name: str
    requests: int = 0
    failures: dict[str, int] = field(default_factory=dict)  # reason -> requests
    statuses: dict[str, int] = field(default_factory=dict)  # outcome -> requests
    before: dict[str, int] = field(default_factory=dict)
    after: dict[str, int] = field(default_factory=dict)
    lost: dict[str, tuple[int, int]] = field(default_factory=dict)
    recovery_seconds: float | None = None
    replicas_after: list[str] = field(default_factory=list)  # answering at the end
    problems: list[str] = field(default_factory=list)  # checks besides the polling
    dry_run: bool = False

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    def record(self, counted: Tally) -> None:
        self.requests = counted.requests
        self.failures = counted.failures
        self.statuses = counted.statuses

    @property
    def ok(self) -> bool:
        return not self.failures and not self.lost and not self.problems

    def summary(self) -> str:
        if self.dry_run:
            return f"{self.name}: dry run"
        reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(self.failures.items()))
        parts = [
            f"{self.requests} requests, {self.failed} failed" + (f" ({reasons})" * bool(reasons))
        ]
        if self.recovery_seconds is not None:
            parts.append(f"200 again {self.recovery_seconds:.1f}s after the database returned")
        lost = ", ".join(f"{name} {b} -> {a}" for name, (b, a) in self.lost.items())
        parts.append(f"counts went down: {lost}" if lost else "counts kept")
        parts += self.problems
        return f"{self.name}: {'ok' if self.ok else 'FAILED'}: " + "; ".join(parts)


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
            answer = fetch(self.url, timeout=self.request_timeout)
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

    def __enter__(self) -> Poller:
        self.started = self.clock()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(self.request_timeout + 5)
