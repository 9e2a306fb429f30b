"""Read and token leases (adapters/redis/leases/) against a real Redis: two "processes" of the
service, each with its own connections, leases and channel, in one event loop. Round trips are
counted on the Redis side; the background renewals run only when a test ticks them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import redis
import redis.asyncio

from app.adapters.redis.client import connect, connect_listener, redis_failed
from app.adapters.redis.gate import RedisReadGate
from app.adapters.redis.keys import bucket_key
from app.adapters.redis.leases import Budget, Leases
from app.adapters.redis.limiter import RedisLimiter
from app.adapters.redis.pages import RedisPageCache
from app.ports.cache import Page
from app.resilience.breakers import Breaker
from tests.clock import Clock

pytestmark = pytest.mark.anyio

KEY = "page-1"


def script_calls(redis_url: str) -> int:
    """Lua script calls Redis has answered so far (every gate call is one)."""
    with redis.Redis.from_url(redis_url) as r:
        stats = r.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("evalsha", "eval"))


@dataclass
class Process:
    leases: Leases
    cache: RedisPageCache
    limiter: RedisLimiter
    gate: RedisReadGate
    client: redis.asyncio.Redis

    async def read(self, user_id: str) -> bytes:
        """What GET /data does: the budget and the page; on a miss, the page is 'loaded'
        (named after the generation it was read under) and stored."""
        decision, (page, generation, keep) = await self.gate.read(user_id, user_id, KEY)
        assert decision.allowed
        if page is None:
            page = Page.of(f"page of generation {generation}".encode())
            if keep:
                await self.cache.set(user_id, KEY, page, generation)
        return page.body


@pytest.fixture
async def processes(redis_url: str) -> AsyncIterator[Callable[..., Any]]:
    made: list[Process] = []

    async def make(*, seconds: float = 5.0, clock: Callable[[], float] = time.monotonic) -> Process:
        client = connect(redis_url, timeout=1.0, pool_size=8)
        leases = Leases(
            client,
            connect_listener(redis_url, timeout=1.0),
            seconds=seconds,
            max_tokens=16,
            budget=Budget(rate=100, window=60),
            clock=clock,
        )
        breaker = Breaker("redis", fail_max=1, reset_seconds=1.0, counts=redis_failed)
        cache = RedisPageCache(
            client, ttl_seconds=300, local_max_bytes=1 << 20, breaker=breaker, leases=leases
        )
        limiter = RedisLimiter(breaker=breaker, leases=leases)
        gate = RedisReadGate(cache, limiter, breaker=breaker, leases=leases)
        process = Process(leases, cache, limiter, gate, client)
        leases.start(renewals=False)  # the channel only: the tests tick
        for _ in range(100):  # subscribed: read leases may be taken
            if leases.read_lease_ms:
                break
            await asyncio.sleep(0.01)
        made.append(process)
        return process

    yield make
    for process in made:
        await process.leases.close()
        await process.client.aclose()


async def test_a_held_lease_answers_reads_without_asking_redis(
    processes: Callable[..., Any], redis_url: str
) -> None:
    a = await processes()

    first = await a.read("alice")  # its token and spare ones, the page, a read lease
    await a.read("alice")
    lease = a.leases.book.lease("alice")
    assert lease is not None and lease.spare >= 3
    calls, spare = script_calls(redis_url), lease.spare
    answers = [await a.read("alice") for _ in range(spare)]

    assert answers == [first] * spare
    assert script_calls(redis_url) == calls  # tokens and the page's currency came from the leases


async def test_a_write_elsewhere_is_acknowledged_only_after_the_holder_dropped_its_lease(
    processes: Callable[..., Any],
) -> None:
    reader, writer = await processes(), await processes()
    before = await reader.read("bob")
    await reader.read("bob")
    assert reader.leases.book.read_generation("bob") is not None

    started = time.monotonic()
    await writer.cache.invalidate_user("bob")
    took = time.monotonic() - started

    assert reader.leases.book.read_generation("bob") is None  # dropped before the write returned
    assert took < 1.0  # acknowledged, not waited out (the lease runs 5 s)
    after = await reader.read("bob")
    assert after != before


async def test_a_holder_that_cannot_hear_is_waited_out(processes: Callable[..., Any]) -> None:
    reader, writer = await processes(seconds=1.0), await processes(seconds=1.0)
    await reader.read("carol")
    lease = reader.leases.book.lease("carol")
    assert lease is not None and lease.generation is not None
    for task in reader.leases._tasks:  # the channel goes silent, the lease stays held
        task.cancel()
    await asyncio.sleep(0.05)

    await writer.cache.invalidate_user("carol")

    assert time.monotonic() >= lease.ends  # the write waited until the reader's lease was over
    assert reader.leases.book.read_generation("carol") is None


async def test_a_stopping_process_gives_its_leases_back(processes: Callable[..., Any]) -> None:
    leaving, writer = await processes(), await processes()
    await leaving.read("dave")
    await leaving.leases.close()

    started = time.monotonic()
    await writer.cache.invalidate_user("dave")

    assert time.monotonic() - started < 1.0  # nobody left to wait for


async def test_a_lease_granted_while_a_write_was_heard_of_is_not_trusted(
    processes: Callable[..., Any],
) -> None:
    clock = Clock(100.0)
    a = await processes(clock=clock)
    a.leases.writing("erin")  # a write of erin's is under way in this process

    a.leases.book.granted("erin", asked_at=99.0, tokens=1, own=True, left=0, generation=3, lease_ms=5000)
    assert a.leases.book.read_generation("erin") is None  # the call may have crossed the write
    clock.now = 101.0
    a.leases.book.granted("erin", asked_at=100.5, tokens=1, own=True, left=0, generation=4, lease_ms=5000)
    assert a.leases.book.read_generation("erin") == 4


async def test_spare_tokens_go_back_to_the_bucket_when_a_lease_lapses(
    processes: Callable[..., Any], redis_url: str
) -> None:
    clock = Clock(100.0)
    a = await processes(clock=clock)
    await a.limiter.admit("frank")  # its own token and spare ones
    await a.limiter.admit("frank")  # spent from the lease
    await a.limiter.admit("frank")
    lease = a.leases.book.lease("frank")
    assert lease is not None and lease.spare > 0
    with redis.Redis.from_url(redis_url) as r:
        assert float(r.hget(bucket_key("frank"), "t")) == pytest.approx(97 - lease.spare, abs=0.2)

        clock.now += 60  # unused: the lease lapses
        await a.leases.tick()

        assert float(r.hget(bucket_key("frank"), "t")) == pytest.approx(97, abs=0.2)


async def test_a_user_in_use_keeps_its_lease_renewed_in_the_background(
    processes: Callable[..., Any], redis_url: str
) -> None:
    clock = Clock(100.0)
    a = await processes(clock=clock)

    async def a_while(seconds: float) -> int:
        """Two reads a second, the background ticking between them: the reads' round trips."""
        on_requests = 0
        for _ in range(int(seconds * 2)):
            clock.now += 0.5
            before = script_calls(redis_url)
            await a.read("grace")
            on_requests += script_calls(redis_url) - before
            await a.leases.tick()
        return on_requests

    await a.read("grace")
    await a_while(10)  # the first requests size the user's lease

    assert await a_while(30) == 0  # 60 reads, every one answered from the renewed lease
    lease = a.leases.book.lease("grace")
    assert lease is not None and lease.generation is not None and lease.spare > 0


