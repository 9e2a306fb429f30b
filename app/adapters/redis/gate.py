"""The read gate on Redis: a list read's token and its page in one gate.lua call.

The call takes the user's token (or tops up this process's spare ones), reads the user's write
generation and, unless this process's copy was stored under that generation, the page's bytes;
with leases on it also grants a read lease. While the process holds a read lease on the user
(leases/), its copy is answered without asking Redis at all: a write elsewhere is acknowledged
only after the lease has been dropped. When Redis is away the read goes to the database
(UNASKED), admitted by this process's own bucket for the user, as the limiter's are."""

from __future__ import annotations

from redis.exceptions import RedisError

from app.adapters.redis.codec import GateCall, GateReply
from app.adapters.redis.leases import Leases
from app.adapters.redis.limiter import RedisLimiter
from app.adapters.redis.pages import RedisPageCache
from app.ports.cache import Lookup
from app.ports.gate import UNASKED
from app.ports.limiter import Decision
from app.resilience.breakers import Breaker, BreakerOpen


class RedisReadGate:
    """ReadGate shared by every process: the limiter's buckets and the page cache's pages."""

    def __init__(
        self, pages: RedisPageCache, limiter: RedisLimiter, *, breaker: Breaker, leases: Leases
    ) -> None:
        self._pages = pages
        self._local = pages.local
        self._stats = pages.stats
        self._limiter = limiter
        self._breaker = breaker
        self._leases = leases
        self._book = leases.book

    async def read(self, budget: str, user_id: str, page_key: str) -> tuple[Decision, Lookup]:
        if budget != user_id:  # an admin reading another user's records spends its own budget
            own = await self._limiter.admit(budget)
            if not own.allowed:
                return own, UNASKED
            return own, (await self._ask(user_id, page_key, limited=False, own=False))[1]
        limiter = self._limiter
        decision = limiter.from_lease(user_id)
        reply, found = await self._ask(user_id, page_key, limited=True, own=decision is None)
        if decision is not None:
            return decision, found
        if reply is None:
            return await limiter.alone(user_id), UNASKED
        if reply.allowed:
            return limiter.decision(reply, user_id), found
        # Refused: a concurrent request of this process may have been handed spare tokens.
        if (decision := limiter.from_lease(user_id)) is None:
            return limiter.decision(reply), UNASKED
        return decision, (await self._ask(user_id, page_key, limited=False, own=False))[1]

    async def _ask(
        self, user_id: str, key: str, *, limited: bool, own: bool
    ) -> tuple[GateReply | None, Lookup]:
        """The page, and the gate's reply when Redis was asked (None: answered under a read
        lease, or Redis is away). With `limited` the call also takes the user's tokens: the
        request's own when `own` (an empty bucket refuses it), else a top-up of this process's
        spare ones."""
        local = self._local.get(user_id, key)
        if not own:  # nothing to ask Redis for unless the copy is not current
            leased = self._book.read_generation(user_id)
            if leased is not None and local is not None and local[0] == leased:
                self._book.served(user_id)
                self._stats.local_hits += 1
                return None, (local[1], leased, True)
        if self._breaker.is_open or (self._pages.unsent and not await self._pages.resend()):
            self._stats.errors += 1
            return None, UNASKED
        budget = self._leases.budget
        call = GateCall(
            user_id,
            self._book.want(user_id, own=own, eager=True) if limited else 0,
            budget.rate if limited else 0,
            budget.window if limited else 0,
            pages=True,
            page_key=key,
            held_generation=None if local is None else local[0],
            lease_ms=self._leases.read_lease_ms,
            holder=self._leases.holder,
            own=own,
            min_uses=self._pages.min_uses,
            asked_seconds=self._pages.ttl,
        )
        asked_at = self._leases.now()
        try:
            with self._breaker.guard():
                reply = await self._leases.gate(call)
        except (RedisError, OSError, BreakerOpen):
            self._stats.errors += 1
            return None, UNASKED
        self._leases.contact()
        if not reply.allowed or reply.generation is None:
            return reply, UNASKED
        self._book.granted(
            user_id,
            asked_at=asked_at,
            tokens=reply.granted,
            own=own,
            left=reply.left,
            generation=reply.generation,
            lease_ms=call.lease_ms,
        )
        if local is not None and local[0] == reply.generation:
            self._stats.local_hits += 1
            return reply, (local[1], reply.generation, True)
        if reply.page is None:
            self._stats.misses += 1
            return reply, (None, reply.generation, reply.keep)
        self._stats.shared_hits += 1
        self._local.put(user_id, key, reply.generation, reply.page)
        return reply, (reply.page, reply.generation, True)
