"""List pages in Redis, behind an in-process copy, checked against the user's write generation.

Keys follow the architecture document: user_data:{user_id} is a hash of the user's pages and
user_data:{user_id}:gen counts the user's writes. A write moves the generation on and drops the
hash in one script, so invalidation never scans the keyspace. A read asks Redis for the
generation (with the rate limit, in the same round trip) and is answered from the in-process
copy when that copy was stored under the current generation; only otherwise do the page's bytes
cross the network. Pages are kept and answered as stored bytes, never decoded.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.cache.memory import BoundedPages
from app.ratelimit import Decision, RateLimiter
from app.ratelimit.redis import RedisTokenBucket, bucket_key
from app.redisio import Batched, Pause, script

GENERATION_TTL_SECONDS = 86_400


def page_keys(user_id: str) -> list[str]:
    """The user's page hash and generation counter, under the user's hash tag."""
    return [f"user_data:{{{user_id}}}", f"user_data:{{{user_id}}}:gen"]


class RedisPageCache:
    """PageCache shared by every process of the service, with a byte-bounded local copy."""

    def __init__(
        self,
        client: Redis,
        *,
        ttl_seconds: float,
        local_max_bytes: int,
        pause: Pause,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl = max(1, int(ttl_seconds))
        self._pause = pause
        self._local = BoundedPages(max_bytes=local_max_bytes, ttl_seconds=ttl_seconds, clock=clock)
        self._gate = Batched(client, script(client, "gate"))
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
        admitted = Decision(True, 0, 0, 0, 0) if limiter is None else limiter.admitted_anyway()
        if self._pause.active or (self._unsent and not await self._resend()):
            return admitted, None, -1  # Redis is away: the database answers, nothing is cached
        local = self._local.get(user_id, key)
        try:
            allowed, left, wait_ms, generation, page = await self._gate(
                keys=[bucket_key(user_id), *page_keys(user_id)],
                args=[
                    0 if limiter is None else limiter.rate,
                    0 if limiter is None else limiter.window,
                    key,
                    "" if local is None else local[0],
                ],
            )
        except (RedisError, OSError) as exc:
            self._pause.failed("cache read", exc)
            return admitted, None, -1
        decision = admitted if limiter is None else limiter.decision(allowed, left, wait_ms)
        if not allowed:
            return decision, None, -1
        token = int(generation)
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
        self._local.forget_user(user_id)
        if self._pause.active:
            self._unsent.add(user_id)
            return
        try:
            await self._invalidate(keys=page_keys(user_id), args=[GENERATION_TTL_SECONDS])
        except (RedisError, OSError) as exc:
            self._pause.failed("cache invalidation", exc)
            self._unsent.add(user_id)

    async def _resend(self) -> bool:
        """Send the invalidations Redis missed; False while it still fails."""
        while self._unsent:
            user_id = self._unsent.pop()
            try:
                await self._invalidate(keys=page_keys(user_id), args=[GENERATION_TTL_SECONDS])
            except (RedisError, OSError) as exc:
                self._unsent.add(user_id)
                self._pause.failed("cache invalidation", exc)
                return False
        return True

    async def ping(self) -> None:
        await self._client.ping()

    async def close(self) -> None:
        self._local.clear()
