"""Admission: whether a request may go on, on behalf of one user's budget (a token bucket of
`rate` requests a `window`, refilled continuously), and, for a list read, the page it asks for
in the same step, because where the budget and the pages share a server (Redis) one round
trip answers both."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from app.ports.cache import Lookup


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer for one request, and what the RateLimit headers report."""

    allowed: bool
    limit: int
    window: int
    remaining: int
    retry_after: int  # whole seconds until one more request is admitted (0 when allowed)


class Admission(Protocol):
    """Admits or refuses requests on behalf of one user's budget."""

    async def admit(self, user_id: str) -> Decision:
        """Take one token from the user's bucket if there is one."""
        ...

    async def admit_and_read(self, user_id: str, page_key: str) -> tuple[Decision, Lookup]:
        """The decision for the user and, when admitted, what PageCache.get(user_id, page_key)
        answers (when refused: no page, generation -1)."""
        ...

    async def close(self) -> None:
        """Release what it holds."""
        ...
