"""Token buckets in Redis: one Lua script, atomic, on Redis's own clock, one key per user."""

from __future__ import annotations

import math

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.ratelimit import Decision
from app.redisio import Batched, Pause, script


def bucket_key(user_id: str) -> str:
    """The user's bucket; the braces are the Redis Cluster hash tag shared with its cache keys."""
    return f"rate_limit:{{{user_id}}}"


class RedisTokenBucket:
    """RateLimiter shared by every process of the service. When Redis fails, requests are
    admitted (the limit protects the database; refusing everyone would be the outage)."""

    def __init__(self, client: Redis, *, rate: int, window: int, pause: Pause) -> None:
        self.client = client
        self.rate = rate
        self.window = window
        self.pause = pause
        self.gate = Batched(client, script(client, "gate"))

    def decision(self, allowed: int, left: int, wait_ms: int) -> Decision:
        """The Decision for what the gate script answered."""
        retry_after = 0 if allowed else max(1, math.ceil(int(wait_ms) / 1000))
        return Decision(bool(allowed), self.rate, self.window, int(left), retry_after)

    def admitted_anyway(self) -> Decision:
        return Decision(True, self.rate, self.window, self.rate, 0)

    async def acquire(self, user_id: str) -> Decision:
        if self.pause.active:
            return self.admitted_anyway()
        try:
            allowed, left, wait_ms, _, _ = await self.gate(
                keys=[bucket_key(user_id)], args=[self.rate, self.window]
            )
        except (RedisError, OSError) as exc:
            self.pause.failed("rate limit", exc)
            return self.admitted_anyway()
        return self.decision(allowed, left, wait_ms)

    async def close(self) -> None:
        return None  # the client belongs to the composition root
