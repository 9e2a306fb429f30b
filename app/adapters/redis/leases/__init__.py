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
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from app.adapters.redis.client import Batched, bucket_key, lease_key, page_keys, run_script, script

log = structlog.get_logger("app.adapters.redis.leases")

CHANNEL_PREFIX = "lease:holder:"
TICK_SECONDS = 0.5
BATCH = 100  # calls in one background pipeline


@dataclass(slots=True)
class Lease:
    """What this process holds for one user until `ends` (its monotonic clock)."""

    ends: float
    generation: int | None = None  # pages of this generation may be served without asking
    spare: int = 0  # tokens taken from the bucket and not yet spent
    left: int = 0  # what the bucket held after the last grant
    since: float = 0.0  # start of the window over which `count` counts the user's requests
    count: float = 0.0  # the user's token-taking requests in this process since `since`
    served: bool = False  # a page was answered under the read lease since its last renewal
    low: int = 0  # spare tokens below this: top up (what the user spends in about a second)

    def pace(self, now: float) -> float:
        """The user's requests a second here, over the last half minute or so."""
        if now - self.since > 30.0:  # older requests count half
            self.count /= 2
            self.since = now - 15.0
        return self.count / max(now - self.since, 1.0)


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


@dataclass(frozen=True, slots=True)
class Told:
    """What the invalidation script answered: whom it told, and how long their leases run."""

    holders: int
    told_seconds: float
    unheard_seconds: float


@dataclass(frozen=True, slots=True)
class Budget:
    """The bucket the spare tokens come from: `rate` tokens a `window` of seconds."""

    rate: int
    window: int


