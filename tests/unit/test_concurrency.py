"""The coalescer, the single-flight and the timer: batching, and the one rule for errors and cancellation."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from app.concurrency import Coalescer, Every, SingleFlight

pytestmark = pytest.mark.anyio


class Lost(Exception):
    """The owner's error for an outcome nobody knows."""


class Sender:
    """A batch function that records its batches and answers each item (errors as values)."""

    def __init__(self, *, delay: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.delay = delay
        self.running = 0
        self.most_running = 0

    async def __call__(self, items: list[int]) -> list[int | Exception]:
        self.batches.append(items)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.running -= 1
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]


async def test_items_of_one_event_loop_turn_travel_in_one_batch_and_get_their_own_outcomes() -> None:
    send = Sender()
    coalesce: Coalescer[int, int] = Coalescer(send, lost=Lost)

    outcomes = await asyncio.gather(*(coalesce(i) for i in range(6)), return_exceptions=True)

    assert send.batches == [[0, 1, 2, 3, 4, 5]]
    assert [o if isinstance(o, int) else str(o) for o in outcomes] == [0, "odd 1", 20, "odd 3", 40, "odd 5"]


async def test_one_at_a_time_gathers_what_arrives_during_a_batch_into_the_next() -> None:
    send = Sender(delay=0.05)
    coalesce: Coalescer[int, int] = Coalescer(send, lost=Lost, one_at_a_time=True)

    first = asyncio.gather(coalesce(0), coalesce(2))
    await asyncio.sleep(0.01)  # the first batch is in flight
    later = asyncio.gather(coalesce(4), coalesce(6), coalesce(8))

    assert await first == [0, 20] and await later == [40, 60, 80]
    assert send.batches == [[0, 2], [4, 6, 8]] and send.most_running == 1


async def test_without_one_at_a_time_batches_overlap() -> None:
    send = Sender(delay=0.05)
    coalesce: Coalescer[int, int] = Coalescer(send, lost=Lost)

    first = asyncio.ensure_future(coalesce(0))
    await asyncio.sleep(0.01)
    assert await asyncio.gather(first, coalesce(2)) == [0, 20]
    assert send.most_running == 2


async def test_a_batch_that_raises_fails_every_item_with_its_error() -> None:
    async def broken(items: list[int]) -> list[int | Exception]:
        raise ConnectionError("down")

    coalesce: Coalescer[int, int] = Coalescer(broken, lost=Lost)
    outcomes = await asyncio.gather(coalesce(1), coalesce(2), return_exceptions=True)

    assert [type(o) for o in outcomes] == [ConnectionError, ConnectionError]


async def test_a_cancelled_batch_tells_its_callers_the_outcome_is_lost_not_that_they_were_cancelled() -> None:
    send = Sender(delay=10)
    coalesce: Coalescer[int, int] = Coalescer(send, lost=Lost)
    callers = [asyncio.ensure_future(coalesce(i)) for i in (0, 2)]
    await asyncio.sleep(0.01)

    for task in asyncio.all_tasks():  # what shutdown does to the batch's task
        if task.get_coro().__qualname__ == "Coalescer._run":  # type: ignore[union-attr]
            task.cancel()
    outcomes = await asyncio.gather(*callers, return_exceptions=True)

    assert [type(o) for o in outcomes] == [Lost, Lost]
    assert not any(c.cancelled() for c in callers)


async def test_a_cancelled_caller_stops_waiting_and_the_batch_goes_on_for_the_others() -> None:
    send = Sender(delay=0.05)
    coalesce: Coalescer[int, int] = Coalescer(send, lost=Lost)
    leaving = asyncio.ensure_future(coalesce(0))
    staying = asyncio.ensure_future(coalesce(2))
    await asyncio.sleep(0.01)

    leaving.cancel()

    assert await staying == 20
    assert leaving.cancelled() and send.batches == [[0, 2]]


async def test_settled_returns_once_the_batch_in_flight_is_done_though_no_caller_waits() -> None:
    send = Sender(delay=0.05)
    coalesce: Coalescer[int, int] = Coalescer(send, lost=Lost)
    caller = asyncio.ensure_future(coalesce(2))
    await asyncio.sleep(0.01)
    caller.cancel()  # its caller stopped waiting: the batch goes on

    await coalesce.settled()

    assert send.batches == [[2]] and send.running == 0


async def test_a_batch_answering_the_wrong_number_of_outcomes_fails_every_item() -> None:
    async def short(items: list[int]) -> list[int | Exception]:
        return items[:-1]

    coalesce: Coalescer[int, int] = Coalescer(short, lost=Lost)
    outcomes = await asyncio.gather(coalesce(1), coalesce(2), return_exceptions=True)

    assert all(isinstance(o, RuntimeError) for o in outcomes)


async def test_concurrent_calls_for_one_key_share_one_run_of_the_work() -> None:
    flight: SingleFlight[str, str] = SingleFlight(lost=Lost)
    runs = 0

    async def work() -> str:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.02)
        return "page"

    answers = await asyncio.gather(*(flight("k", work) for _ in range(50)), flight("other", work))

    assert answers == ["page"] * 51 and runs == 2
    assert await flight("k", work) == "page" and runs == 3  # a later call runs it again


async def test_the_works_error_reaches_every_waiter() -> None:
    flight: SingleFlight[str, str] = SingleFlight(lost=Lost)

    async def work() -> str:
        await asyncio.sleep(0.01)
        raise KeyError("gone")

    outcomes = await asyncio.gather(*(flight("k", work) for _ in range(3)), return_exceptions=True)

    assert [type(o) for o in outcomes] == [KeyError] * 3


async def test_when_the_first_caller_is_cancelled_the_others_are_told_the_outcome_is_lost() -> None:
    flight: SingleFlight[str, str] = SingleFlight(lost=Lost)

    async def work() -> str:
        await asyncio.sleep(10)
        return "never"

    first = asyncio.ensure_future(flight("k", work))
    await asyncio.sleep(0.01)
    follower = asyncio.ensure_future(flight("k", work))
    await asyncio.sleep(0.01)

    first.cancel()
    outcome = await asyncio.gather(follower, return_exceptions=True)

    assert first.cancelled() and type(outcome[0]) is Lost and not follower.cancelled()


async def test_a_cancelled_follower_leaves_the_flight_to_the_others() -> None:
    flight: SingleFlight[str, str] = SingleFlight(lost=Lost)

    async def work() -> str:
        await asyncio.sleep(0.05)
        return "page"

    first = asyncio.ensure_future(flight("k", work))
    await asyncio.sleep(0.01)
    follower = asyncio.ensure_future(flight("k", work))
    await asyncio.sleep(0.01)
    follower.cancel()

    assert await first == "page" and follower.cancelled()


async def test_closing_ends_the_loop_even_when_the_work_swallowed_the_cancellation() -> None:
    started = asyncio.Event()

    async def work() -> None:  # as a driver's wait_for may, on Python 3.11
        started.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(10)

    task = Every(0.001, work)
    await task.start()
    await started.wait()

    await asyncio.wait_for(task.close(), 2)  # never waits for a loop that goes on
