"""The store the HTTP-layer tests use: the Store protocol over a dict.

Only for tests of the HTTP layer; anything about the database is tested
against a real MariaDB.
"""

from __future__ import annotations

from collections import Counter

from api.store import Counts, StoreUnavailable


class MemoryStore:
    """Counts in a dict; ``down`` makes every call fail like a lost database."""

    def __init__(self) -> None:
        self.visits: Counter[str] = Counter()
        self.down = False
        self.closed = False

    def _check(self) -> None:
        if self.down:
            raise StoreUnavailable("Can't connect to MySQL server (error 2003)")

    async def record_visit(self, replica: str) -> Counts:
        self._check()
        self.visits[replica] += 1
        return await self.counts()

    async def counts(self) -> Counts:
        self._check()
        return list(self.visits.items())

    async def ping(self) -> None:
        self._check()

    async def close(self) -> None:
        self.closed = True