async def test_a_process_holds_at_most_what_the_bucket_refills_in_two_leases(
    processes: Callable[..., Any], redis_url: str
) -> None:
    a = await processes()  # 100 tokens a minute, 5 s leases: 17 tokens refill in two leases
    for _ in range(40):
        await a.read("henry")
        lease = a.leases.book.lease("henry")
        assert lease is not None and lease.spare <= 17
    with redis.Redis.from_url(redis_url) as r:  # 40 spent, the rest still the user's
        assert float(r.hget(bucket_key("henry"), "t")) >= 100 - 40 - 17


async def test_tokens_handed_out_after_a_read_lease_do_not_keep_serving_its_pages(
    processes: Callable[..., Any],
) -> None:
    reader, writer = await processes(seconds=1.0), await processes(seconds=1.0)
    before = await reader.read("ivy")  # a read lease of 1 s, and spare tokens
    await asyncio.sleep(0.5)
    while reader.leases.book.take_token("ivy") is not None:
        pass
    assert (await reader.limiter.admit("ivy")).allowed  # a gate call: new spare tokens, no read lease

    await asyncio.sleep(0.6)  # the read lease Redis recorded has ended; the tokens run on
    await writer.cache.invalidate_user("ivy")  # nobody holds a lease: nobody is told

    assert await reader.read("ivy") != before
