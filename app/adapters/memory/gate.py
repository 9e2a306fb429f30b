"""The read gate in this process: the limiter's buckets, then the page cache, both held here."""

from __future__ import annotations

from app.adapters.memory.limiter import MemoryLimiter
from app.adapters.memory.pages import MemoryPageCache
from app.ports.cache import Lookup
from app.ports.gate import UNASKED
from app.ports.limiter import Decision


class MemoryReadGate:
    """ReadGate on this process's buckets and pages."""

    def __init__(self, limiter: MemoryLimiter, pages: MemoryPageCache) -> None:
        self._limiter = limiter
        self._pages = pages

    async def read(self, budget: str, user_id: str, page_key: str) -> tuple[Decision, Lookup]:
        decision = await self._limiter.admit(budget)
        if not decision.allowed:
            return decision, UNASKED
        return decision, await self._pages.get(user_id, page_key)
