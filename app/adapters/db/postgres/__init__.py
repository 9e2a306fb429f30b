"""The repository on PostgreSQL: reads, writes and idempotent writes over one pool
(session.py)."""

from __future__ import annotations

from app.adapters.db.postgres.keys import PostgresKeys
from app.adapters.db.postgres.reads import PostgresReads
from app.adapters.db.postgres.session import KEY_WAIT_MS
from app.adapters.db.postgres.statements import BINDS
from app.adapters.db.postgres.writes import PostgresWrites

__all__ = ["BINDS", "KEY_WAIT_MS", "PostgresRecordRepository"]


class PostgresRecordRepository(PostgresReads, PostgresWrites, PostgresKeys):
    """RecordRepository on PostgreSQL."""
