"""The in-process token bucket, on a clock the test moves."""

from __future__ import annotations

import pytest

from app.adapters.memory.limiter import MemoryLimiter
from tests.clock import Clock

pytestmark = pytest.mark.anyio


async def test_admits_the_budget_then_refuses_with_a_wait() -> None:
    bucket = MemoryLimiter(rate=100, window=60, clock=Clock())

    admitted = [await bucket.admit("alice") for _ in range(100)]
    refused = await bucket.admit("alice")

    assert all(d.allowed for d in admitted)
    assert admitted[0].remaining == 99 and admitted[-1].remaining == 0
    assert not refused.allowed
    assert refused.retry_after == 1  # 100 a minute refills one token every 0.6 s
    assert (refused.limit, refused.window) == (100, 60)


async def test_refills_continuously() -> None:
    clock = Clock()
    bucket = MemoryLimiter(rate=60, window=60, clock=clock)
    for _ in range(60):
        await bucket.admit("alice")

    clock.now += 0.5
    assert not (await bucket.admit("alice")).allowed
    clock.now += 0.5
    assert (await bucket.admit("alice")).allowed
    clock.now += 3600
    assert (await bucket.admit("alice")).remaining == 59  # never more than the budget


async def test_users_have_their_own_buckets() -> None:
    bucket = MemoryLimiter(rate=1, window=60, clock=Clock())

    assert (await bucket.admit("alice")).allowed
    assert not (await bucket.admit("alice")).allowed
    assert (await bucket.admit("bob")).allowed


async def test_wait_grows_with_a_slow_refill() -> None:
    bucket = MemoryLimiter(rate=1, window=60, clock=Clock())
    await bucket.admit("alice")

    assert (await bucket.admit("alice")).retry_after == 60


async def test_memory_stays_bounded_and_full_buckets_are_forgotten_first() -> None:
    clock = Clock(0.0)
    bucket = MemoryLimiter(rate=10, window=60, max_users=100, clock=clock)
    await bucket.admit("heavy")  # the first user seen
    for i in range(99):  # then 99 others, whose buckets are full again within seconds
        await bucket.admit(f"old{i}")
    clock.now = 59.0
    for _ in range(10):  # the first user spends its whole budget
        await bucket.admit("heavy")
    clock.now = 60.0

    await bucket.admit("new")  # one user past the bound

    assert bucket.tracked <= 100
    assert not (await bucket.admit("heavy")).allowed  # its empty bucket was kept, not forgotten


async def test_past_the_bound_with_no_full_bucket_those_first_seen_longest_ago_go() -> None:
    clock = Clock()
    bucket = MemoryLimiter(rate=10, window=60, max_users=100, clock=clock)
    for i in range(250):  # nobody's bucket refills meanwhile
        for _ in range(10):
            await bucket.admit(f"user{i}")

    assert bucket.tracked <= 100
    assert not (await bucket.admit("user249")).allowed  # the latest are still limited
    assert (await bucket.admit("user0")).allowed  # the earliest start again with a full bucket
