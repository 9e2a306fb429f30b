"""Per-user token buckets: `rate` requests a `window`, refilled continuously."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Decision:
    """The limiter's answer for one request, and what the RateLimit headers report."""

    allowed: bool
    limit: int
    window: int
    remaining: int
    retry_after: int  # whole seconds until one more request is admitted (0 when allowed)


class RateLimiter(Protocol):
    """Admits or refuses a request on behalf of one user."""

    async def acquire(self, user_id: str) -> Decision:
        """Take one token from the user's bucket if there is one."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
