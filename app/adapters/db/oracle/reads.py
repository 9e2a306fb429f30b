"""The reads: one record by id, a page (and its count), the optimizer's estimate, an export."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from app.adapters.db.matching import FOUND, LISTS
from app.adapters.db.oracle.session import (
    FAR_FUTURE,
    LAST_ID,
    OracleSession,
    naive_utc,
    record_of,
)
from app.ports.storage import RecordQuery
from app.schemas.records import Record


class OracleReads(OracleSession):
    """Reads of the repository on Oracle."""

    async def get_by_id(self, record_id: str) -> Record | None:
        if len(record_id) != 32:
            return None
        async with self._connection() as conn:
            row = await conn.fetchone(self._sql("get_record"), {"id": record_id.upper()})
        return None if row is None else record_of(row)

    async def get_by_user(self, query: RecordQuery, *, with_total: bool) -> tuple[list[Record], int | None]:
        values: dict[str, Any] = {
            **self._filters(query),
            "after_created_at": FAR_FUTURE if query.after is None else naive_utc(query.after.created_at),
            "after_id": LAST_ID if query.after is None else query.after.id,
            "limit": query.limit,
            "offset": query.offset,
            "first_row": query.offset,
            "last_row": query.offset + query.limit,
        }
        listed, counted, count = LISTS if query.plain else FOUND
        binds = self._statements.binds
        async with self._connection() as conn:
            if not with_total:
                rows = await conn.fetchall(self._sql(listed), binds(listed, values))
                return [record_of(r) for r in rows], None
            rows = await conn.fetchall(self._sql(counted), binds(counted, values))
            if rows:
                return [record_of(r) for r in rows], int(rows[0][6])
            total = await conn.fetchone(self._sql(count), binds(count, values))
        return [], int(total[0]) if total else 0

    async def estimate(self, query: RecordQuery) -> int | None:
        async with self._connection() as conn:
            row = await conn.fetchone(self._sql("estimate_records"))
        return None if row is None or row[0] is None else int(row[0])

    async def export(self, query: RecordQuery, *, batch: int) -> AsyncGenerator[list[Record], None]:
        async with self._connection() as conn:
            conn.call_timeout = self._timeout_ms  # each round trip, whatever the request's deadline
            cursor = conn.cursor()
            cursor.arraysize = cursor.prefetchrows = batch
            exported = "export_records" if query.plain else "export_found_records"
            await cursor.execute(self._sql(exported), self._statements.binds(exported, self._filters(query)))
            while rows := await cursor.fetchmany(batch):
                yield [record_of(row) for row in rows]
