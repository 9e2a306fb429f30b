"""This process's leases as data: which users it holds tokens and read leases for, what to
ask for next, what has run out and what goes back. No I/O: Leases (this package's
__init__) does the talking to Redis; a fake clock drives this in the unit tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from app.adapters.redis.leases.pacing import Lease, Pacing, trusted
from app.adapters.redis.leases.wheel import TimingWheel

TICK_SECONDS = 0.5
FORGET_AFTER_SECONDS = 60.0  # a user unseen this long is forgotten


class LeaseBook:
    """Every user seen in the last minute, their lease, and the bookkeeping around them."""

    def __init__(self, pacing: Pacing, clock: Callable[[], float]) -> None:
        self.pacing = pacing
        self.clock = clock
        self.off = pacing.seconds <= 0
        self._held: dict[str, Lease] = {}
        self._wheel = TimingWheel(TICK_SECONDS)
        self._low: set[str] = set()  # users whose spare tokens run low
        self._revoked_at: dict[str, float] = {}
        self._refunds: dict[str, int] = {}
        # Read leases taken afresh, extended while held, and dropped for a write (the metrics).
        self.read_leases = {"granted": 0, "renewed": 0, "revoked": 0}

    # ---- the request path ----

    def lease(self, user_id: str) -> Lease | None:
        """The user's lease while it runs."""
        lease = self._held.get(user_id)
        return lease if lease is not None and lease.ends > self.clock() else None

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
        """The generation whose pages may be served without asking Redis, if any: only while
        the read lease runs, which spare tokens handed out since do not lengthen (Redis would
        not tell this process of a write once the read lease it recorded has ended)."""
        lease = self._held.get(user_id)
        if lease is None or lease.read_ends <= self.clock():
            return None
        return lease.generation

    def served(self, user_id: str) -> None:
        """A page was answered under the user's read lease: worth renewing it."""
        lease = self._held.get(user_id)
        if lease is not None:
            lease.served = True

    def want(self, user_id: str, *, own: bool, eager: bool = False) -> int:
        """Tokens to ask for when calling the gate anyway: for a user seen again, enough for
        two lease periods at its pace, always when its request needs a token (`own`), else
        when its spare ones run low (Pacing.first and Pacing.top_up)."""
        if self.off:
            return int(own)
        lease = self._held.get(user_id)
        if lease is None:
            return self.pacing.first(own=own, eager=eager)
        return self.pacing.top_up(lease, self.clock(), at_least=int(own))

    @staticmethod
    def spare_left(lease: Lease) -> int:
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
        if self.off:
            return
        spare = tokens - 1 if own else tokens
        lease = self._held.get(user_id)
        if lease is None:  # kept, even when empty, to know the user is back (`want`)
            lease = self._held[user_id] = Lease(ends=asked_at, since=asked_at)
        elif lease.ends <= self.clock():
            self.lapse(user_id, lease)
            lease.ends = asked_at
        if own:
            lease.count += 1
        ends = lease.ends
        if spare > 0:
            lease.spare += spare
            lease.ends = max(lease.ends, asked_at + self.pacing.seconds)
        lease.left = left
        revoked_at = self._revoked_at.get(user_id)
        if trusted(lease_ms=lease_ms, generation=generation, revoked_at=revoked_at, asked_at=asked_at):
            held = lease.generation is not None and lease.read_ends > asked_at
            self.read_leases["renewed" if held else "granted"] += 1
            lease.generation = generation
            lease.read_ends = max(lease.read_ends, asked_at + lease_ms / 1000)
            lease.ends = max(lease.ends, lease.read_ends)
        if lease.ends != ends:
            self._wheel.add(user_id, lease.ends)
        lease.low = self.pacing.low_water(lease.pace(self.clock()))

    # ---- writes ----

    def drop(self, user_id: str) -> None:
        """A write of the user's (here or elsewhere): its pages may no longer be answered from
        the lease, nor from a lease granted to a call that was in flight meanwhile."""
        lease = self._held.get(user_id)
        if lease is not None:
            if lease.generation is not None and lease.read_ends > self.clock():
                self.read_leases["revoked"] += 1
            lease.generation = None
        self._revoked_at[user_id] = self.clock()

    def drop_read_leases(self) -> None:
        """Nothing would tell this process of writes any more: trust no read lease."""
        for lease in self._held.values():
            lease.generation = None

    # ---- the background ----

    def due(self) -> dict[str, Lease]:
        """What a tick renews: read leases that answered pages and end before the next tick but
        one, and the users whose spare tokens run low. Leases that ended lapse."""
        now = self.clock()

        def ends_of(user_id: str) -> float | None:
            lease = self._held.get(user_id)
            return None if lease is None else lease.ends

        ended, soon = self._wheel.sweep(now, ends_of)
        for user_id in ended:
            self.lapse(user_id, self._held[user_id])
        due = {u: self._held[u] for u in soon if self._held[u].served}
        for user_id in self._low:
            lease = self._held.get(user_id)
            if lease is not None and lease.ends > now:
                due[user_id] = lease
        self._low.clear()
        return due

    def renewing(self, lease: Lease, *, read_lease_ms: int) -> tuple[int, int]:
        """For a due lease: the tokens to ask for and the read lease (ms) to renew, and the
        lease marked renewed (answering pages again makes it due again)."""
        held = read_lease_ms if lease.served else 0
        want = self.pacing.top_up(lease, self.clock(), calling=held > 0)
        lease.served = False
        return want, held

    def lapse(self, user_id: str, lease: Lease) -> None:
        """A lease ran out: its spare tokens go back to the bucket with the next refunds."""
        if lease.spare:
            self._refunds[user_id] = self._refunds.get(user_id, 0) + lease.spare
            lease.spare = 0
        lease.generation = None

    def take_refunds(self) -> dict[str, int]:
        """Tokens to give back, by user; given back once."""
        refunds, self._refunds = self._refunds, {}
        return refunds

    def forget(self) -> Iterator[None]:
        """Forget users unseen for a minute, and writes heard of long enough ago that no gate
        call can still be in flight from before them; yields now and then, so that a caller
        can let requests in during a long sweep."""
        before = self.clock() - FORGET_AFTER_SECONDS
        for seen, (user_id, lease) in enumerate(list(self._held.items()), 1):
            if seen % 2000 == 0:
                yield
            if lease.ends <= before and self._held.get(user_id) is lease:
                del self._held[user_id]
        horizon = self.clock() - self.pacing.seconds - 5.0
        for user_id in [u for u, at in self._revoked_at.items() if at < horizon]:
            del self._revoked_at[user_id]

    def release(self) -> list[str]:
        """Let every lease lapse (the process stops): the users whose read leases it held."""
        released = [user_id for user_id, lease in self._held.items() if lease.generation is not None]
        for user_id, lease in self._held.items():
            self.lapse(user_id, lease)
        self._held.clear()
        self._wheel.clear()
        return released
