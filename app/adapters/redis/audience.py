"""Users seen lately, counted in Redis HyperLogLogs (PFADD / PFCOUNT, 0.81% standard error,
12 KB a key): one key a window bucket, all of a window's keys in one hash slot (the window's
hash tag), so one PFCOUNT counts the union of its buckets across every process."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from app.adapters.redis.client import Client
from app.adapters.redis.keys import audience_key
from app.ports.audience import WINDOWS, buckets
from app.resilience.breakers import Breaker


class RedisAudience:
    def __init__(self, client: Client, breaker: Breaker) -> None:
        self._client = client
        self._breaker = breaker

    async def add(self, users: Collection[str], now: float) -> None:
        if not users:
            return
        with self._breaker.guard():
            async with self._client.pipeline(transaction=False) as pipe:
                for label, span, size in WINDOWS:
                    key = audience_key(label, buckets(span, size, now)[-1])
                    pipe.pfadd(key, *users)
                    pipe.expire(key, span + size)
                await pipe.execute()

    async def counts(self, now: float) -> dict[str, int]:
        # One PFCOUNT a window, side by side: a cluster client pipelines no command of several
        # keys, and this runs every few seconds, never on a request's path.
        with self._breaker.guard():
            found = await asyncio.gather(
                *(
                    self._client.pfcount(*(audience_key(label, n) for n in buckets(span, size, now)))
                    for label, span, size in WINDOWS
                )
            )
        return {label: int(count) for (label, _, _), count in zip(WINDOWS, found, strict=True)}
