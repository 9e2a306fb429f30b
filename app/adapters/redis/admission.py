"""Token buckets in Redis: one Lua script, atomic, on Redis's own clock, one key per user.

A process may be handed a few of a user's tokens at once (app/leases.py) and spend them on the
user's next requests without a round trip; they have left the bucket already, so the budget
holds across every process."""

from __future__ import annotations

import math

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.adapters.redis.leases import Leases
from app.ports.admission import Decision
from app.adapters.redis.client import Pause, bucket_key


class RedisTokenBucket:
    """RateLimiter shared by every process of the service. When Redis fails, requests are
    admitted (the limit protects the database; refusing everyone would be the outage)."""

    def __init__(self, client: Redis, *, rate: int, window: int, pause: Pause, leases: Leases) -> None:
        self.client = client
        self.rate = rate
        self.window = window
        self.pause = pause
        self.leases = leases
        self.gate = leases.gate

    def decision(self, allowed: int, left: int, wait_ms: int) -> Decision:
        """The Decision for what the gate script answered."""
        retry_after = 0 if allowed else max(1, math.ceil(int(wait_ms) / 1000))
        return Decision(bool(allowed), self.rate, self.window, int(left), retry_after)

    def from_lease(self, user_id: str) -> Decision | None:
        """Admitted on a spare token this process holds for the user, if it holds one."""
        lease = self.leases.take_token(user_id)
        return None if lease is None else self.decision(1, self.leases.spare_left(lease), 0)

    def admitted_anyway(self) -> Decision:
        return Decision(True, self.rate, self.window, self.rate, 0)

    async def acquire(self, user_id: str) -> Decision:
        if (decision := self.from_lease(user_id)) is not None:
            return decision
        if self.pause.active:
            return self.admitted_anyway()
        asked_at = self.leases.now()
        try:
            allowed, granted, left, wait_ms, _, _ = await self.gate(
                keys=[bucket_key(user_id)], args=[self.leases.want(user_id, own=True), self.rate, self.window]
            )
        except (RedisError, OSError) as exc:
            self.pause.failed("rate limit", exc)
            return self.admitted_anyway()
        self.leases.contact()
        if not allowed:  # a concurrent request of this process may have been handed spare tokens
            return self.from_lease(user_id) or self.decision(allowed, left, wait_ms)
        self.leases.granted(
            user_id, asked_at=asked_at, tokens=granted, own=True, left=left, generation=None, lease_ms=0
        )
        return self.decision(allowed, left, wait_ms)

    async def close(self) -> None:
        return None  # the client belongs to the composition root
