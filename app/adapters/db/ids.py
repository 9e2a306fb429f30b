"""Record ids: UUIDv7 (RFC 9562), made by the service. An id carries the millisecond it was
made, so ids made later sort later (a B-tree takes them at its right edge instead of anywhere)
and a read by id can name the few partitions the record was created in. Ids of any other
version (the UUIDv4 of records stored before) still name their records; they carry no time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import uuid_utils

# How far a record's created_at (the database's clock, when its transaction began) may lie from
# the moment in its id (the service's clock, just before): the two clocks' skew and a write's
# wait. A read that finds nothing within it looks everywhere before it answers "not found".
CLOCK_WINDOW = timedelta(hours=1)


def new_id() -> str:
    """A new record id: a UUIDv7, later than any this process made before."""
    return str(uuid_utils.uuid7())


def made_at(record_id: str | uuid.UUID) -> datetime | None:
    """The moment a UUIDv7 id was made, to the millisecond; None for any other id."""
    try:
        parsed = record_id if isinstance(record_id, uuid.UUID) else uuid.UUID(record_id)
    except ValueError:
        return None
    if parsed.version != 7:
        return None
    return datetime.fromtimestamp((parsed.int >> 80) / 1000, UTC)


def created_window(record_id: str | uuid.UUID) -> tuple[datetime, datetime] | None:
    """The created_at range a record of this id was stored in, as far as its id tells: None
    when it tells nothing (not a UUIDv7)."""
    moment = made_at(record_id)
    if moment is None:
        return None
    return moment - CLOCK_WINDOW, moment + CLOCK_WINDOW
