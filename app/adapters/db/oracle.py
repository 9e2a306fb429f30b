"""Oracle Database through python-oracledb's async API (thin mode: no client libraries).

The pool is fixed in size (min = max), waits a bounded time for a free connection, pings idle
connections before handing them out, and every call runs under a call timeout. Statements come
from sql/oracle/; bulk operations and the allow-listed procedures (oracle_procedures.py) from
the PL/SQL package in plsql/.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import oracledb
from msgspec import Raw

from app.adapters.db.binds import ANSWER_BINDS, FILTERS, KEY_BINDS, filter_binds
from app.adapters.db.oracle_procedures import call_procedure, check_call
from app.adapters.db.oracle_target import OracleTarget
from app.adapters.db.sqlfiles import Statements
from app.errors import InvalidData, NotFound, ServiceError, StorageConflict, StorageUnavailable
from app.observability import context
from app.ports.storage import (
    Answer,
    AuditEntry,
    BulkOutcome,
    IdempotencyKey,
    KeptAnswer,
    NewRecord,
    PoolUsage,
    RecordQuery,
    RowError,
)
from app.resilience import deadline
from app.schemas.records import Record
from app.tallies import WAIT_BUCKETS, Spread

# LOBs (the serialized payload) arrive as str, not as LOB locators needing another round trip.
oracledb.defaults.fetch_lobs = False

BINDS = {
    "insert_record": frozenset({"user_id", "payload", "id", "created_at", "updated_at"}),
    "insert_records": frozenset({"id", "user_id", "payload"}),
    "insert_audit": frozenset({"actor", "action", "record_id", "owner", "request_id"}),
    "get_record": frozenset({"id"}),
    "export_records": FILTERS,
    "estimate_records": frozenset(),
    "update_record": frozenset({"id", "version", "payload", "updated_at", "new_version"}),
    "delete_record": frozenset({"id", "version"}),
    "list_records": FILTERS | {"after_created_at", "after_id", "limit"},
    "list_records_counted": FILTERS | {"first_row", "last_row"},
    "count_records": FILTERS,
    "ping": frozenset(),
    "maintain_partitions": frozenset(),
    "keep_answer": ANSWER_BINDS | {"ttl_seconds"},
    "kept_answer": KEY_BINDS,
    "purge_answers": frozenset({"batch"}),
}
FAR_PAST = datetime(1, 1, 1)
FAR_FUTURE = datetime(9999, 12, 31, 23, 59, 59, 999999)
LAST_ID = "G" * 32  # sorts after every hex id
MODULE = "data-service"  # V$SESSION.MODULE of the service's sessions
POOL_TIMEOUT = "DPY-4005"  # no pooled connection came free within the wait timeout
VALUE_TOO_LARGE = frozenset({"ORA-12899", "ORA-01401", "ORA-40478"})
REFUSED_VALUE = frozenset({"ORA-02290", "ORA-01400", "ORA-40441", "ORA-01722", "ORA-01858", "ORA-40596"})


# Failures known to have changed nothing, which the guarded repository may try again: no
# connection could be made (the listener refused, the service is not registered, the instance
# is starting or stopping), or Oracle rolled the statement back (a deadlock, a serialization
# failure). A call timeout (DPY-4024) or a connection lost mid-call (DPY-4011, ORA-03113) is
# not: the statement went out, and its outcome is not known.
NOTHING_CHANGED = frozenset(
    {"DPY-6005", "ORA-12514", "ORA-12520", "ORA-12528", "ORA-12541", "ORA-00060", "ORA-08177"}
)


def error_for(full_code: str) -> ServiceError:
    """The service's own error for an Oracle or driver error code (ORA-00001, DPY-4011 ...)."""
    if full_code == "ORA-00001":
        return StorageConflict("the record conflicts with one already stored")
    if full_code in VALUE_TOO_LARGE:
        return InvalidData("a value is too large for its column")
    if full_code in REFUSED_VALUE:
        return InvalidData("the database refused a value")
    if full_code == "ORA-01403":
        return NotFound("no such record")
    if full_code in NOTHING_CHANGED:
        return StorageUnavailable("the database could not complete the request", safe_to_retry=True)
    return StorageUnavailable("the database could not complete the request")


def _code(exc: oracledb.Error) -> str:
    error = exc.args[0] if exc.args else None
    return getattr(error, "full_code", "") or ""


def _clip(text: str, most_bytes: int) -> str:
    return text.encode()[:most_bytes].decode(errors="ignore")


