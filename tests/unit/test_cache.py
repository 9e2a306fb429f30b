"""The in-process page cache: TTL, byte bound, per-user invalidation, no stale sets."""

from __future__ import annotations

import random

import pytest

from app.adapters.memory.pages import MemoryPageCache
from app.ports.cache import TAG_BYTES, Page
from tests.clock import Clock

pytestmark = pytest.mark.anyio
NOISE = random.Random(7).randbytes(1000)  # does not compress: sizes stay what they were


async def test_compressible_pages_cost_a_fraction_of_their_size_and_come_back_whole() -> None:
    page = b'{"items":[' + b",".join(b'{"body":"%s"}' % (b"%032x" % i * 26) for i in range(10)) + b"]}"
    cache = MemoryPageCache(max_bytes=10_000, ttl_seconds=300)

    await cache.set("alice", "p1", Page.of(page), 0)

    assert len(page) > 8_000 and cache.size_bytes < len(page) / 4
    assert (await cache.get("alice", "p1"))[0] == Page.of(page)


async def test_keeps_a_page_until_its_ttl() -> None:
    clock = Clock(0.0)
    cache = MemoryPageCache(max_bytes=10_000, ttl_seconds=300, clock=clock)
    _, token, _ = await cache.get("alice", "p1")
    await cache.set("alice", "p1", Page.of(b"page"), token)

    clock.now = 299
    assert (await cache.get("alice", "p1"))[0] == Page.of(b"page")
    clock.now = 300
    assert (await cache.get("alice", "p1"))[0] is None
    assert cache.size_bytes == 0


async def test_a_page_past_its_ttl_is_answered_as_stale_only_within_the_bound_and_never_after_a_write() -> (
    None
):
    clock = Clock(0.0)
    cache = MemoryPageCache(max_bytes=10_000, ttl_seconds=300, max_stale_seconds=60, clock=clock)
    await cache.set("alice", "p1", Page.of(b"page"), (await cache.get("alice", "p1"))[1])
    await cache.set("bob", "p1", Page.of(b"page"), (await cache.get("bob", "p1"))[1])

    clock.now = 299
    assert await cache.stale("alice", "p1", 0) is None  # still fresh: a plain hit, not stale
    clock.now = 310
    assert (await cache.get("alice", "p1"))[0] is None  # a normal read no longer sees it
    assert await cache.stale("alice", "p1", 0) == (Page.of(b"page"), 310, 10)
    await cache.invalidate_user("alice")
    assert await cache.stale("alice", "p1", 1) is None  # the write replaced it
    clock.now = 360
    assert await cache.stale("bob", "p1", 0) is None  # staler than the bound


async def test_stays_within_its_byte_bound_evicting_least_recently_used() -> None:
    cache = MemoryPageCache(max_bytes=3 * (100 + 200 + 6), ttl_seconds=300)
    for key in ("a", "b", "c"):
        await cache.set("alice", key, Page.of(NOISE[:100]), (await cache.get("alice", key))[1])
    await cache.get("alice", "a")  # a is now the most recently used

    await cache.set("bob", "d", Page.of(NOISE[100:200]), (await cache.get("bob", "d"))[1])

    assert cache.size_bytes <= 3 * (100 + 200 + 6)
    assert (await cache.get("alice", "b"))[0] is None
    assert (await cache.get("alice", "a"))[0] is not None
    assert (await cache.get("bob", "d"))[0] is not None


async def test_a_value_larger_than_the_bound_is_not_kept() -> None:
    cache = MemoryPageCache(max_bytes=100, ttl_seconds=300)

    await cache.set("alice", "a", Page.of(NOISE[:500]), 0)

    assert (await cache.get("alice", "a"))[0] is None and cache.size_bytes == 0


async def test_invalidation_forgets_only_that_users_pages() -> None:
    cache = MemoryPageCache(max_bytes=10_000, ttl_seconds=300)
    for user in ("alice", "bob"):
        for key in ("1", "2"):
            await cache.set(user, key, Page.of(b"page"), (await cache.get(user, key))[1])

    await cache.invalidate_user("alice")

    assert (await cache.get("alice", "1"))[0] is None and (await cache.get("alice", "2"))[0] is None
    assert (await cache.get("bob", "1"))[0] == Page.of(b"page")


