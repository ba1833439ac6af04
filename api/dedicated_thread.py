"""One thread that runs blocking calls for an event loop, one at a time, in
the order they were asked for: the thread that owns the database connection.

Why not ``loop.run_in_executor`` with a one-thread ``ThreadPoolExecutor``,
which does the same: its general machinery (two shutdown locks and an
idle-thread semaphore per submit, and a concurrent future chained to an
asyncio one) made each hand-off cost 80 µs of CPU, both threads counted,
where a queue in and ``call_soon_threadsafe`` out cost 57 µs. The store hands
off once per group-committed batch, so at c=64 that was several percent of a
replica's CPU per visit.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

# What the thread is asked: the caller's loop, the future to settle on it,
# and the call. None asks the thread to end.
_Call = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]


class DedicatedThread:
    """Runs ``await thread.run(fn, *args)`` calls on one thread of its own,
    started at the first call (so never before gunicorn forks a worker)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the thread: its result, or its exception raised here.

        Cancelling the caller does not stop a call that has started; its
        outcome is then dropped, as ``run_in_executor``'s would be.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if self._thread is None:
            # A daemon: a worker that exits never waits on a frozen database
            # (the store closes its connection through the thread first).
            self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
            self._thread.start()
        self._calls.put((loop, future, fn, args))
        return await future

    def stop(self) -> None:
        """End the thread once the calls already asked for are done."""
        if self._thread is not None:
            self._calls.put(None)
            self._thread = None

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            loop, future, fn, args = call
            try:
                outcome: tuple[Any, BaseException | None] = (fn(*args), None)
            except BaseException as exc:  # handed to the caller, who decides
                outcome = (None, exc)
            # A closed loop refuses: nobody waits for this outcome any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future, *outcome)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)
