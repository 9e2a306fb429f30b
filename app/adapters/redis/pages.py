"""List pages in Redis, behind an in-process copy, checked against the user's write generation.

user_data:{user_id} is a hash of the user's pages and user_data:{user_id}:gen counts the user's
writes (keys.py). A write moves the generation on and drops the hash in one script, so
invalidation never scans the keyspace. Pages are kept as stored bytes, never decoded, each with
its tag (ports/cache.py) in the same hash field. Reading a page is the read gate's (gate.py):
the generation, the page and the user's tokens in one round trip.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from redis.exceptions import RedisError

from app.adapters.memory.pages import BoundedPages
from app.adapters.redis.client import Client, Script
from app.adapters.redis.codec import InvalidateCall, Revoke, StorePageCall, Told, stored
from app.adapters.redis.leases import Leases
from app.concurrency import Coalescer
from app.ports.cache import CacheStats, Page, StalePage
from app.resilience.breakers import Breaker, BreakerOpen

GENERATION_TTL_SECONDS = 86_400


class RedisPageCache:
    """PageCache shared by every process of the service, with a byte-bounded local copy (which
    the read gate answers from while it is current)."""

    def __init__(
        self,
        client: Client,
        *,
        ttl_seconds: float,
        local_max_bytes: int,
        breaker: Breaker,
        leases: Leases,
        max_stale_seconds: float = 0.0,
        min_uses: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self.ttl = max(1, int(ttl_seconds))
        self.min_uses = min_uses  # the read gate counts a page's misses (gate.lua) against it
        self._breaker = breaker
        self._leases = leases
        self.local = BoundedPages(
            max_bytes=local_max_bytes,
            ttl_seconds=ttl_seconds,
            clock=clock,
            max_stale_seconds=max_stale_seconds,
        )
        self._store: Coalescer[StorePageCall, bool] = Script(client, "store_page", stored).pipelined()
        self._invalidate: Coalescer[InvalidateCall, Told] = Script(
            client, "invalidate", Told.decode
        ).pipelined()
        self.unsent: set[str] = set()  # users whose invalidation Redis missed
        self.stats = CacheStats(shared="redis")

    async def set(self, user_id: str, key: str, value: Page, generation: int) -> None:
        if generation < 0 or self._breaker.is_open:
            return
        try:
            with self._breaker.guard():
                kept = await self._store(StorePageCall(user_id, key, value, self.ttl, generation))
        except (RedisError, OSError, BreakerOpen):
            return
        if kept:
            self.local.put(user_id, key, generation, value)

    async def stale(self, user_id: str, key: str, generation: int) -> StalePage | None:
        """The local copy past its TTL, if Redis's generation (when it could be asked) is still
        the one the copy was stored under: pages in Redis expire with their TTL."""
        found = self.local.stale(user_id, key)
        if found is None or (generation >= 0 and found[0] != generation):
            return None
        self.stats.stale += 1
        return found[1]

    async def invalidate_user(self, user_id: str) -> None:
        """Forget the user's pages everywhere; return once no process can serve an older one."""
        self.local.forget_user(user_id)
        revoke = self._leases.writing(user_id)
        told = None
        if self._breaker.is_open:
            self.unsent.add(user_id)
        else:
            try:
                with self._breaker.guard():
                    told = await self._invalidate(InvalidateCall(revoke, GENERATION_TTL_SECONDS))
            except (RedisError, OSError, BreakerOpen):
                self.unsent.add(user_id)
        await self._leases.written(revoke, told)

    async def resend(self) -> bool:
        """Send the invalidations Redis missed (`unsent`); False while it still fails. The read
        gate calls it before it trusts Redis's generations again."""
        while self.unsent:
            user_id = self.unsent.pop()
            try:  # nonce 0: this write was acknowledged long ago, nobody waits for the answers
                with self._breaker.guard():
                    await self._invalidate(
                        InvalidateCall(Revoke(self._leases.holder, 0, user_id), GENERATION_TTL_SECONDS)
                    )
            except (RedisError, OSError, BreakerOpen):
                self.unsent.add(user_id)
                return False
        return True

    async def ping(self) -> None:
        with self._breaker.guard():  # an open breaker answers the probe at once: BreakerOpen
            await self._client.ping()

    async def close(self) -> None:
        self.local.clear()