async def test_a_page_read_before_a_write_is_not_cached_after_it() -> None:
    cache = MemoryPageCache(max_bytes=10_000, ttl_seconds=300)
    _, token, _ = await cache.get("alice", "1")  # a reader misses and goes to the database...

    await cache.invalidate_user("alice")  # ...meanwhile alice writes...
    await cache.set("alice", "1", Page.of(b"stale"), token)  # ...and the reader stores what it read

    assert (await cache.get("alice", "1"))[0] is None


async def test_other_users_writes_do_not_block_caching() -> None:
    cache = MemoryPageCache(max_bytes=10_000, ttl_seconds=300)
    _, token, _ = await cache.get("alice", "1")

    await cache.invalidate_user("bob")
    await cache.set("alice", "1", Page.of(b"fresh"), token)

    assert (await cache.get("alice", "1"))[0] == Page.of(b"fresh")


async def test_forgetting_old_writes_never_lets_a_stale_page_in() -> None:
    cache = MemoryPageCache(max_bytes=10_000, ttl_seconds=300, max_tracked_users=2)
    _, token, _ = await cache.get("alice", "1")
    await cache.invalidate_user("alice")
    await cache.invalidate_user("bob")
    await cache.invalidate_user("carol")  # alice's write is forgotten here

    await cache.set("alice", "1", Page.of(b"stale"), token)

    assert (await cache.get("alice", "1"))[0] is None


def test_a_pages_tag_is_a_digest_of_its_bytes_the_same_in_every_process() -> None:
    first = Page.of(b'{"items":[1]}')

    assert first == Page.of(b'{"items":[1]}') and len(first.tag) == TAG_BYTES
    assert Page.of(b'{"items":[2]}').tag != first.tag
    assert first.tag == b"J42fq0QC0rZ_WbLRy5qRfA"  # SHA-256 to 128 bits, base64url: no per-process salt


async def test_a_page_is_worth_keeping_once_asked_for_min_uses_times_within_the_ttl() -> None:
    clock = Clock(0.0)
    cache = MemoryPageCache(max_bytes=10_000, ttl_seconds=300, min_uses=3, clock=clock)

    asked = [(await cache.get("alice", "p1"))[2] for _ in range(3)]
    other = (await cache.get("alice", "p2"))[2]  # counted page by page
    clock.now = 400  # a TTL after the first miss: counting starts again
    again = (await cache.get("alice", "p1"))[2]

    assert asked == [False, False, True] and other is False and again is False


async def test_a_page_in_demand_is_kept_again_at_once_after_a_write_drops_it() -> None:
    cache = MemoryPageCache(max_bytes=10_000, ttl_seconds=300, min_uses=2)
    await cache.get("alice", "p1")
    _, generation, keep = await cache.get("alice", "p1")
    await cache.set("alice", "p1", Page.of(b"page"), generation)
    await cache.invalidate_user("alice")

    page, _, keep_after = await cache.get("alice", "p1")

    assert keep and page is None and keep_after


async def test_every_page_is_worth_keeping_with_min_uses_one_and_hits_always() -> None:
    cache = MemoryPageCache(max_bytes=10_000, ttl_seconds=300, min_uses=1)
    first = await cache.get("alice", "p1")
    await cache.set("alice", "p1", Page.of(b"page"), first[1])

    assert first[2] and (await cache.get("alice", "p1"))[2]


async def test_the_misses_counted_are_bounded_oldest_forgotten_first() -> None:
    cache = MemoryPageCache(max_bytes=10_000, ttl_seconds=300, min_uses=2, max_asked=2)
    for key in ("p1", "p2", "p3"):  # p1 is forgotten when p3 is counted
        await cache.get("alice", key)

    assert [(await cache.get("alice", key))[2] for key in ("p3", "p1")] == [True, False]
