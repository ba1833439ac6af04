"""What users would have seen during a drill, and the drill's verdict on it.

:class:`Poller` sends ``GET /`` (``Accept: application/json``, a new
connection each time, so kube-proxy may pick any pod) every 50 ms in a
background thread and records every outcome; :class:`DrillReport` sorts
them by the drill's rules into one summary line.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from deploy.api_client import request

# Longer than the API's worst promised answer time (twice DB_CONNECT_TIMEOUT,
# 6 s), so a slow 503 is recorded as a 503 and not as a client timeout.
REQUEST_TIMEOUT = 10.0


@dataclass(frozen=True)
class Sample:
    """One request: when it ended (poller seconds), its status (None: no
    HTTP answer) and why no answer came."""

    at: float
    status: int | None
    retry_after: bool = False
    error: str = ""

    @property
    def outcome(self) -> str:
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
    """``GET url`` every ``interval`` seconds, for at most ``max_seconds``; a
    context manager."""

    def __init__(self, url: str, interval: float = 0.05, max_seconds: float = 600.0) -> None:
        self.url, self.interval, self.max_seconds = url, interval, max_seconds
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
        """The first ``200`` that ended after ``moment``, waiting up to ``timeout`` s."""
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


def failure_reason(sample: Sample, allow_503: bool) -> str | None:
    """Why ``sample`` is a failed request, or None. While the database is away
    (``allow_503``) the API's contract is a ``503`` with ``Retry-After``: an
    answer, not a failure; a ``503`` without it is one."""
    if sample.status is None:
        return sample.error or "no answer"
    if sample.status == 200:
        return None
    if sample.status == 503 and allow_503:
        return None if sample.retry_after else "503 without Retry-After"
    return f"status {sample.status}"


def lost_counts(before: dict[str, int], after: dict[str, int]) -> dict[str, tuple[int, int]]:
    """Replicas whose count went down or disappeared: ``{name: (before, after)}``."""
    return {name: (n, after.get(name, 0)) for name, n in before.items() if after.get(name, 0) < n}


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
    deleted: str = ""  # a pod the drill deleted, which must not be among them
    problems: list[str] = field(default_factory=list)  # checks besides the polling
    dry_run: bool = False

    def record(self, samples: Iterable[Sample], allow_503: bool) -> None:
        samples = list(samples)
        self.statuses = dict(Counter(sample.outcome for sample in samples))
        reasons = (failure_reason(sample, allow_503) for sample in samples)
        self.failures = dict(Counter(reason for reason in reasons if reason))
        self.requests = len(samples)

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    @property
    def ok(self) -> bool:
        return not self.failures and not self.lost and not self.problems

    def summary(self) -> str:
        if self.dry_run:
            return f"{self.name}: dry run"
        reasons = ", ".join(f"{why}: {n}" for why, n in sorted(self.failures.items()))
        parts = [f"{self.requests} requests, {self.failed} failed{f' ({reasons})' * bool(reasons)}"]
        if self.recovery_seconds is not None:
            parts.append(f"200 again {self.recovery_seconds:.1f}s after the database returned")
        lost = ", ".join(f"{name} {b} -> {a}" for name, (b, a) in self.lost.items())
        parts += [f"counts went down: {lost}" if lost else "counts kept", *self.problems]
        return f"{self.name}: {'ok' if self.ok else 'FAILED'}: " + "; ".join(parts)
