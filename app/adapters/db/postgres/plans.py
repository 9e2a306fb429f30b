"""Which users' list pages PostgreSQL plans with their values, learned from its own statistics.

A list statement runs prepared, and after five runs PostgreSQL keeps one generic plan for it, made
for a user of average size. On a table whose records sit in few partitions that plan reads every
row of the user and sorts them: right for a user of ten records, and for a user of 50,000 a page
of 20 takes 140 ms where a plan made with the user's value walks the index and takes 1 ms.
Planning with the values costs about half a millisecond over the partitions, so it is kept for
the users the statistics name as large (sql/postgres/large_users.sql: each partition's most
common values), read again in the background every few minutes: ANALYZE and autovacuum move
them that slowly. A failed reading keeps the users known before it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog

from app.concurrency import Every
from app.errors import ServiceError

log = structlog.get_logger("app.storage")

# A user counts as large from this many rows in one partition: a generic plan reading that many
# rows to sort them costs more than planning with the value (about 2.6 us a row against 0.5 ms).
LARGE_ROWS = 500
EVERY_SECONDS = 300.0


class LargeUsers:
    """The users whose lists are planned with their values: `learn` reads them, now and then
    every `every` seconds, from start() until close()."""

    def __init__(self, learn: Callable[[], Awaitable[frozenset[str]]], *, every: float = EVERY_SECONDS):
        self.users: frozenset[str] = frozenset()
        self._learn = learn
        self._every = Every(every, self.refresh, spread=0.2)

    async def start(self) -> None:
        await self.refresh()
        await self._every.start()

    async def close(self) -> None:
        await self._every.close()

    async def refresh(self) -> None:
        try:
            users = await self._learn()
        except ServiceError as exc:
            log.warning("large_users_unread", error=exc.detail)
            return
        if users != self.users:
            log.info("large_users", count=len(users))
        self.users = users
