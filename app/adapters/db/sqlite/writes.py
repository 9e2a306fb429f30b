"""The writes: creates (gathered into groups, or many in one transaction), changes, deletes."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from msgspec import Raw

from app.adapters.db.sqlite.session import (
    UNKNOWN_OUTCOME,
    SqliteSession,
    audit_row,
    audit_values,
    encoder,
    record_of,
    to_text,
)
from app.concurrency import Coalescer
from app.errors import StorageConflict, StorageUnavailable
from app.ports.storage import (
    AuditEntry,
    BulkOutcome,
    NewRecord,
)
from app.schemas.records import Record

T = TypeVar("T")


class SqliteWrites(SqliteSession):
    """Writes of the repository on SQLite."""

    @functools.cached_property
    def _group(self) -> Coalescer[tuple[dict[str, str], AuditEntry], None]:
        """Group commit: while one transaction commits (and waits for its fsync), the creates
        that arrive gather for the next; each is acknowledged once its own has committed."""
        return Coalescer(
            self._commit_group, lost=lambda: StorageUnavailable(UNKNOWN_OUTCOME), one_at_a_time=True
        )

    async def create(self, record: NewRecord, audit: AuditEntry) -> Record:
        row = self._row(record, to_text(datetime.now(UTC)))
        await self._group((row, audit))
        moment = datetime.fromisoformat(row["created_at"])
        return record.stored(row["id"], moment, moment)

    async def _commit_group(self, group: list[tuple[dict[str, str], AuditEntry]]) -> list[Exception | None]:
        return await self._write(self._insert_group, group)

    def _insert_group(
        self, conn: sqlite3.Connection, group: list[tuple[dict[str, str], AuditEntry]]
    ) -> list[Exception | None]:
        """Each create in its own savepoint, so one refused row fails only its own request."""
        outcomes: list[Exception | None] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for row, audit in group:
                conn.execute("SAVEPOINT one_create")
                try:
                    self._execute(conn, "insert_record", row)
                    self._execute(conn, "insert_audit", audit_row(row, audit))
                    conn.execute("RELEASE one_create")
                    outcomes.append(None)
                except sqlite3.IntegrityError as exc:
                    conn.execute("ROLLBACK TO one_create")
                    conn.execute("RELEASE one_create")
                    conflict = StorageConflict("the record conflicts with one already stored")
                    conflict.__cause__ = exc
                    outcomes.append(conflict)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return outcomes

    async def create_many(
        self, records: Sequence[NewRecord], *, all_or_nothing: bool, audit: AuditEntry
    ) -> BulkOutcome:
        now = to_text(datetime.now(UTC))
        rows = [self._row(r, now) for r in records]
        return await self._write(self._insert_many, rows, all_or_nothing, audit)

    def _insert_many(
        self, conn: sqlite3.Connection, rows: list[dict[str, str]], all_or_nothing: bool, audit: AuditEntry
    ) -> BulkOutcome:
        as_json = encoder.encode([[r["id"], r["user_id"], Raw(r["payload"])] for r in rows]).decode()
        audit_sql = self._statements.sql["insert_audit"]
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._execute(conn, "insert_records", {"rows": as_json, "created_at": rows[0]["created_at"]})
            conn.executemany(audit_sql, [audit_row(r, audit) for r in rows])
            conn.execute("COMMIT")
            return BulkOutcome(stored={i: r["id"] for i, r in enumerate(rows)}, refused=[])
        except sqlite3.IntegrityError:
            conn.execute("ROLLBACK")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        # Some row broke a constraint: go row by row to tell the client which.
        conn.execute("BEGIN IMMEDIATE")
        try:
            stored, refused = self._each_row(conn, rows, audit)
            if all_or_nothing and refused:
                conn.execute("ROLLBACK")
                return BulkOutcome(stored={}, refused=refused)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return BulkOutcome(stored=stored, refused=refused)

    async def update(self, record: Record, payload: bytes, audit: AuditEntry) -> Record | None:
        def change(conn: sqlite3.Connection) -> Record | None:
            binds = {
                "id": record.id,
                "user_id": record.user_id,
                "version": record.version,
                "payload": payload.decode("utf-8"),
                "updated_at": to_text(datetime.now(UTC)),
            }
            return self._changed(conn, "update_record", binds, "update", record, audit)

        return await self._write(change)

    async def delete(self, record: Record, audit: AuditEntry) -> bool:
        def remove(conn: sqlite3.Connection) -> bool:
            binds = {"id": record.id, "user_id": record.user_id, "version": record.version}
            return self._changed(conn, "delete_record", binds, "delete", record, audit) is not None

        return await self._write(remove)

    async def touch_users(self, user_ids: Sequence[str], audit: AuditEntry) -> int:
        def touch(conn: sqlite3.Connection) -> int:
            now = to_text(datetime.now(UTC))
            conn.execute("BEGIN IMMEDIATE")
            try:
                binds = {"user_ids": encoder.encode(list(user_ids)).decode(), "updated_at": now}
                touched = self._execute(conn, "touch_users", binds).fetchall()
                conn.executemany(
                    self._statements.sql["insert_audit"],
                    [audit_values("update", row[0], row[1], audit, now) for row in touched],
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return len(touched)

        return await self._write(touch)

    def _changed(
        self,
        conn: sqlite3.Connection,
        statement: str,
        binds: dict[str, Any],
        action: str,
        record: Record,
        audit: AuditEntry,
    ) -> Record | None:
        """The change and its audit row in one transaction; the row as it is now, `record`
        itself once deleted, or None when nothing changed."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            if self._execute(conn, statement, binds).rowcount != 1:
                conn.execute("ROLLBACK")
                return None
            now = to_text(datetime.now(UTC))
            self._execute(conn, "insert_audit", audit_values(action, record.id, record.user_id, audit, now))
            row = self._execute(conn, "get_record", {"id": record.id}).fetchone()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return record if row is None else record_of(row)
