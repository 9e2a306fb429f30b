"""The repository on SQLite: reads, writes and idempotent writes over one file (session.py)."""

from __future__ import annotations

from app.adapters.db.sqlite.keys import SqliteKeys
from app.adapters.db.sqlite.reads import SqliteReads
from app.adapters.db.sqlite.session import BINDS, connect_sqlite, sqlite_path, to_text
from app.adapters.db.sqlite.writes import SqliteWrites

__all__ = ["BINDS", "SqliteRecordRepository", "connect_sqlite", "sqlite_path", "to_text"]


class SqliteRecordRepository(SqliteReads, SqliteWrites, SqliteKeys):
    """RecordRepository on one SQLite file."""
