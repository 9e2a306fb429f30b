"""Idempotency keys: the records and the answer in one transaction on the writer's thread."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from app.adapters.db.sqlite.session import (
    SqliteSession,
    audit_row,
    to_text,
)
from app.ports.storage import (
    Answer,
    AuditEntry,
    BulkOutcome,
    IdempotencyKey,
    KeptAnswer,
    NewRecord,
)
from app.schemas.records import Record

T = TypeVar("T")


class SqliteKeys(SqliteSession):
    """Idempotent writes and the purge of expired keys on SQLite."""

    # Idempotency keys: the records and the answer in one transaction, on the one writer
    # connection, so a second request with the key runs after the first has committed, finds the
    # key kept, rolls its own records back and answers with the kept answer.
    async def create_once(
        self, key: IdempotencyKey, record: NewRecord, audit: AuditEntry, respond: Callable[[Record], Answer]
    ) -> KeptAnswer:
        now = datetime.now(UTC)
        row = self._row(record, to_text(now))

        def store(conn: sqlite3.Connection) -> Answer:
            self._execute(conn, "insert_record", row)
            self._execute(conn, "insert_audit", audit_row(row, audit))
            moment = datetime.fromisoformat(row["created_at"])
            return respond(record.stored(row["id"], moment, moment))

        return await self._write(self._once, key, now, store)

    async def create_many_once(
        self,
        key: IdempotencyKey,
        records: Sequence[NewRecord],
        *,
        all_or_nothing: bool,
        audit: AuditEntry,
        respond: Callable[[BulkOutcome], Answer],
    ) -> KeptAnswer:
        now = datetime.now(UTC)
        rows = [self._row(r, to_text(now)) for r in records]

        def store(conn: sqlite3.Connection) -> Answer:
            stored, refused = self._each_row(conn, rows, audit)
            return respond(BulkOutcome(stored={} if all_or_nothing and refused else stored, refused=refused))

        return await self._write(self._once, key, now, store)

    def _once(
        self,
        conn: sqlite3.Connection,
        key: IdempotencyKey,
        now: datetime,
        store: Callable[[sqlite3.Connection], Answer],
    ) -> KeptAnswer:
        binds = {"scope": key.scope, "idem_key": key.key, "now": to_text(now)}
        conn.execute("BEGIN IMMEDIATE")
        try:
            answer = store(conn)
            kept = self._execute(
                conn,
                "keep_answer",
                {
                    **binds,
                    "fingerprint": key.fingerprint,
                    "status": answer.status,
                    "body": answer.body,
                    "expires_at": to_text(now + timedelta(seconds=key.ttl_seconds)),
                },
            ).fetchone()
            if kept is not None:
                conn.execute("COMMIT")
                return KeptAnswer(key.fingerprint, answer, replayed=False)
            conn.execute("ROLLBACK")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        row = self._execute(conn, "kept_answer", binds).fetchone()
        return KeptAnswer(row[0], Answer(row[1], bytes(row[2])), replayed=True)

    async def purge_answers(self, batch: int) -> int:
        def purge(conn: sqlite3.Connection) -> int:
            now = to_text(datetime.now(UTC))
            return int(self._execute(conn, "purge_answers", {"now": now, "batch": batch}).rowcount)

        return await self._write(purge)
