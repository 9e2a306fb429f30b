"""The writes: creates (one, or many by array DML or the PL/SQL package), changes, deletes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import oracledb
from msgspec import Raw

from app.adapters.db.ids import new_id
from app.adapters.db.oracle.session import (
    OracleSession,
    utc,
)
from app.ports.storage import (
    AuditEntry,
    BulkOutcome,
    NewRecord,
    RowError,
)
from app.schemas.records import Record


class OracleWrites(OracleSession):
    """Writes of the repository on Oracle."""

    async def create(self, record: NewRecord, audit: AuditEntry) -> Record:
        async with self._connection() as conn:
            stored = await self._insert_one(conn, record, audit)
            await conn.commit()
        return stored

    async def _insert_one(
        self, conn: oracledb.AsyncConnection, record: NewRecord, audit: AuditEntry
    ) -> Record:
        """The record and its audit row, in the transaction open on `conn` (not committed)."""
        cursor = conn.cursor()
        record_id = oracle_id()
        out = {
            "created_at": cursor.var(oracledb.DB_TYPE_TIMESTAMP),
            "updated_at": cursor.var(oracledb.DB_TYPE_TIMESTAMP),
        }
        cursor.setinputsizes(payload=oracledb.DB_TYPE_CLOB)
        values = {"id": record_id, "user_id": record.user_id, "payload": record.payload.decode(), **out}
        await cursor.execute(self._sql("insert_record"), self._statements.binds("insert_record", values))
        await conn.execute(self._sql("insert_audit"), self._audit(record_id, record.user_id, audit))
        created, updated = out["created_at"].getvalue()[0], out["updated_at"].getvalue()[0]
        return record.stored(record_id, utc(created), utc(updated))

    async def create_many(
        self, records: Sequence[NewRecord], *, all_or_nothing: bool, audit: AuditEntry
    ) -> BulkOutcome:
        async with self._connection() as conn:
            outcome = await self._insert_many(conn, records, all_or_nothing, audit)
            if outcome.stored:
                await conn.commit()
            else:
                await conn.rollback()
        return outcome

    async def _insert_many(
        self,
        conn: oracledb.AsyncConnection,
        records: Sequence[NewRecord],
        all_or_nothing: bool,
        audit: AuditEntry,
    ) -> BulkOutcome:
        """The records and their audit rows, in the transaction open on `conn` (not committed);
        nothing stored when all_or_nothing and a row is refused (the caller rolls back)."""
        if self._bulk_path == "plsql":
            stored, refused = await self._insert_with_package(conn, records)
        else:
            stored, refused = await self._insert_with_array_dml(conn, records)
        if refused and all_or_nothing:
            return BulkOutcome(stored={}, refused=refused)
        if stored:  # the audit rows, in the same transaction, as array DML too
            await conn.executemany(
                self._sql("insert_audit"),
                [self._audit(record_id, records[i].user_id, audit) for i, record_id in stored.items()],
            )
        return BulkOutcome(stored=stored, refused=refused)

    async def _insert_with_array_dml(
        self, conn: oracledb.AsyncConnection, records: Sequence[NewRecord]
    ) -> tuple[dict[int, str], list[RowError]]:
        ids = [oracle_id() for _ in records]
        rows = [
            self._statements.binds(
                "insert_records", {"id": i, "user_id": r.user_id, "payload": r.payload.decode()}
            )
            for i, r in zip(ids, records, strict=True)
        ]
        cursor = conn.cursor()
        cursor.setinputsizes(payload=oracledb.DB_TYPE_CLOB)
        await cursor.executemany(self._sql("insert_records"), rows, batcherrors=True)
        refused = [
            RowError(e.offset, f"refused by the database: {e.full_code}") for e in cursor.getbatcherrors()
        ]
        bad = {r.index for r in refused}
        return {i: record_id for i, record_id in enumerate(ids) if i not in bad}, refused

    async def _insert_with_package(
        self, conn: oracledb.AsyncConnection, records: Sequence[NewRecord]
    ) -> tuple[dict[int, str], list[RowError]]:
        """The same through data_records_bulk.insert_many (FORALL ... SAVE EXCEPTIONS)."""
        cursor = conn.cursor()
        n = len(records)
        ids = cursor.arrayvar(str, n, 32)
        failed_at = cursor.arrayvar(int, n)
        failed_codes = cursor.arrayvar(int, n)
        await cursor.callproc(
            "data_records_bulk.insert_many",
            [
                cursor.arrayvar(str, [r.user_id for r in records], 100),
                cursor.arrayvar(str, [r.payload.decode() for r in records], 32767),
                ids,
                failed_at,
                failed_codes,
            ],
        )
        refused = [
            RowError(int(i) - 1, f"refused by the database: ORA-{int(c):05d}")
            for i, c in zip(failed_at.getvalue(), failed_codes.getvalue(), strict=False)
            if i is not None
        ]
        return {i: v for i, v in enumerate(ids.getvalue()) if v is not None}, refused

    async def update(self, record: Record, payload: bytes, audit: AuditEntry) -> Record | None:
        async with self._connection() as conn:
            cursor = conn.cursor()
            out = {
                "updated_at": cursor.var(oracledb.DB_TYPE_TIMESTAMP),
                "new_version": cursor.var(int),
            }
            cursor.setinputsizes(payload=oracledb.DB_TYPE_CLOB)
            values = {
                "id": record.id,
                "user_id": record.user_id,
                "version": record.version,
                "payload": payload.decode(),
                **out,
            }
            if not await self._changed(conn, cursor, "update_record", values, record, audit, "update"):
                return None
        return Record(
            id=record.id,
            user_id=record.user_id,
            payload=Raw(payload),
            created_at=record.created_at,
            updated_at=utc(out["updated_at"].getvalue()[0]),
            version=int(out["new_version"].getvalue()[0]),
        )

    async def delete(self, record: Record, audit: AuditEntry) -> bool:
        async with self._connection() as conn:
            values = {"id": record.id, "user_id": record.user_id, "version": record.version}
            return await self._changed(conn, conn.cursor(), "delete_record", values, record, audit, "delete")

    async def touch_users(self, user_ids: Sequence[str], audit: AuditEntry) -> int:
        async with self._connection() as conn:
            cursor = conn.cursor()
            touched = cursor.var(int)
            binds = {
                "user_ids": cursor.arrayvar(str, list(user_ids), 100),  # the package's VARCHAR2(100)
                "actor": audit.actor,
                "request_id": audit.request_id,
                "touched": touched,
            }
            await cursor.execute(self._sql("touch_users"), binds)
            await conn.commit()
        return int(touched.getvalue() or 0)

    async def _changed(
        self,
        conn: oracledb.AsyncConnection,
        cursor: oracledb.AsyncCursor,
        statement: str,
        values: dict[str, Any],
        record: Record,
        audit: AuditEntry,
        action: str,
    ) -> bool:
        """The change and its audit row, committed together; False (rolled back) when no row
        was at the version read."""
        await cursor.execute(self._sql(statement), self._statements.binds(statement, values))
        if cursor.rowcount != 1:
            await conn.rollback()
            return False
        await conn.execute(self._sql("insert_audit"), self._audit(record.id, record.user_id, audit, action))
        await conn.commit()
        return True


def oracle_id() -> str:
    """A new record id in Oracle's form of it: 32 uppercase hex digits (VARCHAR2(32))."""
    return new_id().replace("-", "").upper()
