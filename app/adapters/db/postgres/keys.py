"""Idempotency keys: the records and the answer in one transaction. keep_answer comes last,
so two requests with one key meet on its primary key: the second waits for the first to
commit (at most KEY_WAIT_MS), finds the key kept, rolls its own records back and answers
with the kept answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from app.adapters.db.ids import new_id
from app.adapters.db.postgres.session import KeyTaken, PostgresSession, left
from app.adapters.db.postgres.statements import insert_values, translated
from app.errors import StorageUnavailable
from app.ports.storage import (
    Answer,
    AuditEntry,
    BulkOutcome,
    IdempotencyKey,
    KeptAnswer,
    NewRecord,
)
from app.schemas.records import Record


class PostgresKeys(PostgresSession):
    """Idempotent writes and the purge of expired keys on PostgreSQL."""

    # Idempotency keys: the records and the answer in one transaction. keep_answer comes last,
    # so two requests with one key meet on its primary key: the second waits for the first to
    # commit (at most KEY_WAIT_MS), finds the key kept, rolls its own records back and answers
    # with the kept answer.
    async def create_once(
        self, key: IdempotencyKey, record: NewRecord, audit: AuditEntry, respond: Callable[[Record], Answer]
    ) -> KeptAnswer:
        record_id = new_id()

        async def store(conn: PoolConnectionProxy[asyncpg.Record], ends: float) -> Answer:
            sql, args = self._call("insert_record", insert_values(record, record_id, audit))
            row = await conn.fetchrow(sql, *args, timeout=left(ends))
            assert row is not None
            return respond(record.stored(record_id, row[0], row[1]))

        return await self._once(key, store)

    async def create_many_once(
        self,
        key: IdempotencyKey,
        records: Sequence[NewRecord],
        *,
        all_or_nothing: bool,
        audit: AuditEntry,
        respond: Callable[[BulkOutcome], Answer],
    ) -> KeptAnswer:
        ids = [new_id() for _ in records]
        sql, args = self._call(
            "insert_records",
            {
                "ids": ids,
                "user_ids": [r.user_id for r in records],
                "payloads": [r.payload.decode() for r in records],
                "actors": [audit.actor] * len(records),
                "request_ids": [audit.request_id] * len(records),
            },
        )

        async def store(conn: PoolConnectionProxy[asyncpg.Record], ends: float) -> Answer:
            try:
                async with conn.transaction():  # a savepoint: a refused row undoes only this
                    await conn.fetch(sql, *args, timeout=left(ends))
                return respond(BulkOutcome(stored=dict(enumerate(ids)), refused=[]))
            except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError):
                pass
            stored, refused = await self._each_row(conn, ends, records, ids, audit)
            return respond(BulkOutcome(stored={} if all_or_nothing and refused else stored, refused=refused))

        return await self._once(key, store)

    async def _once(
        self,
        key: IdempotencyKey,
        store: Callable[[PoolConnectionProxy[asyncpg.Record], float], Awaitable[Answer]],
    ) -> KeptAnswer:
        binds = {"scope": key.scope, "idem_key": key.key}
        async with translated(), self._connection() as (conn, ends):
            try:
                async with conn.transaction():
                    await self.limits(conn)
                    answer = await store(conn, ends)
                    kept = await conn.fetchval(
                        *self._args(
                            "keep_answer",
                            {
                                **binds,
                                "fingerprint": key.fingerprint,
                                "status": answer.status,
                                "body": answer.body,
                                "ttl_seconds": float(key.ttl_seconds),
                            },
                        ),
                        timeout=left(ends),
                    )
                    if not kept:
                        raise KeyTaken
                return KeptAnswer(key.fingerprint, answer, replayed=False)
            except KeyTaken:
                pass
            row = await conn.fetchrow(*self._args("kept_answer", binds), timeout=left(ends))
        if row is None:  # expired between the two statements: as good as never kept
            raise StorageUnavailable("the idempotency key expired meanwhile", safe_to_retry=True)
        return KeptAnswer(row[0], Answer(row[1], bytes(row[2])), replayed=True)

    async def purge_answers(self, batch: int) -> int:
        async with translated(), self._connection() as (conn, ends):
            status = await conn.execute(*self._args("purge_answers", {"batch": batch}), timeout=left(ends))
        return int(status.rsplit(" ", 1)[-1])
