"""The repository on PostgreSQL: reads, writes and idempotent writes over one pool
(session.py)."""

from __future__ import annotations

from app.adapters.db.postgres.keys import PostgresKeys
from app.adapters.db.postgres.reads import PostgresReads
from app.adapters.db.postgres.session import BINDS, KEY_WAIT_MS
from app.adapters.db.postgres.writes import PostgresWrites
from app.concurrency import Coalescer
from app.errors import StorageUnavailable
from app.ports.storage import AuditEntry, NewRecord
from app.schemas.records import Record

__all__ = ["BINDS", "KEY_WAIT_MS", "PostgresRecordRepository"]


class PostgresRecordRepository(PostgresReads, PostgresWrites, PostgresKeys):
    """RecordRepository on PostgreSQL."""

    def __init__(
        self,
        dsn: str,
        queries: dict[str, str],
        *,
        min_size: int,
        max_size: int,
        timeout: float,
        pooled: bool = False,
    ) -> None:
        super().__init__(dsn, queries, min_size=min_size, max_size=max_size, timeout=timeout, pooled=pooled)
        # Group commit: while one statement stores a group, the creates that arrive gather
        # for the next; each is acknowledged once the statement holding it has committed.
        self._group: Coalescer[tuple[NewRecord, AuditEntry], Record] = Coalescer(
            self._store_group,
            lost=lambda: StorageUnavailable("the write was interrupted; whether it was stored is not known"),
            one_at_a_time=True,
        )
