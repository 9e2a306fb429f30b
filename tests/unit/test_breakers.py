"""The breakers on awaited calls: failures of the dependency open them, an open breaker fails
fast without making the call, and a trial after the reset time closes them again."""

from __future__ import annotations

import asyncio

import pytest

from app.errors import StorageConflict, StorageUnavailable
from app.resilience.breakers import Breaker, BreakerOpen
from app.resilience.repository import database_failed

pytestmark = pytest.mark.anyio
RESET = 0.2


class Dependency:
    """Stands in for a server: answers, or fails with what it is told to; counts its calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.failure: BaseException | None = None

    async def __call__(self) -> str:
        self.calls += 1
        await asyncio.sleep(0)
        if self.failure is not None:
            raise self.failure
        return "answer"


def breaker() -> Breaker:
    return Breaker("database", fail_max=3, reset_seconds=RESET, counts=database_failed)


async def call(guard: Breaker, dependency: Dependency) -> str:
    with guard.guard():
        return await dependency()


async def trip(guard: Breaker, db: Dependency) -> None:
    """Three failures of the dependency in a row, each raising its own error."""
    db.failure = StorageUnavailable("down")
    for _ in range(3):
        with pytest.raises(StorageUnavailable):
            await call(guard, db)


async def test_awaited_failures_open_the_breaker_after_its_threshold() -> None:
    guard, db = breaker(), Dependency()
    db.failure = StorageUnavailable("down")

    for _ in range(3):
        with pytest.raises(StorageUnavailable):  # the dependency's own error, each time
            await call(guard, db)

    assert guard.state == "open" and guard.is_open
    assert 1 <= guard.retry_after_seconds() <= 1


async def test_an_open_breaker_fails_fast_without_calling() -> None:
    guard, db = breaker(), Dependency()
    db.failure = StorageUnavailable("down")
    for _ in range(3):
        with pytest.raises(StorageUnavailable):
            await call(guard, db)
    calls = db.calls

    for _ in range(100):
        with pytest.raises(BreakerOpen):
            await call(guard, db)

    assert db.calls == calls


async def test_after_the_reset_time_a_trial_closes_it_when_the_dependency_is_back() -> None:
    guard, db = breaker(), Dependency()
    await trip(guard, db)

    await asyncio.sleep(RESET + 0.05)
    db.failure = None
    assert not guard.is_open  # a call may go: it will be the trial
    assert await call(guard, db) == "answer"
    assert guard.state == "closed"


async def test_a_failed_trial_opens_it_again_for_another_period() -> None:
    guard, db = breaker(), Dependency()
    await trip(guard, db)
    await asyncio.sleep(RESET + 0.05)

    with pytest.raises(StorageUnavailable):
        await call(guard, db)  # the trial reaches the dependency, which still fails

    assert guard.is_open
    with pytest.raises(BreakerOpen):
        await call(guard, db)


async def test_the_callers_errors_never_open_it() -> None:
    guard, db = breaker(), Dependency()
    db.failure = StorageConflict("duplicate id")

    for _ in range(10):
        with pytest.raises(StorageConflict):
            await call(guard, db)

    assert guard.state == "closed" and db.calls == 10


async def test_a_success_between_failures_starts_the_count_again() -> None:
    guard, db = breaker(), Dependency()
    for _ in range(5):
        db.failure = StorageUnavailable("blip")
        for _ in range(2):
            with pytest.raises(StorageUnavailable):
                await call(guard, db)
        db.failure = None
        assert await call(guard, db) == "answer"

    assert guard.state == "closed"


async def test_only_one_trial_is_in_flight_the_others_fail_at_once() -> None:
    guard, db = breaker(), Dependency()
    await trip(guard, db)
    await asyncio.sleep(RESET + 0.05)
    db.failure = None
    release = asyncio.Event()

    async def slow_trial() -> str:
        with guard.guard():
            await release.wait()  # a frozen dependency, as the trial finds it
            return await db()

    trial = asyncio.ensure_future(slow_trial())
    await asyncio.sleep(0.01)
    calls_before = db.calls
    refused = 0
    for _ in range(10):
        with pytest.raises(BreakerOpen):
            await call(guard, db)
        refused += 1
    assert guard.is_open  # the Redis paths skip their calls meanwhile
    release.set()

    assert await trial == "answer" and refused == 10 and db.calls == calls_before + 1
    assert guard.state == "closed" and await call(guard, db) == "answer"


async def test_a_probe_that_finds_the_dependency_answering_makes_the_next_call_the_trial_at_once() -> None:
    guard = Breaker("database", fail_max=3, reset_seconds=60, counts=database_failed)
    dependency = Dependency()
    dependency.failure = StorageUnavailable("down")
    for _ in range(3):
        with pytest.raises(StorageUnavailable):
            await call(guard, dependency)
    dependency.failure = None
    with pytest.raises(BreakerOpen):
        await call(guard, dependency)
    assert guard.retry_after_seconds() > 50

    guard.answered()

    assert await call(guard, dependency) == "answer"
    assert guard.state == "closed"


async def test_a_probe_answered_changes_nothing_while_closed_and_one_trial_runs_at_a_time() -> None:
    guard = breaker()
    guard.answered()
    assert guard.state == "closed"
    dependency = Dependency()
    dependency.failure = StorageUnavailable("down")
    for _ in range(3):
        with pytest.raises(StorageUnavailable):
            await call(guard, dependency)
    guard.answered()

    with guard.guard(), pytest.raises(BreakerOpen):  # the trial in flight: the others fail at once
        await call(guard, dependency)
    assert dependency.calls == 3
