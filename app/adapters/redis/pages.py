"""List pages in Redis, behind an in-process copy, checked against the user's write generation.

Keys follow the architecture document: user_data:{user_id} is a hash of the user's pages and
user_data:{user_id}:gen counts the user's writes. A write moves the generation on and drops the
hash in one script, so invalidation never scans the keyspace. A read asks Redis for the
generation (with the rate limit, in the same round trip) and is answered from the in-process
copy when that copy was stored under the current generation; only otherwise do the page's bytes
cross the network. Pages are kept and answered as stored bytes, never decoded.

While the process holds a read lease on the user (app/leases.py), the copy is answered without
asking at all: a write elsewhere is acknowledged only after the lease has been dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.adapters.memory.pages import BoundedPages
from app.adapters.redis.leases import CHANNEL_PREFIX, Leases, Told
from app.ports.admission import Decision, RateLimiter
from app.adapters.redis.admission import RedisTokenBucket
from app.adapters.redis.client import Batched, Pause, bucket_key, lease_key, page_keys, script

GENERATION_TTL_SECONDS = 86_400
NO_LIMIT = Decision(True, 0, 0, 0, 0)  # what a read on behalf of nobody's budget is "admitted" with


def _anyway(decision: Decision | None, limiter: RedisTokenBucket | None) -> Decision:
    """The decision when Redis cannot be asked: the lease's, or admitted (fail-open)."""
    if decision is not None:
        return decision
    return NO_LIMIT if limiter is None else limiter.admitted_anyway()


class RedisPageCache:
    """PageCache shared by every process of the service, with a byte-bounded local copy."""

    def __init__(
        self,
        client: Redis,
        *,
        ttl_seconds: float,
        local_max_bytes: int,
        pause: Pause,
        leases: Leases,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl = max(1, int(ttl_seconds))
        self._pause = pause
        self._leases = leases
        self._local = BoundedPages(max_bytes=local_max_bytes, ttl_seconds=ttl_seconds, clock=clock)
        self._gate = leases.gate
        self._store = Batched(client, script(client, "store_page"))
        self._invalidate = Batched(client, script(client, "invalidate"))
        self._unsent: set[str] = set()  # users whose invalidation Redis missed

    async def get(self, user_id: str, key: str) -> tuple[bytes | None, int]:
        _, value, token = await self._read(user_id, key, None)
        return value, token

    async def get_admitted(
        self, user_id: str, key: str, limiter: RateLimiter
    ) -> tuple[Decision, bytes | None, int]:
        if isinstance(limiter, RedisTokenBucket) and limiter.client is self._client:
            return await self._read(user_id, key, limiter)
        decision = await limiter.acquire(user_id)
        if not decision.allowed:
            return decision, None, -1
        value, token = await self.get(user_id, key)
        return decision, value, token

    async def _read(
        self, user_id: str, key: str, limiter: RedisTokenBucket | None
    ) -> tuple[Decision, bytes | None, int]:
        decision = NO_LIMIT if limiter is None else limiter.from_lease(user_id)
        local = self._local.get(user_id, key)
        if decision is not None:  # no token to ask Redis for
            leased = self._leases.read_generation(user_id)
            if leased is not None and local is not None and local[0] == leased:
                self._leases.served(user_id)
                return decision, local[1], leased
        if self._pause.active or (self._unsent and not await self._resend()):
            return _anyway(decision, limiter), None, -1  # Redis is away: the database answers

        own = decision is None  # this request still needs its token (and there is a limiter)
        want = 0 if limiter is None else self._leases.want(user_id, own=own, eager=True)
        lease_ms = self._leases.read_lease_ms
        asked_at = self._leases.now()
        try:
            allowed, granted, left, wait_ms, generation, page = await self._gate(
                keys=[bucket_key(user_id), *page_keys(user_id), lease_key(user_id)],
                args=[
                    want,
                    0 if limiter is None else limiter.rate,
                    0 if limiter is None else limiter.window,
                    key,
                    "" if local is None else local[0],
                    lease_ms,
                    self._leases.holder,
                    int(own),
                ],
            )
        except (RedisError, OSError) as exc:
            self._pause.failed("cache read", exc)
            return _anyway(decision, limiter), None, -1
        self._leases.contact()
        if not allowed:  # a concurrent request of this process may have been handed spare tokens
            assert limiter is not None and own
            if (decision := limiter.from_lease(user_id)) is None:
                return limiter.decision(allowed, left, wait_ms), None, -1
            _, value, token = await self._read(user_id, key, None)
            return decision, value, token
        token = int(generation)
        self._leases.granted(
            user_id,
            asked_at=asked_at,
            tokens=granted,
            own=own,
            left=left,
            generation=token,
            lease_ms=lease_ms,
        )
        if decision is None:
            assert limiter is not None
            decision = limiter.decision(allowed, left, wait_ms)
        if local is not None and local[0] == token:
            return decision, local[1], token
        if page is not None:
            self._local.put(user_id, key, token, page)
        return decision, page, token

    async def set(self, user_id: str, key: str, value: bytes, token: int) -> None:
        if token < 0 or self._pause.active:
            return
        try:
            stored = await self._store(keys=page_keys(user_id), args=[key, value, self._ttl, token])
        except (RedisError, OSError) as exc:
            self._pause.failed("cache write", exc)
            return
        if stored:
            self._local.put(user_id, key, token, value)

    async def invalidate_user(self, user_id: str) -> None:
        """Forget the user's pages everywhere; return once no process can serve an older one."""
        self._local.forget_user(user_id)
        nonce, message = self._leases.writing(user_id)
        told = None
        if self._pause.active:
            self._unsent.add(user_id)
        else:
            try:
                told = await self._send_invalidation(user_id, message)
            except (RedisError, OSError) as exc:
                self._pause.failed("cache invalidation", exc)
                self._unsent.add(user_id)
        await self._leases.written(user_id, nonce, told)

    async def _send_invalidation(self, user_id: str, message: str) -> Told:
        _, holders, told_ms, unheard_ms = await self._invalidate(
            keys=[*page_keys(user_id), lease_key(user_id)],
            args=[GENERATION_TTL_SECONDS, self._leases.holder, CHANNEL_PREFIX, message],
        )
        return Told(int(holders), int(told_ms) / 1000, int(unheard_ms) / 1000)

    async def _resend(self) -> bool:
        """Send the invalidations Redis missed; False while it still fails."""
        while self._unsent:
            user_id = self._unsent.pop()
            try:
                await self._send_invalidation(user_id, f"{self._leases.holder} 0 {user_id}")
            except (RedisError, OSError) as exc:
                self._unsent.add(user_id)
                self._pause.failed("cache invalidation", exc)
                return False
        return True

    async def ping(self) -> None:
        await self._client.ping()

    async def close(self) -> None:
        self._local.clear()
