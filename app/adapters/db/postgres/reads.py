"""The reads: one record by id, a page (and its count), the planner's estimate, an export.

Reads by id and plain pages that arrive together (those of one turn of the event loop) go to the
database as one statement, as the group commit's creates do (together.py): one pooled
connection, one round trip and one statement's overhead for all of them. A read alone runs the
single statement, as before."""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from app.adapters.db.ids import created_window
from app.adapters.db.matching import FOUND, LISTS, indexed
from app.adapters.db.postgres.session import PostgresSession
from app.adapters.db.postgres.statements import (
    FAR_FUTURE,
    FAR_PAST,
    LAST_ID,
    by_id,
    filters,
    record_of,
    translated,
)
from app.adapters.db.postgres.together import joined, shared
from app.concurrency import Coalescer
from app.errors import InvalidData, StorageUnavailable
from app.ports.storage import (
    RecordQuery,
)
from app.schemas.records import Record

# A read by id: the id (as PostgreSQL writes it) and the created_at range it names, if any.
Wanted = tuple[str, tuple[datetime, datetime] | None]


class PostgresReads(PostgresSession):
    """Reads of the repository on PostgreSQL."""

    @functools.cached_property
    def _by_ids(self) -> Coalescer[Wanted, asyncpg.Record | None]:
        """The reads by id of one turn of the event loop, in one statement (get_records).
        Batches overlap, one a connection."""
        return shared(self._read_together, timeout=self._timeout, lost="the record could not be read")

    @functools.cached_property
    def _pages(self) -> Coalescer[dict[str, Any], list[asyncpg.Record]]:
        """The plain pages with their counts of one turn of the event loop, in one statement
        (list_records_together), as the reads by id."""
        return shared(self._list_together, timeout=self._timeout, lost="the page could not be read")

    async def get_by_id(self, record_id: str) -> Record | None:
        try:
            parsed = uuid.UUID(record_id)
        except ValueError:
            return None
        window = created_window(parsed)
        async with translated():
            row = await joined(self._by_ids, (str(parsed), window), most=self._timeout)
            if row is None and window is not None:
                # None within its window (clocks far apart): everywhere.
                row = await self._fetchrow(*self._args("get_record", by_id(record_id)))
        return None if row is None else record_of(row)

    async def _read_together(self, wanted: list[Wanted]) -> list[asyncpg.Record | None]:
        if len(wanted) == 1:  # alone: the single read's statement
            record_id, window = wanted[0]
            return [await self._fetchrow(*self._args("get_record", by_id(record_id, window)))]
        windows = [window or (FAR_PAST, FAR_FUTURE) for _, window in wanted]
        binds = {
            "ids": [record_id for record_id, _ in wanted],
            "created_from": [start for start, _ in windows],
            "created_to": [end for _, end in windows],
        }
        found = {row[0]: row for row in await self._fetch(*self._args("get_records", binds))}
        return [found.get(record_id) for record_id, _ in wanted]

    async def _list_together(self, pages: list[dict[str, Any]]) -> list[list[asyncpg.Record]]:
        if len(pages) == 1:  # alone: the single page's statement
            return [await self._fetch(*self._args("list_records_counted", pages[0]))]
        binds = {
            many: [page[one] for page in pages]
            for many, one in (
                ("user_ids", "user_id"),
                ("created_from", "created_from"),
                ("created_to", "created_to"),
                ("types", "type"),
                ("statuses", "status"),
                ("limits", "limit"),
                ("offsets", "offset"),
            )
        }
        found: list[list[asyncpg.Record]] = [[] for _ in pages]
        for row in await self._fetch(*self._args("list_records_together", binds)):
            found[row[7] - 1].append(row)  # n: the page's place, from 1
        return found

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
                if query.plain:  # a plain page: read with the others of its turn
                    rows = await joined(self._pages, binds, most=self._timeout)
                else:
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
