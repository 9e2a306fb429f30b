"""The limiter on token buckets in Redis: one Lua script (gate.lua), atomic, on Redis's own
clock, one key per user, shared by every process of the service.

A process may be handed a few of a user's tokens at once (leases/) and spend them on the
user's next requests without a round trip; they have left the bucket already, so the budget
holds across every process. A list read takes its token and reads its page in one gate call
(gate.py). When Redis fails (down, or a cluster's slots moving to a new master), each process
keeps the budget on its own, with buckets of its own that start full: nobody is refused for
Redis's outage, and a user is admitted at most one budget a process more than Redis would have
admitted (twice the budget, with one process) until Redis answers again."""

from __future__ import annotations

import math

from redis.exceptions import RedisError

from app.adapters.memory.limiter import MemoryLimiter
from app.adapters.redis.codec import GateCall, GateReply
from app.adapters.redis.leases import Leases
from app.ports.limiter import Decision
from app.resilience.breakers import Breaker, BreakerOpen


class RedisLimiter:
    """A limiter shared by every process: tokens from Redis, or from this process's lease."""

    def __init__(self, *, breaker: Breaker, leases: Leases) -> None:
        self._breaker = breaker
        self._leases = leases
        self._book = leases.book
        self._rate = leases.budget.rate
        self._window = leases.budget.window
        self._alone = MemoryLimiter(rate=self._rate, window=self._window)  # while Redis is away

    def decision(self, reply: GateReply, user_id: str | None = None) -> Decision:
        """The gate's answer as a decision; once its tokens are booked for `user_id`, what is
        left counts the spare ones this process holds too, as a lease's decisions do."""
        retry_after = 0 if reply.allowed else max(1, math.ceil(reply.wait_ms / 1000))
        left = reply.left
        if reply.allowed and user_id is not None and (lease := self._book.lease(user_id)) is not None:
            left = self._book.spare_left(lease)
        return Decision(reply.allowed, self._rate, self._window, left, retry_after)

    def from_lease(self, user_id: str) -> Decision | None:
        """Admitted on a spare token this process holds for the user, if it holds one."""
        lease = self._book.take_token(user_id)
        if lease is None:
            return None
        return Decision(True, self._rate, self._window, self._book.spare_left(lease), 0)

    async def alone(self, user_id: str) -> Decision:
        """Redis could not be asked: the decision of this process's own bucket for the user."""
        return await self._alone.admit(user_id)

    async def admit(self, user_id: str) -> Decision:
        if (decision := self.from_lease(user_id)) is not None:
            return decision
        if self._breaker.is_open:
            return await self.alone(user_id)
        asked_at = self._leases.now()
        call = GateCall(user_id, self._book.want(user_id, own=True), self._rate, self._window)
        try:
            with self._breaker.guard():
                reply = await self._leases.gate(call)
        except (RedisError, OSError, BreakerOpen):
            return await self.alone(user_id)
        self._leases.contact()
        if not reply.allowed:  # a concurrent request of this process may have been handed spare tokens
            return self.from_lease(user_id) or self.decision(reply)
        self._book.granted(
            user_id,
            asked_at=asked_at,
            tokens=reply.granted,
            own=True,
            left=reply.left,
            generation=None,
            lease_ms=0,
        )
        return self.decision(reply, user_id)

    async def close(self) -> None:
        await self._alone.close()  # the client belongs to the composition root
