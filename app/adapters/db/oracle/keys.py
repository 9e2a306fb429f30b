"""Idempotency keys: the records and the answer in one transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import oracledb

from app.adapters.db.oracle.writes import OracleWrites
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


class OracleKeys(OracleWrites):
    """Idempotent writes and the purge of expired keys on Oracle."""

    # Idempotency keys: the records and the answer in one transaction. keep_answer comes last,
    # so two requests with one key meet on its primary key: the second waits for the first to
    # commit (within the call timeout), fails with ORA-00001 or merges no row, rolls its own
    # records back and answers with the kept answer.
    async def create_once(
        self, key: IdempotencyKey, record: NewRecord, audit: AuditEntry, respond: Callable[[Record], Answer]
    ) -> KeptAnswer:
        async def store(conn: oracledb.AsyncConnection) -> Answer:
            return respond(await self._insert_one(conn, record, audit))

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
        async def store(conn: oracledb.AsyncConnection) -> Answer:
            return respond(await self._insert_many(conn, records, all_or_nothing, audit))

        return await self._once(key, store)

    async def _once(
        self, key: IdempotencyKey, store: Callable[[oracledb.AsyncConnection], Awaitable[Answer]]
    ) -> KeptAnswer:
        binds = {"scope": key.scope, "idem_key": key.key}
        async with self._connection() as conn:
            try:
                answer = await store(conn)
                cursor = conn.cursor()
                cursor.setinputsizes(body=oracledb.DB_TYPE_BLOB)
                values = {
                    **binds,
                    "fingerprint": key.fingerprint,
                    "status": answer.status,
                    "body": answer.body,
                    "ttl_seconds": key.ttl_seconds,
                }
                try:
                    await cursor.execute(
                        self._sql("keep_answer"), self._statements.binds("keep_answer", values)
                    )
                    kept = cursor.rowcount == 1
                except oracledb.IntegrityError:  # ORA-00001: another request kept it meanwhile
                    kept = False
                if kept:
                    await conn.commit()
                    return KeptAnswer(key.fingerprint, answer, replayed=False)
                await conn.rollback()
            except BaseException:
                await conn.rollback()
                raise
            row = await conn.fetchone(self._sql("kept_answer"), self._statements.binds("kept_answer", binds))
        if row is None:  # expired between the two statements: as good as never kept
            raise StorageUnavailable("the idempotency key expired meanwhile", safe_to_retry=True)
        return KeptAnswer(row[0], Answer(int(row[1]), bytes(row[2])), replayed=True)

    async def purge_answers(self, batch: int) -> int:
        async with self._connection() as conn:
            cursor = conn.cursor()
            await cursor.execute(self._sql("purge_answers"), {"batch": batch})
            await conn.commit()
        return int(cursor.rowcount)
