"""Which history of the database the cached pages belong to.

A database restored from a backup (to its latest point, or to a point in time) goes on from an
earlier state on a new history: PostgreSQL says so with its system identifier and a new
timeline, Oracle with a new incarnation. Pages cached before (in this process, in Redis, by
every process) may hold records that no longer exist. So the page cache is keyed by the
history: each process asks the database which one it is at start and every second (around the
breaker, so a database restored while the breaker is open is noticed at once), and from the
moment a new one is seen it reads and keeps pages under the new key only. The pages of the old
history are never answered again; they leave with their TTL or the caches' bounds. Nothing is
scanned or flushed, and no operator has to step in.

Between the restored database's first answer and a process's next look (a second at most) a
page of the old history may still be answered; so may any cached page while the database is
unreachable, as it is during an outage (it was the latest known then)."""

from __future__ import annotations

import structlog

from app.concurrency import Every
from app.ports.storage import RecordRepository

log = structlog.get_logger("app.history")
EVERY_SECONDS = 1.0


class History:
    """The database's history as this process last saw it ("" before it was first seen, and
    where the database cannot tell: SQLite)."""

    def __init__(self, repository: RecordRepository, *, every: float = EVERY_SECONDS) -> None:
        self._repository = repository
        self.current = ""
        self.changes = 0  # histories seen after the first (a restore each)
        self._untold = False  # the database said it cannot tell (SQLite): asked no more
        self._looking = Every(every, self.look)

    def key(self, page_key: str) -> str:
        """A page's cache key in the current history."""
        return f"{self.current}|{page_key}" if self.current else page_key

    async def look(self) -> None:
        """Ask the database once; a database that does not answer changes nothing."""
        if self._untold:
            return
        try:
            found = await self._repository.history()
        except Exception:  # unreachable, timed out: the breaker and /ready report it
            return
        self._untold = found is None
        if not found or found == self.current:
            return
        if self.current:
            self.changes += 1
            log.warning(
                "the database is on another history (restored from a backup?): cached pages of the"
                " one before are no longer answered",
                before=self.current,
                now=found,
            )
        self.current = found

    async def start(self) -> None:
        await self.look()
        await self._looking.start()

    async def close(self) -> None:
        await self._looking.close()
