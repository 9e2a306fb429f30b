"""List pages in Redis, behind an in-process copy, checked against the user's write generation.

Keys follow the architecture document: user_data:{user_id} is a hash of the user's pages and
user_data:{user_id}:gen counts the user's writes. A write moves the generation on and drops the
hash in one script, so invalidation never scans the keyspace. A read asks Redis for the
generation (for a list read, with the user's tokens, in the same round trip: admission.py) and
is answered from the in-process copy when that copy was stored under the current generation;
only otherwise do the page's bytes cross the network. Pages are kept and answered as stored
bytes, never decoded, each with its tag (ports/cache.py) in the same hash field.

While the process holds a read lease on the user (leases/), the copy is answered without
asking at all: a write elsewhere is acknowledged only after the lease has been dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.adapters.memory.pages import BoundedPages
from app.adapters.redis.client import Script
from app.adapters.redis.codec import GateCall, GateReply, InvalidateCall, Revoke, StorePageCall, Told, stored
from app.adapters.redis.leases import Leases
from app.concurrency import Coalescer
from app.ports.cache import CacheStats, Lookup, Page, StalePage
from app.resilience.breakers import Breaker, BreakerOpen

GENERATION_TTL_SECONDS = 86_400
UNASKED: Lookup = (None, -1)  # Redis was not asked: the database answers, and nothing is kept


class RedisPageCache:
    """PageCache shared by every process of the service, with a byte-bounded local copy."""

    def __init__(
        self,
        client: Redis,
        *,
        ttl_seconds: float,
        local_max_bytes: int,
        breaker: Breaker,
        leases: Leases,
        max_stale_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl = max(1, int(ttl_seconds))
        self._breaker = breaker
        self._leases = leases
        self._book = leases.book
        self._local = BoundedPages(
            max_bytes=local_max_bytes,
            ttl_seconds=ttl_seconds,
            clock=clock,
            max_stale_seconds=max_stale_seconds,
        )
        self._store: Coalescer[StorePageCall, bool] = Script(client, "store_page", stored).pipelined()
        self._invalidate: Coalescer[InvalidateCall, Told] = Script(
            client, "invalidate", Told.decode
        ).pipelined()
        self._unsent: set[str] = set()  # users whose invalidation Redis missed
        self.stats = CacheStats(shared="redis")

    async def get(self, user_id: str, key: str) -> Lookup:
        return (await self.read(user_id, key, limited=False, own=False))[1]

    async def read(
        self, user_id: str, key: str, *, limited: bool, own: bool
    ) -> tuple[GateReply | None, Lookup]:
        """The page, and the gate's reply when Redis was asked (None: answered under a read
        lease, or Redis is away). With `limited` the call also takes the user's tokens: the
        request's own when `own` (an empty bucket refuses it), else a top-up of this process's
        spare ones."""
        local = self._local.get(user_id, key)
        if not own:  # nothing to ask Redis for unless the copy is not current
            leased = self._book.read_generation(user_id)
            if leased is not None and local is not None and local[0] == leased:
                self._book.served(user_id)
                self.stats.local_hits += 1
                return None, (local[1], leased)
        if self._breaker.is_open or (self._unsent and not await self._resend()):
            self.stats.errors += 1
            return None, UNASKED
        budget = self._leases.budget
        call = GateCall(
            user_id,
            self._book.want(user_id, own=own, eager=True) if limited else 0,
            budget.rate if limited else 0,
            budget.window if limited else 0,
            pages=True,
            page_key=key,
            held_generation=None if local is None else local[0],
            lease_ms=self._leases.read_lease_ms,
            holder=self._leases.holder,
            own=own,
        )
        asked_at = self._leases.now()
        try:
            with self._breaker.guard():
                reply = await self._leases.gate(call)
        except (RedisError, OSError, BreakerOpen):
            self.stats.errors += 1
            return None, UNASKED
        self._leases.contact()
        if not reply.allowed or reply.generation is None:
            return reply, UNASKED
        self._book.granted(
            user_id,
            asked_at=asked_at,
            tokens=reply.granted,
            own=own,
            left=reply.left,
            generation=reply.generation,
            lease_ms=call.lease_ms,
        )
        if local is not None and local[0] == reply.generation:
            self.stats.local_hits += 1
            return reply, (local[1], reply.generation)
        if reply.page is None:
            self.stats.misses += 1
            return reply, (None, reply.generation)
        self.stats.shared_hits += 1
        self._local.put(user_id, key, reply.generation, reply.page)
        return reply, (reply.page, reply.generation)

    async def set(self, user_id: str, key: str, value: Page, generation: int) -> None:
        if generation < 0 or self._breaker.is_open:
            return
        try:
            with self._breaker.guard():
                kept = await self._store(StorePageCall(user_id, key, value, self._ttl, generation))
        except (RedisError, OSError, BreakerOpen):
            return
        if kept:
            self._local.put(user_id, key, generation, value)

    async def stale(self, user_id: str, key: str, generation: int) -> StalePage | None:
        """The local copy past its TTL, if Redis's generation (when it could be asked) is still
        the one the copy was stored under: pages in Redis expire with their TTL."""
        found = self._local.stale(user_id, key)
        if found is None or (generation >= 0 and found[0] != generation):
            return None
        self.stats.stale += 1
        return found[1]

    async def invalidate_user(self, user_id: str) -> None:
        """Forget the user's pages everywhere; return once no process can serve an older one."""
        self._local.forget_user(user_id)
        revoke = self._leases.writing(user_id)
        told = None
        if self._breaker.is_open:
            self._unsent.add(user_id)
        else:
            try:
                with self._breaker.guard():
                    told = await self._invalidate(InvalidateCall(revoke, GENERATION_TTL_SECONDS))
            except (RedisError, OSError, BreakerOpen):
                self._unsent.add(user_id)
        await self._leases.written(revoke, told)

    async def _resend(self) -> bool:
        """Send the invalidations Redis missed; False while it still fails."""
        while self._unsent:
            user_id = self._unsent.pop()
            try:  # nonce 0: this write was acknowledged long ago, nobody waits for the answers
                with self._breaker.guard():
                    await self._invalidate(
                        InvalidateCall(Revoke(self._leases.holder, 0, user_id), GENERATION_TTL_SECONDS)
                    )
            except (RedisError, OSError, BreakerOpen):
                self._unsent.add(user_id)
                return False
        return True

    async def ping(self) -> None:
        with self._breaker.guard():  # an open breaker answers the probe at once: BreakerOpen
            await self._client.ping()

    async def close(self) -> None:
        self._local.clear()
