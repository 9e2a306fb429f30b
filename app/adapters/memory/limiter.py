"""The limiter in this process: token buckets held here."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from app.ports.limiter import Decision


class MemoryLimiter:
    """Token buckets held in this process; buckets that refilled completely are forgotten."""

    def __init__(
        self,
        *,
        rate: int,
        window: int = 60,
        max_users: int = 200_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._capacity = float(rate)
        self._rate = rate
        self._window = window
        self._per_second = rate / window
        self._clock = clock
        self._max_users = max_users
        self._buckets: dict[str, tuple[float, float]] = {}

    @property
    def tracked(self) -> int:
        """How many users' buckets are held (bounded by `max_users`)."""
        return len(self._buckets)

    async def admit(self, user_id: str) -> Decision:
        now = self._clock()
        tokens, stamp = self._buckets.get(user_id, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - stamp) * self._per_second)
        if tokens >= 1.0:
            tokens -= 1.0
            self._buckets[user_id] = (tokens, now)
            if len(self._buckets) > self._max_users:
                self._forget_full(now)
            return Decision(True, self._rate, self._window, int(tokens), 0)
        self._buckets[user_id] = (tokens, now)
        wait = math.ceil((1.0 - tokens) / self._per_second)
        return Decision(False, self._rate, self._window, 0, max(wait, 1))

    async def close(self) -> None:
        self._buckets.clear()

    def _forget_full(self, now: float) -> None:
        full = [
            user
            for user, (tokens, stamp) in self._buckets.items()
            if tokens + (now - stamp) * self._per_second >= self._capacity
        ]
        for user in full:
            del self._buckets[user]
        # Still too many active users: forget the half first seen longest ago (they get a fresh
        # bucket, which errs towards admitting rather than towards unbounded memory).
        if len(self._buckets) > self._max_users:
            for user in list(self._buckets)[: len(self._buckets) // 2]:
                del self._buckets[user]
