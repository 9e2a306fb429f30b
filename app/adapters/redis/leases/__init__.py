"""Leases on what Redis decides, so that most requests make no round trip to it.

A request that waits for Redis costs the worker far more than the round trip itself (it is
suspended, the event loop turns, the server resumes it), so each process holds, per user:

- **Spare tokens.** The gate script hands a process several of a user's tokens at once (for
  a user seen again, enough for two lease periods at its pace; never more than the bucket
  refills during two leases, nor `max_tokens`); the process spends them on the user's next
  requests. Tokens leave the bucket when they are handed out, so no token is spent twice,
  whichever processes answer; those not spent when the lease ends go back to the bucket.
  While tokens are out, the bucket keeps refilling, so a burst right after it is full again
  can pass the bucket size by what the processes hold at that moment: at most the refill of
  two leases each (rate x 2 x lease seconds / window: 17 tokens at the defaults). A renewal
  that goes to Redis anyway tops the tokens up too, so a busy user costs about one call a
  lease period, not one every few requests.
- **Read leases.** While a process holds one, it answers the user's pages from its own copy
  without asking Redis whether they are current. What keeps read-your-writes across processes
  is on the write side: a write is acknowledged only after every other holder has dropped its
  lease (it is told on its own channel and answers) or the lease has run out. A process that
  cannot listen to its channel takes no read leases.

Leases of users still in use are renewed in the background, a batch per tick, so a busy user's
requests keep answering from memory. A lease ends on the holder's clock no later than Redis
recorded it, because the holder starts counting before it asks.

The parts: pacing.py sizes grants and says when a read lease may be trusted, wheel.py finds
the leases about to end, book.py keeps the leases as data (all three pure, on a clock);
channel.py listens, and Leases below makes the calls: gate calls of the background, refunds,
and the wait of a write for the holders it told.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from redis.exceptions import RedisError

from app.adapters.redis.client import Client, Script
from app.adapters.redis.codec import GateCall, GateReply, RefundCall, Revoke, ScriptCall, Told, ignored
from app.adapters.redis.keys import lease_key
from app.adapters.redis.leases.book import TICK_SECONDS, LeaseBook
from app.adapters.redis.leases.channel import Channel
from app.adapters.redis.leases.pacing import Budget, Lease, Pacing
from app.concurrency import Coalescer

__all__ = ["Budget", "Lease", "Leases"]
C = TypeVar("C", bound=ScriptCall)
R = TypeVar("R")
BATCH = 100  # calls in one background pipeline
FORGET_EVERY_TICKS = 20


@dataclass(slots=True)
class Acks:
    """The acknowledgements one write waits for; some may arrive before the script answers."""

    heard: int = 0
    expected: int | None = None
    event: asyncio.Event = field(default_factory=asyncio.Event)

    def hear(self) -> None:
        self.heard += 1
        if self.expected is not None and self.heard >= self.expected:
            self.event.set()


class Leases:
    """This process's leases, its channel, and the acknowledgements its writes wait for."""

    def __init__(
        self,
        client: Client,
        listener: Client | None,
        *,
        seconds: float,
        max_tokens: int,
        budget: Budget,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.holder = secrets.token_hex(8)
        self.budget = budget
        self.book = LeaseBook(Pacing(seconds=seconds, max_tokens=max_tokens, budget=budget), clock)
        self._client = client
        self._seconds = seconds
        self._clock = clock
        # None: no read leases (nothing would tell this process of writes elsewhere).
        self._channel = (
            None
            if listener is None
            else Channel(
                listener,
                client,
                self.holder,
                revoked=self.book.drop,
                acknowledged=self._acknowledged,
                lost=self.book.drop_read_leases,
            )
        )
        self._acks: dict[int, Acks] = {}
        self._nonces = itertools.count(1)
        self._last_contact = float("-inf")
        self._tasks: list[asyncio.Task[None]] = []
        self._ticks = 0
        # The gate script: the calls of one event-loop turn in one pipeline, shared by the
        # admission and the page cache of this process; background renewals batch their own.
        self._gate_script: Script[GateCall, GateReply] = Script(client, "gate", GateReply.decode)
        self.gate: Coalescer[GateCall, GateReply] = self._gate_script.pipelined()
        self._refund: Script[RefundCall, None] = Script(client, "refund", ignored)

    def now(self) -> float:
        return self._clock()

    @property
    def read_lease_ms(self) -> int:
        """What to ask the gate for: 0 while this process cannot hear revocations."""
        listening = self._channel is not None and self._channel.listening
        return int(self._seconds * 1000) if listening else 0

    def contact(self) -> None:
        """Redis answered this process just now."""
        self._last_contact = self._clock()

    # ---- the write side ----

    def writing(self, user_id: str) -> Revoke:
        """Before a write's invalidation: drop our own lease and name the message to others."""
        self.book.drop(user_id)
        nonce = next(self._nonces)
        self._acks[nonce] = Acks()
        return Revoke(self.holder, nonce, user_id)

    async def written(self, revoke: Revoke, told: Told | None) -> None:
        """After the invalidation script: wait until every lease it found has been dropped.
        With `told` None the script did not run (Redis unreachable): wait out any lease that
        may have been granted since this process last reached Redis."""
        self.book.drop(revoke.user_id)  # again: a gate call that crossed the script may have installed one
        started = self._clock()
        try:
            if told is None:
                remaining = self._last_contact + self._seconds - started
                if remaining > 0:
                    await asyncio.sleep(remaining)
                return
            self._last_contact = started
            acks = self._acks.get(revoke.nonce)
            if told.holders and acks is not None:
                acks.expected = told.holders
                if acks.heard < told.holders:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(told.told_seconds):
                            await acks.event.wait()
            unheard = told.unheard_seconds - (self._clock() - started)
            if unheard > 0:
                await asyncio.sleep(unheard)
        finally:
            self._acks.pop(revoke.nonce, None)

    def _acknowledged(self, nonce: int) -> None:
        acks = self._acks.get(nonce)
        if acks is not None:
            acks.hear()

    # ---- the background: channel, renewals, refunds ----

    def start(self, *, renewals: bool = True) -> None:
        """Listen on the channel and, unless `renewals` is False (the caller ticks), renew in
        the background every tick."""
        if self.book.off or self._tasks:
            return
        loop = asyncio.get_running_loop()
        if renewals:
            self._tasks.append(loop.create_task(self._maintain()))
        if self._channel is not None:
            self._tasks.append(loop.create_task(self._channel.listen()))

    async def close(self) -> None:
        """Give back what this process holds: spare tokens to their buckets and read leases
        to their users, so that no write waits for a process that is going away."""
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        released = self.book.release()
        with contextlib.suppress(RedisError, OSError):
            if released:
                pipe = self._client.pipeline(transaction=False)
                for user_id in released:
                    pipe.zrem(lease_key(user_id), self.holder)
                await pipe.execute(raise_on_error=False)
            await self._send_refunds()
        if self._channel is not None:
            await self._channel.close()

    async def tick(self) -> None:
        """Renew the read leases that answered pages and end soon, top up the spare tokens of
        users who would spend them within about a second, let the other leases lapse, and give
        back the spare tokens of lapsed ones."""
        due = self.book.due()
        self._ticks += 1
        if self._ticks % FORGET_EVERY_TICKS == 0:
            for _ in self.book.forget():
                await asyncio.sleep(0)  # a long sweep lets requests in
        with contextlib.suppress(RedisError, OSError):
            await self._renew(list(due.items()))
            await self._send_refunds()

    async def _renew(self, due: list[tuple[str, Lease]]) -> None:
        lease_ms = self.read_lease_ms
        asked_at = self._clock()
        calls = []
        for user_id, lease in due:
            want, held = self.book.renewing(lease, read_lease_ms=lease_ms)
            if want or held:
                calls.append(
                    GateCall(
                        user_id,
                        want,
                        self.budget.rate,
                        self.budget.window,
                        pages=True,
                        held_generation=lease.generation,
                        lease_ms=held,
                        holder=self.holder,
                        own=False,
                    )
                )
        if not calls:
            return
        replies = await self._in_batches(self._gate_script, calls)
        self.contact()
        for call, reply in zip(calls, replies, strict=True):
            if isinstance(reply, Exception):
                continue
            self.book.granted(
                call.user_id,
                asked_at=asked_at,
                tokens=reply.granted,
                own=False,
                left=reply.left,
                generation=reply.generation,
                lease_ms=call.lease_ms,
            )

    async def _send_refunds(self) -> None:
        refunds = self.book.take_refunds()
        if refunds:
            await self._in_batches(self._refund, [RefundCall(u, n) for u, n in refunds.items()])

    @staticmethod
    async def _in_batches(script: Script[C, R], calls: Sequence[C]) -> list[R | Exception]:
        """Calls in pipelines of at most BATCH, so that requests get the event loop between two."""
        replies: list[R | Exception] = []
        for start in range(0, len(calls), BATCH):
            replies += await script.run(calls[start : start + BATCH])
        return replies

    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            await self.tick()