def tag_session(conn: Any) -> None:
    """Name the pooled session after the request it now serves, so that a DBA can tie
    V$SESSION, AWR and audit rows to it: module `data-service`, action the route
    (`GET /data/{id}`), client identifier the user, execution context id the request id.
    Set on every acquire, to empty values outside of a request: a pooled session keeps what
    its last user set. The driver sends them with the next round trip (no call of their own)."""
    conn.module = MODULE
    conn.action = _clip(context.operation(), 32)
    conn.client_identifier = _clip(context.charged_user() or "", 64)
    conn.econtext_id = _clip(context.request_id() or "", 64)


@asynccontextmanager
async def translated() -> AsyncIterator[None]:
    try:
        yield
    except oracledb.Error as exc:
        raise error_for(_code(exc)) from exc
    except (OSError, TimeoutError) as exc:
        raise StorageUnavailable("the database could not be reached") from exc


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC)


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _record(row: Sequence[Any]) -> Record:
    return Record(
        id=row[0],
        user_id=row[1],
        payload=Raw(row[2]),
        created_at=_utc(row[3]),
        updated_at=_utc(row[4]),
        version=int(row[5]),
    )


class OracleRecordRepository:
    """RecordRepository on Oracle Database 19c or newer."""

    def __init__(
        self,
        url: str,
        queries: dict[str, str],
        *,
        pool_size: int,
        timeout: float,
        bulk_path: str = "array_dml",
    ) -> None:
        self._target = OracleTarget.from_url(url)
        self._statements = Statements(queries, BINDS)
        self._pool_size = pool_size
        self._timeout_ms = int(timeout * 1000)
        if bulk_path not in ("array_dml", "plsql"):
            raise ValueError("the Oracle bulk path is array_dml or plsql")
        self._bulk_path = bulk_path
        self._pool: oracledb.AsyncConnectionPool | None = None
        self._waits = Spread(WAIT_BUCKETS)
        self._wait_timeouts = 0

    async def open(self) -> None:
        """Create the fixed-size pool; connections are made in the background."""
        target = self._target
        self._pool = oracledb.create_pool_async(
            user=target.user,
            password=target.password,
            host=target.host,
            port=target.port,
            service_name=target.service_name,
            min=self._pool_size,
            max=self._pool_size,
            increment=0,
            getmode=oracledb.POOL_GETMODE_TIMEDWAIT,
            wait_timeout=self._timeout_ms,
            ping_interval=60,
            tcp_connect_timeout=self._timeout_ms / 1000,
        )

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[oracledb.AsyncConnection]:
        if self._pool is None:
            raise StorageUnavailable("the database pool is not open")
        async with translated():
            asked = time.monotonic()
            try:
                conn = await self._pool.acquire()
            except oracledb.Error as exc:
                if _code(exc) == POOL_TIMEOUT:
                    self._wait_timeouts += 1
                raise
            self._waits.observe(time.monotonic() - asked)
            async with conn:  # leaving it hands the session back to the pool
                tag_session(conn)
                # Each round trip within the timeout, or what is left of the request's deadline.
                conn.call_timeout = max(1, int(deadline.budget(self._timeout_ms / 1000) * 1000))
                yield conn

    def _sql(self, name: str) -> str:
        return self._statements.sql[name]

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
        out = {
            "id": cursor.var(str),
            "created_at": cursor.var(oracledb.DB_TYPE_TIMESTAMP),
            "updated_at": cursor.var(oracledb.DB_TYPE_TIMESTAMP),
        }
        cursor.setinputsizes(payload=oracledb.DB_TYPE_CLOB)
        values = {"user_id": record.user_id, "payload": record.payload.decode(), **out}
        await cursor.execute(self._sql("insert_record"), self._statements.binds("insert_record", values))
        record_id = out["id"].getvalue()[0]
        await conn.execute(self._sql("insert_audit"), self._audit(record_id, record.user_id, audit))
        created, updated = out["created_at"].getvalue()[0], out["updated_at"].getvalue()[0]
        return Record(
            id=record_id,
            user_id=record.user_id,
            payload=Raw(record.payload),
            created_at=_utc(created),
            updated_at=_utc(updated),
        )

    def _audit(self, record_id: str, owner: str, audit: AuditEntry, action: str = "create") -> dict[str, Any]:
        return self._statements.binds(
            "insert_audit",
            {
                "actor": audit.actor,
                "action": action,
                "record_id": record_id,
                "owner": owner,
                "request_id": audit.request_id,
            },
        )

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

    async def _insert_with_array_dml(
        self, conn: oracledb.AsyncConnection, records: Sequence[NewRecord]
    ) -> tuple[dict[int, str], list[RowError]]:
        ids = [uuid.uuid4().hex.upper() for _ in records]
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

    async def get_by_id(self, record_id: str) -> Record | None:
        if len(record_id) != 32:
            return None
        async with self._connection() as conn:
            row = await conn.fetchone(self._sql("get_record"), {"id": record_id.upper()})
        return None if row is None else _record(row)

    async def estimate(self, query: RecordQuery) -> int | None:
        async with self._connection() as conn:
            row = await conn.fetchone(self._sql("estimate_records"))
        return None if row is None or row[0] is None else int(row[0])

    async def export(self, query: RecordQuery, *, batch: int) -> AsyncGenerator[list[Record], None]:
        async with self._connection() as conn:
            conn.call_timeout = self._timeout_ms  # each round trip, whatever the request's deadline
            cursor = conn.cursor()
            cursor.arraysize = cursor.prefetchrows = batch
            await cursor.execute(
                self._sql("export_records"), self._statements.binds("export_records", self._filters(query))
            )
            while rows := await cursor.fetchmany(batch):
                yield [_record(row) for row in rows]

    async def update(self, record: Record, payload: bytes, audit: AuditEntry) -> Record | None:
        async with self._connection() as conn:
            cursor = conn.cursor()
            out = {
                "updated_at": cursor.var(oracledb.DB_TYPE_TIMESTAMP),
                "new_version": cursor.var(int),
            }
            cursor.setinputsizes(payload=oracledb.DB_TYPE_CLOB)
            values = {"id": record.id, "version": record.version, "payload": payload.decode(), **out}
            if not await self._changed(conn, cursor, "update_record", values, record, audit, "update"):
                return None
        return Record(
            id=record.id,
            user_id=record.user_id,
            payload=Raw(payload),
            created_at=record.created_at,
            updated_at=_utc(out["updated_at"].getvalue()[0]),
            version=int(out["new_version"].getvalue()[0]),
        )

    async def delete(self, record: Record, audit: AuditEntry) -> bool:
        async with self._connection() as conn:
            values = {"id": record.id, "version": record.version}
            return await self._changed(conn, conn.cursor(), "delete_record", values, record, audit, "delete")

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

    async def get_by_user(self, query: RecordQuery, *, with_total: bool) -> tuple[list[Record], int | None]:
        values: dict[str, Any] = {
            **self._filters(query),
            "after_created_at": FAR_FUTURE if query.after is None else _naive_utc(query.after.created_at),
            "after_id": LAST_ID if query.after is None else query.after.id,
            "limit": query.limit,
            "first_row": query.offset,
            "last_row": query.offset + query.limit,
        }
        async with self._connection() as conn:
            if not with_total:
                rows = await conn.fetchall(
                    self._sql("list_records"), self._statements.binds("list_records", values)
                )
                return [_record(r) for r in rows], None
            rows = await conn.fetchall(
                self._sql("list_records_counted"), self._statements.binds("list_records_counted", values)
            )
            if rows:
                return [_record(r) for r in rows], int(rows[0][6])
            total = await conn.fetchone(
                self._sql("count_records"), self._statements.binds("count_records", values)
            )
        return [], int(total[0]) if total else 0

    @staticmethod
    def _filters(query: RecordQuery) -> dict[str, object]:
        return filter_binds(query, far_past=FAR_PAST, far_future=FAR_FUTURE, moment=_naive_utc)

    async def execute_plsql_procedure(
        self, name: str, params: dict[str, Any], audit: AuditEntry
    ) -> dict[str, Any]:
        """Call an allow-listed procedure of the PL/SQL package (PlsqlProcedures)."""
        checked = check_call(name, params)
        async with self._connection() as conn:
            outs = await call_procedure(conn, name, checked, params, audit)
            await conn.commit()
        return outs

    def pools(self) -> list[PoolUsage]:
        pool = self._pool
        if pool is None:
            return []
        return [PoolUsage("primary", pool.busy, pool.opened, pool.max, self._waits, self._wait_timeouts)]

    async def ping(self) -> None:
        async with self._connection() as conn:
            await conn.ping()
            await conn.fetchone(self._sql("ping"))

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close(force=True)
            self._pool = None
