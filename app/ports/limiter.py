"""The limiter: whether a request may go on, on behalf of one user's budget (a token bucket of
`rate` requests a `window`, refilled continuously)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer for one request, and what the RateLimit headers report."""

    allowed: bool
    limit: int
    window: int
    remaining: int
    retry_after: int  # whole seconds until one more request is admitted (0 when allowed)


class Limiter(Protocol):
    """Admits or refuses requests on behalf of one user's budget."""

    async def admit(self, user_id: str) -> Decision:
        """Take one token from the user's bucket if there is one."""
        ...

    async def close(self) -> None:
        """Release what it holds."""
        ...