class Leases:
    """This process's leases, its channel, and the acknowledgements its writes wait for."""

    def __init__(
        self,
        client: Redis,
        listener: Redis | None,
        *,
        seconds: float,
        max_tokens: int,
        budget: Budget,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.holder = secrets.token_hex(8)
        self.channel = CHANNEL_PREFIX + self.holder
        self._client = client
        self._listener = listener  # None: no read leases (nothing would tell this process)
        self._seconds = seconds  # 0: no leases at all
        # A process holds at most what the bucket refills during two leases: hoarding never
        # keeps a user's other processes from more than that.
        refill = math.ceil(budget.rate * 2 * seconds / budget.window)
        self._max_tokens = max(1, min(max_tokens, refill))
        self._budget = budget
        self._clock = clock
        self._held: dict[str, Lease] = {}  # every user seen in the last minute
        # Users by the tick their lease ends in (a timing wheel: a tick looks at the leases
        # about to end, not at every lease), and users whose spare tokens run low.
        self._ending: dict[int, list[str]] = {}
        self._low: set[str] = set()
        self._ticks = 0
        self._revoked_at: dict[str, float] = {}
        self._refunds: dict[str, int] = {}
        self._acks: dict[int, Acks] = {}
        self._nonces = itertools.count(1)
        self._listening = False
        self._last_contact = float("-inf")
        self._tasks: list[asyncio.Task[None]] = []
        self._sending: set[asyncio.Task[None]] = set()
        # The gate script, its calls of one event-loop turn in one pipeline, shared by the
        # limiter and the page cache of this process; background renewals call its script.
        self.gate = Batched(client, script(client, "gate"))
        self._refund = script(client, "refund")

    # ---- the read side ----

    def now(self) -> float:
        return self._clock()

    @property
    def read_lease_ms(self) -> int:
        """What to ask the gate for: 0 while this process cannot hear revocations."""
        return int(self._seconds * 1000) if self._listening else 0

    def lease(self, user_id: str) -> Lease | None:
        """The user's lease while it runs."""
        lease = self._held.get(user_id)
        return lease if lease is not None and lease.ends > self._clock() else None

    def take_token(self, user_id: str) -> Lease | None:
        """Spend one spare token of the user's; None when there is none to spend."""
        lease = self.lease(user_id)
        if lease is None or lease.spare <= 0:
            return None
        lease.spare -= 1
        lease.count += 1
        if lease.spare < lease.low:
            self._low.add(user_id)
        return lease

    def read_generation(self, user_id: str) -> int | None:
        """The generation whose pages may be served without asking Redis, if any."""
        lease = self.lease(user_id)
        return None if lease is None else lease.generation

    def served(self, user_id: str) -> None:
        """A page was answered under the user's read lease: worth renewing it."""
        lease = self._held.get(user_id)
        if lease is not None:
            lease.served = True

    def want(self, user_id: str, *, own: bool, eager: bool = False) -> int:
        """Tokens to ask for when calling the gate anyway. A user this process has not seen
        lately gets the one its request needs, or, for a list read (`eager`: pages are read
        again and again), the most a process may hold: what it leaves unspent goes back in
        the background, which costs far less than a second round trip on its next request.
        One seen again gets enough for two lease periods at the pace its requests arrive here:
        always when its request needs a token (`own`), else when its spare ones run low."""
        lease = self._held.get(user_id)
        if self._seconds <= 0:
            return int(own)
        if lease is None:
            return (self._max_tokens if eager else 1) if own else 0
        return self._top_up(lease, self._clock(), at_least=int(own))

    def _top_up(self, lease: Lease, now: float, *, at_least: int = 0, calling: bool = False) -> int:
        """Tokens that bring the spare ones to what two lease periods need at the user's pace,
        never past the most a process may hold (besides the asking request's own); none to
        spare for a user who comes less than twice a lease period (they would go back). Unless
        a call goes to Redis anyway (`at_least`, `calling`), none while half of them are left."""
        pace = lease.pace(now)
        if not self._keeps_spare(pace):
            return at_least
        need = min(self._max_tokens, math.ceil(pace * self._seconds * 2))
        spare = lease.spare if lease.ends > now else 0
        if spare * 2 >= need and not (at_least or calling):
            return 0
        return max(at_least, need - spare + at_least)

    def _keeps_spare(self, pace: float) -> bool:
        """Whether a user at this pace comes often enough (twice a lease period) to hold spare
        tokens for; a rarer one's would only go back."""
        return pace * self._seconds >= 2

    def spare_left(self, lease: Lease) -> int:
        """What the RateLimit headers report while a lease answers: the bucket's count at the
        last grant plus the spare tokens this process still holds."""
        return lease.left + lease.spare

    def granted(
        self,
        user_id: str,
        *,
        asked_at: float,
        tokens: int,
        own: bool,
        left: int,
        generation: int | None,
        lease_ms: int,
    ) -> None:
        """Record what the gate handed out to a call started at `asked_at`: `tokens` (one of
        them the asking request's own when `own`) and, with `lease_ms`, a read lease on
        `generation` unless a write was heard of since the call started."""
        if self._seconds <= 0:
            return
        spare = tokens - 1 if own else tokens
        revoked = self._revoked_at.get(user_id)
        trusted = lease_ms > 0 and generation is not None and (revoked is None or revoked < asked_at)
        lease = self._held.get(user_id)
        if lease is None:  # kept, even when empty, to know the user is back (`want`)
            lease = self._held[user_id] = Lease(ends=asked_at, since=asked_at)
        elif lease.ends <= self._clock():
            self._lapse(user_id, lease)
            lease.ends = asked_at
        if own:
            lease.count += 1
        ends = lease.ends
        if spare > 0:
            lease.spare += spare
            lease.ends = max(lease.ends, asked_at + self._seconds)
        lease.left = left
        if trusted:
            lease.generation = generation
            lease.ends = max(lease.ends, asked_at + lease_ms / 1000)
        if lease.ends != ends:
            self._ending.setdefault(int(lease.ends / TICK_SECONDS), []).append(user_id)
        pace = lease.pace(self._clock())
        lease.low = min(math.ceil(pace * 2), self._max_tokens - 1) if self._keeps_spare(pace) else 0

    # ---- the write side ----

    def writing(self, user_id: str) -> tuple[int, str]:
        """Before a write's invalidation: drop our own lease and name the message to others."""
        self._drop(user_id)
        nonce = next(self._nonces)
        self._acks[nonce] = Acks()
        return nonce, f"{self.holder} {nonce} {user_id}"

    async def written(self, user_id: str, nonce: int, told: Told | None) -> None:
        """After the invalidation script: wait until every lease it found has been dropped.
        With `told` None the script did not run (Redis unreachable): wait out any lease that
        may have been granted since this process last reached Redis."""
        self._drop(user_id)  # again: a gate call that crossed the script may have installed one
        started = self._clock()
        try:
            if told is None:
                remaining = self._last_contact + self._seconds - started
                if remaining > 0:
                    await asyncio.sleep(remaining)
                return
            self._last_contact = started
            acks = self._acks.get(nonce)
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
            self._acks.pop(nonce, None)

    def contact(self) -> None:
        """Redis answered this process just now."""
        self._last_contact = self._clock()

    def _drop(self, user_id: str) -> None:
        lease = self._held.get(user_id)
        if lease is not None:
            lease.generation = None
        self._revoked_at[user_id] = self._clock()

    # ---- the background: channel, renewals, refunds ----

    def start(self) -> None:
        if self._seconds <= 0 or self._tasks:
            return
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._maintain()))
        if self._listener is not None:
            self._tasks.append(loop.create_task(self._listen()))

    async def close(self) -> None:
        """Give back what this process holds: spare tokens to their buckets and read leases
        to their users, so that no write waits for a process that is going away."""
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self._listening = False
        released = [user_id for user_id, lease in self._held.items() if lease.generation is not None]
        for user_id, lease in self._held.items():
            self._lapse(user_id, lease)
        self._held.clear()
        self._ending.clear()
        with contextlib.suppress(RedisError, OSError):
            if released:
                pipe = self._client.pipeline(transaction=False)
                for user_id in released:
                    pipe.zrem(lease_key(user_id), self.holder)
                await pipe.execute(raise_on_error=False)
            await self._send_refunds()
        if self._listener is not None:
            await self._listener.aclose()

    async def tick(self) -> None:
        """Renew the read leases that answered pages and end before the next tick but one, top
        up the spare tokens of users who would spend them within about a second, let the
        other leases lapse, and give back the spare tokens of lapsed ones."""
        now = self._clock()
        this = int(now / TICK_SECONDS)
        due: dict[str, Lease] = {}
        for slot in [s for s in self._ending if s <= this + 2]:
            users = self._ending.pop(slot) if slot <= this else self._ending[slot]
            for user_id in users:
                lease = self._held.get(user_id)
                if lease is None or int(lease.ends / TICK_SECONDS) != slot:
                    continue  # gone, or its end moved to another slot
                if lease.ends <= now:
                    self._lapse(user_id, lease)
                elif slot <= this:  # ends before the next tick: look again then
                    self._ending.setdefault(this + 1, []).append(user_id)
                elif lease.served:
                    due[user_id] = lease
        for user_id in self._low:
            lease = self._held.get(user_id)
            if lease is not None and lease.ends > now:
                due[user_id] = lease
        self._low.clear()
        self._ticks += 1
        if self._ticks % 20 == 0:
            await self._forget(now - 60.0)
        with contextlib.suppress(RedisError, OSError):
            await self._renew(list(due.items()))
            await self._send_refunds()

    async def _forget(self, before: float) -> None:
        """Forget users unseen since `before`, and writes heard of long enough ago that no
        gate call can still be in flight from before them."""
        for seen, (user_id, lease) in enumerate(list(self._held.items()), 1):
            if seen % 2000 == 0:
                await asyncio.sleep(0)  # a long sweep lets requests in
            if lease.ends <= before and self._held.get(user_id) is lease:
                del self._held[user_id]
        horizon = self._clock() - self._seconds - 5.0
        for user_id in [u for u, at in self._revoked_at.items() if at < horizon]:
            del self._revoked_at[user_id]

    async def _renew(self, due: list[tuple[str, Lease]]) -> None:
        lease_ms = self.read_lease_ms
        calls = []
        asked_at = self._clock()
        for user_id, lease in due:
            held = lease_ms if lease.served else 0
            want = self._top_up(lease, asked_at, calling=held > 0)
            lease.served = False  # renewed once; serving again makes it due again
            if want or held:
                calls.append((user_id, lease, want, held))
        if not calls:
            return
        replies = await self._run(
            self.gate.script,
            [
                (
                    [bucket_key(user_id), *page_keys(user_id), lease_key(user_id)],
                    [
                        want,
                        self._budget.rate,
                        self._budget.window,
                        "",
                        "" if lease.generation is None else lease.generation,
                        held,
                        self.holder,
                        0,
                    ],
                )
                for user_id, lease, want, held in calls
            ],
        )
        self.contact()
        for (user_id, _lease, _want, held), reply in zip(calls, replies, strict=True):
            if isinstance(reply, Exception):
                continue
            _, tokens, left, _, generation, _ = reply
            self.granted(
                user_id,
                asked_at=asked_at,
                tokens=int(tokens),
                own=False,
                left=int(left),
                generation=None if generation is None else int(generation),
                lease_ms=held,
            )

    async def _send_refunds(self) -> None:
        refunds, self._refunds = self._refunds, {}
        if refunds:
            await self._run(self._refund, [([bucket_key(u)], [n]) for u, n in refunds.items()])

    async def _run(self, lua: AsyncScript, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        """Calls of one script in pipelines of at most BATCH, so that requests get the event
        loop between two of them."""
        replies: list[Any] = []
        for start in range(0, len(calls), BATCH):
            replies += await run_script(self._client, lua, calls[start : start + BATCH])
        return replies

    def _lapse(self, user_id: str, lease: Lease) -> None:
        """A lease ran out: its spare tokens go back to the bucket at the next tick."""
        if lease.spare:
            self._refunds[user_id] = self._refunds.get(user_id, 0) + lease.spare
            lease.spare = 0
        lease.generation = None

    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            await self.tick()

    async def _listen(self) -> None:
        assert self._listener is not None
        while True:
            pubsub: PubSub = self._listener.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._listening = True
                quiet = 0
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None:
                        quiet += 1
                        if quiet >= 5:  # a silent, broken connection shows up on a ping
                            await pubsub.ping()
                            quiet = 0
                    elif message["type"] == "message":
                        self._heard(message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self._listening:
                    log.warning("lease channel lost, serving no read leases", error=type(exc).__name__)
                self._listening = False
                for lease in self._held.values():
                    lease.generation = None
                await asyncio.sleep(1.0)
            finally:
                self._listening = False
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _heard(self, data: bytes) -> None:
        """A write elsewhere ended our lease ("<generation> <writer> <nonce> <user>"), or a
        holder acknowledged one of our writes ("ack <nonce>")."""
        head, _, rest = data.decode().partition(" ")
        if head == "ack":
            acks = self._acks.get(int(rest))
            if acks is not None:
                acks.hear()
            return
        writer, nonce, user_id = rest.split(" ", 2)
        self._drop(user_id)
        task = asyncio.get_running_loop().create_task(self._acknowledge(writer, nonce))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _acknowledge(self, writer: str, nonce: str) -> None:
        with contextlib.suppress(RedisError, OSError):  # unanswered, the writer waits the lease out
            await self._client.publish(CHANNEL_PREFIX + writer, f"ack {nonce}")
