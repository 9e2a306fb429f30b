"""Users' write positions held in this process (without Redis: read-your-writes within it)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class MemoryPositions:
    """WritePositions in this process: each user's latest write position, kept `keep_seconds`
    (past that every usable replica has replayed it) and for at most `max_users` users; a user
    forgotten early leaves its position as a floor every read must reach, never a gap."""

    def __init__(
        self, *, keep_seconds: float, max_users: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._keep = keep_seconds
        self._max_users = max_users
        self._clock = clock
        self._written: OrderedDict[str, tuple[int, float]] = OrderedDict()  # oldest write first
        self._floor = 0

    async def advance(self, user_id: str, position: int) -> bool:
        now = self._clock()
        kept = self._written.pop(user_id, None)
        self._written[user_id] = (max(position, kept[0] if kept else 0), now)
        while self._written:
            first, (at, when) = next(iter(self._written.items()))
            if when + self._keep > now and len(self._written) <= self._max_users:
                break
            del self._written[first]
            if when + self._keep > now:  # forgotten before its time: what it wrote still counts
                self._floor = max(self._floor, at)
        return True

    async def of(self, user_id: str) -> int | None:
        kept = self._written.get(user_id)
        if kept is None or kept[1] + self._keep <= self._clock():
            return self._floor
        return max(kept[0], self._floor)
