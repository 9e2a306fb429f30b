"""The in-process page cache: an LRU bounded in bytes, with a TTL per entry.

Pages are kept LZ4-compressed (by Blosc) when that saves a quarter or more: JSON pages of
records shrink several times, so the same bytes of memory hold the whole hot set, and a hit
pays far less to decompress than a round trip to Redis or the database would cost.

Blosc, because it keeps the GIL while it works. The other bindings (lz4, cramjam, zstandard,
pyzstd, zlib) let it go around each call, and under granian a server thread is waiting for
it: the event loop then sleeps until that thread hands it back, which cost a cached read more
than the rest of its work (docs/performance.md, "The GIL and granian's threads", has the
figures). Blosc imports numpy when it is installed, which costs memory in every worker; the
service's own dependencies do not bring it."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

import blosc

from app.ports.cache import CacheStats, Lookup, Page, StalePage

blosc.set_releasegil(False)
blosc.set_nthreads(1)  # a page is one block: helper threads would only wait on each other


def pack(page: bytes) -> bytes | bytearray:
    """The page as kept: compressed (as a bytearray, so it cannot be mistaken for a page) when
    that saves at least a quarter, else the page itself."""
    packed = blosc.compress(page, typesize=1, clevel=9, shuffle=blosc.NOSHUFFLE, cname="lz4")
    return bytearray(packed) if len(packed) * 4 <= len(page) * 3 else page


def unpack(kept: bytes | bytearray) -> bytes:
    return blosc.decompress(kept) if isinstance(kept, bytearray) else kept


class BoundedPages:
    """Pages by (user, key), each with its tag and the generation it was stored under; LRU
    within a byte bound.

    A page past its TTL is no longer answered by `get`, but is kept `max_stale_seconds` longer
    (within the same byte bound) for `stale`, which answers it while the database is away."""

    ENTRY_OVERHEAD = 200  # bytes of bookkeeping counted per entry, besides key and value

    def __init__(
        self,
        *,
        max_bytes: int,
        ttl_seconds: float,
        clock: Callable[[], float],
        max_stale_seconds: float = 0.0,
    ) -> None:
        self._max_bytes = max_bytes
        self._ttl = ttl_seconds
        self._max_stale = max_stale_seconds
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], tuple[float, int, bytes | bytearray, bytes]] = (
            OrderedDict()
        )
        self._keys_by_user: dict[str, set[str]] = {}
        self.size_bytes = 0

    def get(self, user_id: str, key: str) -> tuple[int, Page] | None:
        """The generation and page stored for (user, key), unless absent or expired."""
        entry = self._entries.get((user_id, key))
        if entry is None:
            return None
        expires, generation, value, tag = entry
        if expires <= self._clock():
            if expires + self._max_stale <= self._clock():
                self._drop((user_id, key))
            return None
        self._entries.move_to_end((user_id, key))
        return generation, Page(unpack(value), tag)

    def stale(self, user_id: str, key: str) -> tuple[int, StalePage] | None:
        """The generation and the page kept for (user, key) past its TTL, unless staler than the bound."""
        entry = self._entries.get((user_id, key))
        if entry is None:
            return None
        expires, generation, value, tag = entry
        overdue = self._clock() - expires
        if overdue < 0 or overdue >= self._max_stale:
            return None
        return generation, StalePage(Page(unpack(value), tag), self._ttl + overdue, overdue)

    def put(self, user_id: str, key: str, generation: int, page: Page) -> None:
        """Keep the page, evicting the least recently used ones past the byte bound."""
        kept = pack(page.body)
        cost = self._cost(user_id, key, kept)
        if cost > self._max_bytes:
            return
        self._drop((user_id, key))
        self._entries[(user_id, key)] = (self._clock() + self._ttl, generation, kept, page.tag)
        self._keys_by_user.setdefault(user_id, set()).add(key)
        self.size_bytes += cost
        while self.size_bytes > self._max_bytes:
            self._drop(next(iter(self._entries)))

    def forget_user(self, user_id: str) -> None:
        """Drop every page of this user."""
        for key in self._keys_by_user.pop(user_id, ()):
            self._drop((user_id, key), unlink=False)

    def clear(self) -> None:
        self._entries.clear()
        self._keys_by_user.clear()
        self.size_bytes = 0

    def _cost(self, user_id: str, key: str, value: bytes | bytearray) -> int:
        return len(value) + len(user_id) + len(key) + self.ENTRY_OVERHEAD

    def _drop(self, entry_key: tuple[str, str], *, unlink: bool = True) -> None:
        entry = self._entries.pop(entry_key, None)
        if entry is None:
            return
        user_id, key = entry_key
        self.size_bytes -= self._cost(user_id, key, entry[2])
        if unlink:
            keys = self._keys_by_user.get(user_id)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._keys_by_user[user_id]


class MemoryPageCache:
    """PageCache held in this process (the default when no Redis is configured)."""

    def __init__(
        self,
        *,
        max_bytes: int,
        ttl_seconds: float,
        max_stale_seconds: float = 0.0,
        min_uses: int = 1,
        max_tracked_users: int = 100_000,
        max_asked: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pages = BoundedPages(
            max_bytes=max_bytes, ttl_seconds=ttl_seconds, clock=clock, max_stale_seconds=max_stale_seconds
        )
        # When each user last wrote, on a logical clock (the generation `get` hands out);
        # forgotten oldest first, after which every generation older than the forgotten write
        # is refused (`_floor`).
        self._tick = 0
        self._written_at: OrderedDict[str, int] = OrderedDict()
        self._max_tracked_users = max_tracked_users
        self._floor = 0
        # Pages missed fewer than min_uses times: when first asked for, and how often since;
        # the oldest forgotten first past max_asked (a few hundred bytes each).
        self._min_uses = min_uses
        self._ttl = ttl_seconds
        self._clock = clock
        self._asked: OrderedDict[tuple[str, str], tuple[float, int]] = OrderedDict()
        self._max_asked = max_asked
        self.stats = CacheStats()

    @property
    def size_bytes(self) -> int:
        """Bytes held, bookkeeping included."""
        return self._pages.size_bytes

    async def get(self, user_id: str, key: str) -> Lookup:
        """The page (or None) and the generation to pass to `set` (the read gate's lookup)."""
        found = self._pages.get(user_id, key)
        if found is None:
            self.stats.misses += 1
            return None, self._tick, self._min_uses <= 1 or self._asked_enough((user_id, key))
        self.stats.local_hits += 1
        return found[1], self._tick, True

    def _asked_enough(self, page: tuple[str, str]) -> bool:
        """Count this miss; True once the page has been asked for min_uses times within the TTL (the
        count is kept, so that a page in demand is kept again at once after a write drops it)."""
        now = self._clock()
        first, count = self._asked.pop(page, (now, 0))
        if first + self._ttl <= now:
            first, count = now, 0
        self._asked[page] = (first, count + 1)
        if len(self._asked) > self._max_asked:
            self._asked.popitem(last=False)
        return count + 1 >= self._min_uses

    async def set(self, user_id: str, key: str, value: Page, generation: int) -> None:
        if generation < self._floor or self._written_at.get(user_id, -1) >= generation:
            return
        self._pages.put(user_id, key, generation, value)

    async def stale(self, user_id: str, key: str, generation: int) -> StalePage | None:
        found = self._pages.stale(user_id, key)  # a write drops the user's pages: any kept is current
        if found is None:
            return None
        self.stats.stale += 1
        return found[1]

    async def invalidate_user(self, user_id: str) -> None:
        self._written_at[user_id] = self._tick
        self._written_at.move_to_end(user_id)
        self._tick += 1
        if len(self._written_at) > self._max_tracked_users:
            _, forgotten = self._written_at.popitem(last=False)
            self._floor = max(self._floor, forgotten + 1)
        self._pages.forget_user(user_id)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._pages.clear()
