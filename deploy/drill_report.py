"""What a drill found: the polling client's requests sorted into allowed and
failed by the drill's own rules, the counts before and after, the recovery
time, and any other problem; one summary line for the user."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from deploy.poller import Sample


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

    def record(self, samples: Iterable[Sample], allow_503: bool) -> None:
        """Count every polled request, by outcome and by failure reason."""
        failures: Counter[str] = Counter()
        statuses: Counter[str] = Counter()
        for sample in samples:
            statuses[sample.outcome] += 1
            reason = failure_reason(sample, allow_503)
            if reason:
                failures[reason] += 1
        self.requests = sum(statuses.values())
        self.failures, self.statuses = dict(failures), dict(statuses)

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

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
