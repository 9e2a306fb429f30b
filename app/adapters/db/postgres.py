"""PostgreSQL through asyncpg: a pool opened in the lifespan, statements from sql/postgres/.

asyncpg, because it was measured faster than psycopg 3 on both the bulk and the single insert
(bench/pg_drivers.py; docs/performance.md, "The database driver", has the figures).
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy
from msgspec import Raw

from app.adapters.db.sqlfiles import Statements, to_numbered
from app.concurrency import Coalescer
from app.errors import IdempotencyKeyBusy, InvalidData, StorageConflict, StorageUnavailable
from app.observability.tallies import WAIT_BUCKETS, Spread
from app.ports.storage import (
    ANSWER_BINDS,
    FILTERS,
    KEY_BINDS,
    OFFSET_READ_BINDS,
    Answer,
    AuditEntry,
    BulkOutcome,
    IdempotencyKey,
    KeptAnswer,
    NewRecord,
    PoolUsage,
    RecordQuery,
    RowError,
    filter_binds,
)
from app.resilience import deadline
from app.schemas.records import Record

FAR_PAST = datetime(1, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
LAST_ID = uuid.UUID(int=(1 << 128) - 1)
BINDS = {
    "insert_record": frozenset({"id", "user_id", "payload", "actor", "request_id"}),
    "insert_records": frozenset({"ids", "user_ids", "payloads", "actors", "request_ids"}),
    "keep_answer": ANSWER_BINDS | {"ttl_seconds"},
    "kept_answer": KEY_BINDS,
    "purge_answers": frozenset({"batch"}),
    "update_record": frozenset({"id", "created_at", "version", "payload", "actor", "request_id"}),
    "delete_record": frozenset({"id", "created_at", "version", "actor", "request_id"}),
    "estimate_records": FILTERS,
    **OFFSET_READ_BINDS,
}
# How long a request waits for another holding its idempotency key uncommitted: then 409.
KEY_WAIT_MS = 1000


@asynccontextmanager
async def _translated() -> AsyncIterator[None]:
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        raise StorageConflict("the record conflicts with one already stored") from exc
    except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
        raise InvalidData("the database refused a value") from exc
    except asyncpg.LockNotAvailableError as exc:  # 55P03: only idempotency keys are waited for
        raise IdempotencyKeyBusy("a request with this Idempotency-Key is still being processed") from exc
    except (asyncpg.SerializationError, asyncpg.DeadlockDetectedError) as exc:  # 40001, 40P01
        raise StorageUnavailable("the database rolled the statement back", safe_to_retry=True) from exc
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
        raise StorageUnavailable("the database could not complete the request") from exc


def _insert_values(record: NewRecord, record_id: str, audit: AuditEntry) -> dict[str, Any]:
    return {
        "id": record_id,
        "user_id": record.user_id,
        "payload": record.payload.decode(),
        "actor": audit.actor,
        "request_id": audit.request_id,
    }


def _filters(query: RecordQuery) -> dict[str, object]:
    return filter_binds(query, far_past=FAR_PAST, far_future=FAR_FUTURE, moment=lambda m: m)


def _change_values(record: Record, audit: AuditEntry) -> dict[str, Any]:
    return {
        "id": record.id,
        "created_at": record.created_at,
        "version": record.version,
        "actor": audit.actor,
        "request_id": audit.request_id,
    }


async def _keep_session(connection: asyncpg.Connection) -> None:
    """The pool's reset on release. asyncpg's default runs one more statement per call (RESET ALL,
    UNLISTEN, CLOSE ALL, advisory unlocks); this service's statements leave no such state, and
    asyncpg still rolls back a transaction left open before calling this."""


def _left(ends: float) -> float:
    return max(0.001, ends - time.monotonic())


class _KeyTaken(Exception):
    """The idempotency key holds an answer already: this transaction is rolled back."""


class _RolledBack(Exception):
    """Raised inside a transaction to roll it back and answer `outcome` anyway."""

    def __init__(self, outcome: BulkOutcome) -> None:
        self.outcome = outcome


def _record(row: asyncpg.Record) -> Record:
    return Record(
        id=row[0], user_id=row[1], payload=Raw(row[2]), created_at=row[3], updated_at=row[4], version=row[5]
    )


class PostgresRecordRepository:
    """RecordRepository on PostgreSQL."""

    def __init__(
        self, dsn: str, queries: dict[str, str], *, min_size: int, max_size: int, timeout: float
    ) -> None:
        self._dsn = dsn
        self._numbered = {name: to_numbered(sql) for name, sql in Statements(queries, BINDS).sql.items()}
        self._min_size = min_size
        self._max_size = max_size
        self._timeout = timeout
        self._pool: asyncpg.Pool | None = None
        self._waits = Spread(WAIT_BUCKETS)
        self._wait_timeouts = 0
        # Group commit: while one statement stores a group, the creates that arrive gather
        # for the next; each is acknowledged once the statement holding it has committed.
        self._group: Coalescer[tuple[NewRecord, AuditEntry], Record] = Coalescer(
            self._store_group,
            lost=lambda: StorageUnavailable("the write was interrupted; whether it was stored is not known"),
            one_at_a_time=True,
        )

    async def open(self) -> None:
        """Open the pool (fixed bounds, every call under the command timeout)."""
        async with _translated():
            self._pool = await asyncpg.create_pool(
                self._dsn,
                min_size=self._min_size,
                max_size=self._max_size,
                command_timeout=self._timeout,
                timeout=self._timeout,
                reset=_keep_session,
                # The server gives up on a statement when the client does (the client's timeout
                # cancels it too, but a lost cancel request would leave it running).
                server_settings={
                    # pg_stat_activity and the server's logs name the service's sessions.
                    "application_name": "data-service",
                    "lock_timeout": str(KEY_WAIT_MS),
                    "statement_timeout": str(math.ceil(self._timeout * 1000)),
                },
            )

    def _call(self, name: str, binds: dict[str, Any]) -> tuple[str, list[Any]]:
        sql, names = self._numbered[name]
        return sql, [binds[n] for n in names]

    def _args(self, name: str, binds: dict[str, Any]) -> list[Any]:
        """The statement followed by its arguments, ready for fetch(*...)."""
        sql, args = self._call(name, binds)
        return [sql, *args]

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StorageUnavailable("the database pool is not open")
        return self._pool

    # A call (waiting for a pooled connection, its statements, handing the connection back) takes
    # at most the database timeout in all, or what is left of the request's deadline when less:
    # asyncpg's pool.fetch() would wait for a connection without bound while a frozen database
    # holds every one, then as long again for the statement.
    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[tuple[PoolConnectionProxy[asyncpg.Record], float]]:
        """A pooled connection and the time (monotonic) its statements must be done by.

        When no connection can be made (refused, reset, the server starting or stopping), nothing
        was sent: that failure is safe to retry. Waiting out the timeout for a free connection is
        not retried (the database is most likely frozen). A connection whose statement timed out
        or broke is closed, not handed back: its state is not known."""
        allowed = deadline.budget(self._timeout)
        if allowed <= 0:
            raise StorageUnavailable("the request's deadline has passed", safe_to_retry=True)
        asked = time.monotonic()
        ends = asked + allowed
        try:
            conn = await self.pool.acquire(timeout=allowed)
        except TimeoutError:
            self._wait_timeouts += 1
            raise
        except (OSError, asyncpg.CannotConnectNowError, asyncpg.ConnectionDoesNotExistError) as exc:
            raise StorageUnavailable("the database could not be reached", safe_to_retry=True) from exc
        self._waits.observe(time.monotonic() - asked)
        try:
            yield conn, ends
        except (OSError, TimeoutError, asyncpg.InterfaceError):
            conn.terminate()
            raise
        finally:
            await self.pool.release(conn, timeout=_left(ends))

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with self._connection() as (conn, ends):
            return await conn.fetch(sql, *args, timeout=_left(ends))

    async def _fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        async with self._connection() as (conn, ends):
            return await conn.fetchrow(sql, *args, timeout=_left(ends))

    async def _fetchval(self, sql: str, *args: Any) -> Any:
        async with self._connection() as (conn, ends):
            return await conn.fetchval(sql, *args, timeout=_left(ends))

    async def create(self, record: NewRecord, audit: AuditEntry) -> Record:
        # One call, whatever it waits for (the group in flight, then its own group's statement):
        # at most the timeout, or what is left of the request's deadline.
        try:
            async with asyncio.timeout(deadline.budget(self._timeout)):
                return await self._group((record, audit))
        except TimeoutError:
            raise StorageUnavailable(
                "the write did not finish in time; whether it was stored is not known"
            ) from None

    async def _store_group(self, group: list[tuple[NewRecord, AuditEntry]]) -> list[Record | Exception]:
        # The group runs in a task of its own, for callers each bounded by their own deadline.
        with deadline.within(self._timeout):
            return await self._store(group)

    async def _store(self, group: list[tuple[NewRecord, AuditEntry]]) -> list[Record | Exception]:
        records = [record for record, _ in group]
        ids = [str(uuid.uuid4()) for _ in group]
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
            Record(
                id=record_id,
                user_id=record.user_id,
                payload=Raw(record.payload),
                created_at=rows[record_id][0],
                updated_at=rows[record_id][1],
            )
            for record_id, record in zip(ids, records, strict=True)
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
        async with _translated():
            stored = await self._fetch(sql, *args)
        return {row[0]: (row[1], row[2]) for row in stored}

    async def _fetch_created(self, record: NewRecord, record_id: str) -> Record:
        stored = await self.get_by_id(record_id)
        if stored is None:
            raise StorageUnavailable("the record was not stored")
        return Record(
            id=record_id,
            user_id=record.user_id,
            payload=Raw(record.payload),
            created_at=stored.created_at,
            updated_at=stored.updated_at,
        )

    async def create_many(
        self, records: Sequence[NewRecord], *, all_or_nothing: bool, audit: AuditEntry
    ) -> BulkOutcome:
        ids = [str(uuid.uuid4()) for _ in records]
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
            async with _translated(), self._connection() as (conn, ends), conn.transaction():
                stored, refused = await self._each_row(conn, ends, records, ids, audit)
                if all_or_nothing and refused:
                    raise _RolledBack(BulkOutcome(stored={}, refused=refused))
        except _RolledBack as rolled_back:
            return rolled_back.outcome
        return BulkOutcome(stored=stored, refused=refused)

    async def _each_row(
        self,
        conn: PoolConnectionProxy[asyncpg.Record],
        ends: float,
        records: Sequence[NewRecord],
        ids: list[str],
        audit: AuditEntry,
    ) -> tuple[dict[int, str], list[RowError]]:
        """Each row in a savepoint of the transaction open on `conn`: the stored and the refused."""
        stored: dict[int, str] = {}
        refused: list[RowError] = []
        for i, (record, record_id) in enumerate(zip(records, ids, strict=True)):
            sql, args = self._call("insert_record", _insert_values(record, record_id, audit))
            try:
                async with conn.transaction():
                    await conn.fetchrow(sql, *args, timeout=_left(ends))
                stored[i] = record_id
            except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
                refused.append(RowError(i, f"refused by the database: {exc.sqlstate}"))
        return stored, refused

    # Idempotency keys: the records and the answer in one transaction. keep_answer comes last,
    # so two requests with one key meet on its primary key: the second waits for the first to
    # commit (at most KEY_WAIT_MS), finds the key kept, rolls its own records back and answers
    # with the kept answer.
    async def create_once(
        self, key: IdempotencyKey, record: NewRecord, audit: AuditEntry, respond: Callable[[Record], Answer]
    ) -> KeptAnswer:
        record_id = str(uuid.uuid4())

        async def store(conn: PoolConnectionProxy[asyncpg.Record], ends: float) -> Answer:
            sql, args = self._call("insert_record", _insert_values(record, record_id, audit))
            row = await conn.fetchrow(sql, *args, timeout=_left(ends))
            assert row is not None
            return respond(
                Record(
                    id=record_id,
                    user_id=record.user_id,
                    payload=Raw(record.payload),
                    created_at=row[0],
                    updated_at=row[1],
                )
            )

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
        ids = [str(uuid.uuid4()) for _ in records]
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
                    await conn.fetch(sql, *args, timeout=_left(ends))
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
        async with _translated(), self._connection() as (conn, ends):
            try:
                async with conn.transaction():
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
                        timeout=_left(ends),
                    )
                    if not kept:
                        raise _KeyTaken
                return KeptAnswer(key.fingerprint, answer, replayed=False)
            except _KeyTaken:
                pass
            row = await conn.fetchrow(*self._args("kept_answer", binds), timeout=_left(ends))
        if row is None:  # expired between the two statements: as good as never kept
            raise StorageUnavailable("the idempotency key expired meanwhile", safe_to_retry=True)
        return KeptAnswer(row[0], Answer(row[1], bytes(row[2])), replayed=True)

    async def purge_answers(self, batch: int) -> int:
        async with _translated(), self._connection() as (conn, ends):
            status = await conn.execute(*self._args("purge_answers", {"batch": batch}), timeout=_left(ends))
        return int(status.rsplit(" ", 1)[-1])

    async def get_by_id(self, record_id: str) -> Record | None:
        try:
            uuid.UUID(record_id)
        except ValueError:
            return None
        sql, args = self._call("get_record", {"id": record_id})
        async with _translated():
            row = await self._fetchrow(sql, *args)
        return None if row is None else _record(row)

    async def get_by_user(self, query: RecordQuery, *, with_total: bool) -> tuple[list[Record], int | None]:
        after_id = LAST_ID
        if query.after is not None:
            try:
                after_id = uuid.UUID(query.after.id)
            except ValueError:
                raise InvalidData("the cursor does not name a record of this database") from None
        binds: dict[str, Any] = {
            **_filters(query),
            "after_created_at": FAR_FUTURE if query.after is None else query.after.created_at,
            "after_id": after_id,
            "limit": query.limit,
            "offset": query.offset,
        }
        async with _translated():
            if not with_total:
                rows = await self._fetch(*self._args("list_records", binds))
                return [_record(r) for r in rows], None
            rows = await self._fetch(*self._args("list_records_counted", binds))
            if rows:
                return [_record(r) for r in rows], rows[0]["total"]
            # Past the last page the window count has no row to ride on: count on its own.
            total = await self._fetchval(*self._args("count_records", binds))
        return [], total

    async def estimate(self, query: RecordQuery) -> int | None:
        sql, args = self._call("estimate_records", _filters(query))
        async with _translated():
            plan = await self._fetchval(sql, *args)
        return int(msgspec.json.decode(plan)[0]["Plan"]["Plan Rows"])

    async def export(self, query: RecordQuery, *, batch: int) -> AsyncGenerator[list[Record], None]:
        sql, args = self._call("export_records", _filters(query))
        async with _translated():
            conn = await self.pool.acquire(timeout=self._timeout)
        try:
            # A server-side cursor lives in a transaction: read-only, so it takes no write lock.
            async with _translated(), conn.transaction(readonly=True):
                cursor = await conn.cursor(sql, *args, timeout=self._timeout)
                while rows := await cursor.fetch(batch, timeout=self._timeout):
                    yield [_record(row) for row in rows]
        except (OSError, TimeoutError, asyncpg.InterfaceError, StorageUnavailable):
            conn.terminate()  # its state is not known: closed, not handed back
            raise
        finally:
            await self.pool.release(conn, timeout=self._timeout)

    async def update(self, record: Record, payload: bytes, audit: AuditEntry) -> Record | None:
        sql, args = self._call(
            "update_record",
            {**_change_values(record, audit), "payload": payload.decode()},
        )
        async with _translated():
            row = await self._fetchrow(sql, *args)
        return None if row is None else _record(row)

    async def delete(self, record: Record, audit: AuditEntry) -> bool:
        sql, args = self._call("delete_record", _change_values(record, audit))
        async with _translated():
            return bool(await self._fetchval(sql, *args))

    def pools(self) -> list[PoolUsage]:
        pool = self._pool
        if pool is None:
            return []
        size = pool.get_size()
        return [
            PoolUsage(
                "primary",
                size - pool.get_idle_size(),
                size,
                pool.get_max_size(),
                self._waits,
                self._wait_timeouts,
            )
        ]

    async def ping(self) -> None:
        async with _translated():
            await self._fetchval(self._call("ping", {})[0])

    async def close(self) -> None:
        """Close the pool gracefully within the database timeout; a database that does not
        answer (frozen, cut off) gets its connections dropped instead, so shutdown never hangs."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), self._timeout)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
            pool.terminate()
