"""The writes: creates (one at a time gathered into groups, or many in one statement), changes and deletes."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from app.adapters.db.ids import new_id
from app.adapters.db.postgres.session import PostgresSession, RolledBack
from app.adapters.db.postgres.statements import by_id, change_values, record_of, translated
from app.adapters.db.postgres.together import joined, shared
from app.concurrency import Coalescer
from app.errors import InvalidData, StorageConflict, StorageUnavailable
from app.ports.storage import (
    AuditEntry,
    BulkOutcome,
    NewRecord,
)
from app.schemas.records import Record


class PostgresWrites(PostgresSession):
    """Writes of the repository on PostgreSQL."""

    @functools.cached_property
    def _group(self) -> Coalescer[tuple[NewRecord, AuditEntry], Record]:
        """Group commit: while one statement stores a group, the creates that arrive gather for
        the next; each is acknowledged once the statement holding it has committed."""
        return shared(
            self._store,
            timeout=self._timeout,
            lost="the write was interrupted; whether it was stored is not known",
            one_at_a_time=True,
        )

    async def create(self, record: NewRecord, audit: AuditEntry) -> Record:
        # One call, whatever it waits for (the group in flight, then its own group's statement):
        # at most the timeout, or what is left of the request's deadline.
        try:
            return await joined(self._group, (record, audit), most=self._timeout)
        except TimeoutError:
            raise StorageUnavailable(
                "the write did not finish in time; whether it was stored is not known"
            ) from None

    async def _store(self, group: list[tuple[NewRecord, AuditEntry]]) -> list[Record | Exception]:
        records = [record for record, _ in group]
        ids = [new_id() for _ in group]
        try:
            rows = await self._insert(records, ids, [audit for _, audit in group])
        except (InvalidData, StorageConflict):
            # Some row was refused: each create on its own, so only that one fails.
            outcomes: list[Record | Exception] = []
            for record_id, (record, audit) in zip(ids, group, strict=True):
                outcome = await self._create_row_by_row([record], [record_id], True, audit)
                if outcome.refused:
                    outcomes.append(InvalidData("the database refused a value"))
                else:
                    outcomes.append(await self._fetch_created(record, record_id))
            return outcomes
        return [
            record.stored(record_id, *rows[record_id]) for record_id, record in zip(ids, records, strict=True)
        ]

    async def _insert(
        self, records: Sequence[NewRecord], ids: list[str], audits: Sequence[AuditEntry]
    ) -> dict[str, tuple[Any, Any]]:
        sql, args = self._call(
            "insert_records",
            {
                "ids": ids,
                "user_ids": [r.user_id for r in records],
                "payloads": [r.payload.decode() for r in records],
                "actors": [a.actor for a in audits],
                "request_ids": [a.request_id for a in audits],
            },
        )
        async with translated():
            stored = await self._fetch(sql, *args)
        return {row[0]: (row[1], row[2]) for row in stored}

    async def _fetch_created(self, record: NewRecord, record_id: str) -> Record:
        """The record just stored, read back on the primary that stored it."""
        async with translated():
            # A rare path (a group some row of which was refused): every partition is looked in.
            row = await self._fetchrow(*self._args("get_record", by_id(record_id)))
        if row is None:
            raise StorageUnavailable("the record was not stored")
        return record.stored(record_id, row[3], row[4])

    async def create_many(
        self, records: Sequence[NewRecord], *, all_or_nothing: bool, audit: AuditEntry
    ) -> BulkOutcome:
        ids = [new_id() for _ in records]
        try:
            await self._insert(records, ids, [audit] * len(records))
            return BulkOutcome(stored=dict(enumerate(ids)), refused=[])
        except (InvalidData, StorageConflict):
            pass
        return await self._create_row_by_row(records, ids, all_or_nothing, audit)

    async def _create_row_by_row(
        self, records: Sequence[NewRecord], ids: list[str], all_or_nothing: bool, audit: AuditEntry
    ) -> BulkOutcome:
        """After a refused bulk statement: each row in a savepoint, to name the bad ones."""
        try:
            async with translated(), self._connection() as (conn, ends), conn.transaction():
                await self.limits(conn)
                stored, refused = await self._each_row(conn, ends, records, ids, audit)
                if all_or_nothing and refused:
                    raise RolledBack(BulkOutcome(stored={}, refused=refused))
        except RolledBack as rolled_back:
            return rolled_back.outcome
        return BulkOutcome(stored=stored, refused=refused)

    async def update(self, record: Record, payload: bytes, audit: AuditEntry) -> Record | None:
        sql, args = self._call(
            "update_record",
            {**change_values(record, audit), "payload": payload.decode()},
        )
        async with translated():
            row = await self._fetchrow(sql, *args)
        return None if row is None else record_of(row)

    async def delete(self, record: Record, audit: AuditEntry) -> bool:
        sql, args = self._call("delete_record", change_values(record, audit))
        async with translated():
            return bool(await self._fetchval(sql, *args))

    async def touch_users(self, user_ids: Sequence[str], audit: AuditEntry) -> int:
        binds = {"user_ids": list(user_ids), "actor": audit.actor, "request_id": audit.request_id}
        async with translated():
            return int(await self._fetchval(*self._args("touch_users", binds)))
