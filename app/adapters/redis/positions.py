"""Users' write positions in Redis, shared by every process: one key a user, in the user's hash
slot, kept a little longer than a usable replica may lag."""

from __future__ import annotations

import math

from redis.exceptions import RedisError

from app.adapters.redis.client import Client, Script
from app.adapters.redis.codec import AdvanceCall, stored
from app.adapters.redis.keys import position_key
from app.concurrency import Coalescer
from app.resilience.breakers import Breaker, BreakerOpen


class RedisPositions:
    """WritePositions on the service's Redis, behind its breaker. While Redis is away a write's
    position cannot be kept nor a read's be known: such reads go to the primary."""

    def __init__(self, client: Client, breaker: Breaker, *, keep_seconds: float) -> None:
        self._client = client
        self._breaker = breaker
        self._keep = max(1, math.ceil(keep_seconds))
        self._advance: Coalescer[AdvanceCall, bool] = Script(client, "advance_position", stored).pipelined()

    async def advance(self, user_id: str, position: int) -> bool:
        try:
            with self._breaker.guard():
                return await self._advance(AdvanceCall(user_id, position, self._keep))
        except (RedisError, OSError, BreakerOpen):
            return False

    async def of(self, user_id: str) -> int | None:
        try:
            with self._breaker.guard():
                kept = await self._client.get(position_key(user_id))
        except (RedisError, OSError, BreakerOpen):
            return None
        return 0 if kept is None else int(kept)
