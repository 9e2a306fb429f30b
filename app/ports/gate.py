"""The read gate: the one way a list read gets its page. It admits the caller on its budget and
looks the page up in the same step, because where the budget and the pages share a server
(Redis) one round trip answers both.

The page cache (cache.py) keeps and drops pages; the limiter (limiter.py) admits the other
requests; the gate is where the two meet, and nothing else reads a cached page."""

from __future__ import annotations

from typing import Protocol

from app.ports.cache import Lookup
from app.ports.limiter import Decision

UNASKED: Lookup = (None, -1, False)  # the cache was not asked: the database answers, and nothing is kept


class ReadGate(Protocol):
    """Admits a list read and finds its page."""

    async def read(self, budget: str, user_id: str, page_key: str) -> tuple[Decision, Lookup]:
        """The decision for the `budget` key (the caller's: the page's user, or an admin's own)
        and, when admitted, the page `page_key` of `user_id` with the generation to hand to
        PageCache.set; when refused, UNASKED."""
        ...
