"""A page from rows that each carry one record already written as JSON by the database
(SQLite and Oracle; PostgreSQL writes the whole array itself)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from app.ports.storage import Position, StoredPage


def joined_page(
    rows: Sequence[Sequence[Any]], limit: int, total: int | None, moment: Callable[[Any], datetime]
) -> StoredPage:
    """The page of rows (record JSON, created_at, id, ...): the first `limit` records joined
    into the array, the one past them only saying that more follow; `moment` reads a created_at
    as the dialect returns it."""
    page = rows[:limit]
    more = len(rows) > limit
    after = Position(created_at=moment(page[-1][1]), id=page[-1][2]) if more else None
    return StoredPage(
        items=("[" + ",".join(row[0] for row in page) + "]").encode(),
        has_more=more,
        next_after=after,
        total=total,
    )
