"""Where each user's latest write lies in the primary's log of changes (its position: a
PostgreSQL WAL position, an Oracle SCN), kept where every process of the service sees it, so
that a replica serves a user's read only once it has replayed that user's writes."""

from __future__ import annotations

from typing import Protocol


class WritePositions(Protocol):
    """The latest write position of each user, forgotten once every usable replica is past it."""

    async def advance(self, user_id: str, position: int) -> bool:
        """Keep that the user wrote at `position` (a lower one than kept changes nothing);
        False when it could not be kept."""
        ...

    async def of(self, user_id: str) -> int | None:
        """The position a replica must have replayed to serve the user: 0 when the user wrote
        nothing lately, None when it cannot be known now (the primary must serve the read)."""
        ...
