"""The repository on SQLite: reads, writes and idempotent writes over one file (session.py)."""

from __future__ import annotations

from app.adapters.db.sqlite.keys import SqliteKeys
from app.adapters.db.sqlite.reads import SqliteReads
from app.adapters.db.sqlite.session import BINDS, UNKNOWN_OUTCOME, connect_sqlite, sqlite_path, to_text
from app.adapters.db.sqlite.writes import SqliteWrites
from app.concurrency import Coalescer
from app.errors import StorageUnavailable
from app.ports.storage import AuditEntry

__all__ = ["BINDS", "SqliteRecordRepository", "connect_sqlite", "sqlite_path", "to_text"]


class SqliteRecordRepository(SqliteReads, SqliteWrites, SqliteKeys):
    """RecordRepository on one SQLite file."""

    def __init__(self, path: str, queries: dict[str, str], *, readers: int = 4, timeout: float = 5.0) -> None:
        super().__init__(path, queries, readers=readers, timeout=timeout)
        # Group commit: while one transaction commits (and waits for its fsync), the creates
        # that arrive gather for the next; each is acknowledged once its own has committed.
        self._group: Coalescer[tuple[dict[str, str], AuditEntry], None] = Coalescer(
            self._commit_group, lost=lambda: StorageUnavailable(UNKNOWN_OUTCOME), one_at_a_time=True
        )
