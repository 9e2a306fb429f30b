"""How many of a user's tokens a process asks for and keeps, and when a read lease may be
trusted: arithmetic on a lease and a clock reading, no I/O (unit-tested on a fake clock)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Budget:
    """The bucket the spare tokens come from: `rate` tokens a `window` of seconds."""

    rate: int
    window: int


@dataclass(slots=True)
class Lease:
    """What this process holds for one user until `ends` (its monotonic clock)."""

    ends: float  # when the spare tokens go back (and the lease is looked at again)
    generation: int | None = None  # pages of this generation may be served without asking ...
    read_ends: float = 0.0  # ... until then: when the read lease Redis recorded ends
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


class Pacing:
    """Grant sizes for leases of `seconds`: enough spare tokens for two lease periods at the
    user's pace, never more than the bucket refills during two leases, nor `max_tokens`, so
    that hoarding never keeps a user's other processes from more than that."""

    def __init__(self, *, seconds: float, max_tokens: int, budget: Budget) -> None:
        self.seconds = seconds  # 0: no leases at all
        refill = math.ceil(budget.rate * 2 * seconds / budget.window)
        self.max_tokens = max(1, min(max_tokens, refill))

    def first(self, *, own: bool, eager: bool) -> int:
        """Tokens for a user this process has not seen lately: the one its request needs or,
        for a list read (`eager`: pages are read again and again), the most a process may
        hold; what it leaves unspent goes back in the background, which costs far less than a
        second round trip on its next request."""
        if not own:
            return 0
        return self.max_tokens if eager else 1

    def top_up(self, lease: Lease, now: float, *, at_least: int = 0, calling: bool = False) -> int:
        """Tokens that bring the spare ones to what two lease periods need at the user's pace,
        never past the most a process may hold (besides the asking request's own); none to
        spare for a user who comes less than twice a lease period (they would go back). Unless
        a call goes to Redis anyway (`at_least`, `calling`), none while half of them are left."""
        pace = lease.pace(now)
        if not self.keeps_spare(pace):
            return at_least
        need = min(self.max_tokens, math.ceil(pace * self.seconds * 2))
        spare = lease.spare if lease.ends > now else 0
        if spare * 2 >= need and not (at_least or calling):
            return 0
        return max(at_least, need - spare + at_least)

    def keeps_spare(self, pace: float) -> bool:
        """Whether a user at this pace comes often enough (twice a lease period) to hold spare
        tokens for; a rarer one's would only go back."""
        return pace * self.seconds >= 2

    def low_water(self, pace: float) -> int:
        """Spare tokens below this are topped up in the background: about a second's worth."""
        return min(math.ceil(pace * 2), self.max_tokens - 1) if self.keeps_spare(pace) else 0


def trusted(*, lease_ms: int, generation: int | None, revoked_at: float | None, asked_at: float) -> bool:
    """Whether a read lease granted to a call started at `asked_at` may answer pages: not when a
    write of the user was heard of since the call started (the grant may predate the write)."""
    return lease_ms > 0 and generation is not None and (revoked_at is None or revoked_at < asked_at)
