"""The reads: one record by id, a page (and its count), the planner's estimate, an export."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from typing import Any

import asyncpg
import msgspec

from app.adapters.db.ids import created_window
from app.adapters.db.matching import FOUND, LISTS, indexed
from app.adapters.db.postgres.session import PostgresSession
from app.adapters.db.postgres.statements import FAR_FUTURE, LAST_ID, by_id, filters, record_of, translated
from app.errors import InvalidData, StorageUnavailable
from app.ports.storage import (
    RecordQuery,
)
from app.schemas.records import Record


class PostgresReads(PostgresSession):
    """Reads of the repository on PostgreSQL."""

    async def get_by_id(self, record_id: str) -> Record | None:
        try:
            parsed = uuid.UUID(record_id)
        except ValueError:
            return None
        window = created_window(parsed)
        async with translated():
            if window is not None:
                row = await self._fetchrow(*self._args("get_record", by_id(record_id, window)))
                if row is not None:
                    return record_of(row)
            # No time in the id, or none within its window (clocks far apart): everywhere.
            row = await self._fetchrow(*self._args("get_record", by_id(record_id)))
        return None if row is None else record_of(row)

    async def get_by_user(self, query: RecordQuery, *, with_total: bool) -> tuple[list[Record], int | None]:
        after_id = LAST_ID
        if query.after is not None:
            try:
                after_id = uuid.UUID(query.after.id)
            except ValueError:
                raise InvalidData("the cursor does not name a record of this database") from None
        far_future = FAR_FUTURE if query.plain else None  # find_records: NULL, as filters() says
        binds: dict[str, Any] = {
            **filters(query),
            "after_created_at": far_future if query.after is None else query.after.created_at,
            "after_id": after_id,
            "limit": query.limit,
            "offset": query.offset,
        }
        listed, counted, count = LISTS if query.plain else FOUND
        large = self._planned_for(query.user_id)
        fetch = self._fetch_planned if large or indexed(query) else self._fetch
        async with translated():
            if not with_total:
                rows = await fetch(*self._args(listed, binds))
                return [record_of(r) for r in rows], None
            if not large:
                rows = await fetch(*self._args(counted, binds))
                if rows:
                    return [record_of(r) for r in rows], rows[0]["total"]
                # Past the last page the window count has no row to ride on: count on its own.
            else:
                # A large user's page and its count apart: the window count keeps every row of
                # the user, payloads and all, before it hands out the first (57 ms for 50,000
                # records), where a count alone reads the index (13 ms) and the page 20 rows.
                rows = await fetch(*self._args(listed, binds))
            total = (await fetch(*self._args(count, binds)))[0]["total"]
        return [record_of(r) for r in rows], total

    async def estimate(self, query: RecordQuery) -> int | None:
        sql, args = self._call("estimate_records", filters(query))
        async with translated():
            plan = await self._fetchval(sql, *args)
        return int(msgspec.json.decode(plan)[0]["Plan"]["Plan Rows"])

    async def export(self, query: RecordQuery, *, batch: int) -> AsyncGenerator[list[Record], None]:
        sql, args = self._call("export_records" if query.plain else "export_found_records", filters(query))
        async with translated():
            conn = await self.pool.acquire(timeout=self._timeout)
        try:
            # A cursor lives in a transaction: read-only, so it takes no write lock. Declared in
            # SQL rather than as a protocol portal: it needs no named prepared statement, which
            # a pooler would not keep for it between transactions.
            async with translated(), conn.transaction(readonly=True):
                await self.limits(conn)
                await conn.execute(f"DECLARE export NO SCROLL CURSOR FOR {sql}", *args, timeout=self._timeout)
                fetch = f"FETCH {int(batch)} FROM export"
                while rows := await conn.fetch(fetch, timeout=self._timeout):
                    yield [record_of(row) for row in rows]
        except (OSError, TimeoutError, asyncpg.InterfaceError, StorageUnavailable):
            conn.terminate()  # its state is not known: closed, not handed back
            raise
        finally:
            await self.pool.release(conn, timeout=self._timeout)
