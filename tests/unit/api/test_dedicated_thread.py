"""api/dedicated_thread.py: calls run on one thread of their own, in order,
their results and exceptions reach the caller, and a cancelled caller or a
closed loop never stops the thread."""

from __future__ import annotations

import asyncio
import threading

import pytest

from api.dedicated_thread import DedicatedThread


def test_calls_run_in_order_on_one_thread_that_is_not_the_loops() -> None:
    thread = DedicatedThread("database")
    ran_on: list[tuple[int, str]] = []

    def note(i: int) -> int:
        ran_on.append((i, threading.current_thread().name))
        return i * 10

    async def main() -> list[int]:
        return list(await asyncio.gather(*(thread.run(note, i) for i in range(20))))

    try:
        assert asyncio.run(main()) == [i * 10 for i in range(20)]
    finally:
        thread.stop()
    assert ran_on == [(i, "database") for i in range(20)]


def test_an_exception_reaches_the_caller_and_the_thread_goes_on() -> None:
    thread = DedicatedThread("database")

    def fail() -> None:
        raise ConnectionError("refused")

    async def main() -> str:
        with pytest.raises(ConnectionError, match="refused"):
            await thread.run(fail)
        return await thread.run(str, 7)

    try:
        assert asyncio.run(main()) == "7"
    finally:
        thread.stop()


def test_a_cancelled_caller_leaves_its_call_to_finish_and_the_next_one_runs() -> None:
    thread = DedicatedThread("database")
    release = threading.Event()
    finished: list[str] = []

    def slow() -> None:
        release.wait(5)
        finished.append("slow")

    async def main() -> str:
        waiting = asyncio.ensure_future(thread.run(slow))
        await asyncio.sleep(0.05)
        waiting.cancel()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        return await thread.run(str, "next")

    try:
        assert asyncio.run(main()) == "next"
    finally:
        thread.stop()
    assert finished == ["slow"]


def test_a_closed_loop_does_not_end_the_thread() -> None:
    # Each asyncio.run is a new loop; a call whose loop closed before it was
    # answered must not kill the thread for the next loop's calls.
    thread = DedicatedThread("database")
    release = threading.Event()

    async def abandon() -> asyncio.Future[bool]:
        # Still waiting when asyncio.run cancels it and closes the loop.
        abandoned = asyncio.ensure_future(thread.run(release.wait, 5))
        await asyncio.sleep(0.05)
        return abandoned

    try:
        asyncio.run(abandon())
        release.set()
        assert asyncio.run(asyncio.wait_for(thread.run(str, "alive"), 5)) == "alive"
    finally:
        thread.stop()


def test_stop_ends_the_thread() -> None:
    thread = DedicatedThread("vc-stop-test")
    asyncio.run(thread.run(str, 1))
    (started,) = [t for t in threading.enumerate() if t.name == "vc-stop-test"]
    thread.stop()
    started.join(5)
    assert not started.is_alive()
