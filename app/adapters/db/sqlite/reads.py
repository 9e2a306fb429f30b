"""The reads: one record by id, a page (and its count), a bounded count, an export."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncGenerator
from typing import Any, TypeVar

from app.adapters.db.matching import FOUND, LISTS
from app.adapters.db.sqlite.session import (
    ESTIMATE_CAP,
    FAR_FUTURE,
    SqliteSession,
    connect_sqlite,
    filters,
    record_of,
    to_text,
)
from app.ports.storage import RecordQuery
from app.schemas.records import Record

T = TypeVar("T")


class SqliteReads(SqliteSession):
    """Reads of the repository on SQLite."""

    async def get_by_id(self, record_id: str) -> Record | None:
        def fetch(conn: sqlite3.Connection) -> Record | None:
            row = self._execute(conn, "get_record", {"id": record_id}).fetchone()
            return None if row is None else record_of(row)

        return await self._read(fetch)

    async def get_by_user(self, query: RecordQuery, *, with_total: bool) -> tuple[list[Record], int | None]:
        binds: dict[str, Any] = {
            **filters(query),
            "limit": query.limit,
            "offset": query.offset,
        }

        listed, counted, count = LISTS if query.plain else FOUND

        def fetch(conn: sqlite3.Connection) -> tuple[list[Record], int | None]:
            if with_total:
                rows = self._execute(conn, counted, binds).fetchall()
                if rows:
                    return [record_of(r) for r in rows], rows[0][6]
                # Past the last page the window count has no row to ride on: count on its own.
                return [], self._execute(conn, count, binds).fetchone()[0]
            after = query.after
            keyset = {
                "after_created_at": FAR_FUTURE if after is None else to_text(after.created_at),
                "after_id": "" if after is None else after.id,
            }
            rows = self._execute(conn, listed, {**binds, **keyset}).fetchall()
            return [record_of(r) for r in rows], None

        return await self._read(fetch)

    async def estimate(self, query: RecordQuery) -> int | None:
        def count(conn: sqlite3.Connection) -> int:
            binds = {**filters(query), "cap": ESTIMATE_CAP}
            return int(self._execute(conn, "estimate_records", binds).fetchone()[0])

        return await self._read(count)

    async def export(self, query: RecordQuery, *, batch: int) -> AsyncGenerator[list[Record], None]:
        # A connection of its own, used a fetch at a time from the default executor's threads:
        # an export held for as long as its client reads must not hold one of the readers.
        conn = await asyncio.to_thread(connect_sqlite, self._path, readonly=True, timeout=self._timeout)
        try:
            exported = "export_records" if query.plain else "export_found_records"
            cursor = await asyncio.to_thread(self._run, self._execute, conn, exported, filters(query))
            while rows := await asyncio.to_thread(self._run, lambda _: cursor.fetchmany(batch), conn):
                yield [record_of(row) for row in rows]
        finally:
            await asyncio.to_thread(conn.close)
