"""Oracle Database through python-oracledb's async API (thin mode: no client libraries).

The pool is fixed in size (min = max), waits a bounded time for a free connection, pings idle
connections before handing them out, and every call runs under a call timeout. Statements come
from sql/oracle/; bulk operations and touch_users (POST /procedures/touch_users) call the
PL/SQL package in plsql/. This is the pool, the statements and the errors' translation;
reads.py, writes.py and keys.py hold the repository's operations.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import oracledb
from msgspec import Raw

from app.adapters.db.binds import ANSWER_BINDS, FILTERS, KEY_BINDS, filter_binds
from app.adapters.db.matching import FOUND_READ_BINDS, found_binds
from app.adapters.db.oracle_target import OracleTarget
from app.adapters.db.sqlfiles import Statements
from app.errors import InvalidData, NotFound, SchemaMissing, ServiceError, StorageConflict, StorageUnavailable
from app.observability import context
from app.ports.storage import (
    AuditEntry,
    PoolUsage,
    RecordQuery,
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
    "update_record": frozenset({"id", "user_id", "version", "payload", "updated_at", "new_version"}),
    "delete_record": frozenset({"id", "user_id", "version"}),
    "touch_users": frozenset({"user_ids", "actor", "request_id", "touched"}),
    "list_records": FILTERS | {"after_created_at", "after_id", "limit"},
    "list_records_counted": FILTERS | {"first_row", "last_row"},
    "count_records": FILTERS,
    "ping": frozenset(),
    "position": frozenset(),
    "history": frozenset(),
    "maintain_partitions": frozenset(),
    "keep_answer": ANSWER_BINDS | {"ttl_seconds"},
    "kept_answer": KEY_BINDS,
    "purge_answers": frozenset({"batch"}),
    **FOUND_READ_BINDS,
    # Page mode, the ROWNUM way, as list_records_counted.
    "find_records_counted": FOUND_READ_BINDS["find_records_counted"] - {"limit", "offset"}
    | {"first_row", "last_row"},
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
    if full_code == "ORA-00942":  # table or view does not exist
        return SchemaMissing()
    if full_code in NOTHING_CHANGED:
        return StorageUnavailable("the database could not complete the request", safe_to_retry=True)
    return StorageUnavailable("the database could not complete the request")


def error_code(exc: oracledb.Error) -> str:
    error = exc.args[0] if exc.args else None
    return getattr(error, "full_code", "") or ""


def clip(text: str, most_bytes: int) -> str:
    return text.encode()[:most_bytes].decode(errors="ignore")


def tag_session(conn: Any) -> None:
    """Name the pooled session after the request it now serves, so that a DBA can tie
    V$SESSION, AWR and audit rows to it: module `data-service`, action the route
    (`GET /data/{id}`), client identifier the user, execution context id the request id.
    Set on every acquire, to empty values outside of a request: a pooled session keeps what
    its last user set. The driver sends them with the next round trip (no call of their own)."""
    conn.module = MODULE
    conn.action = clip(context.operation(), 32)
    conn.client_identifier = clip(context.charged_user() or "", 64)
    conn.econtext_id = clip(context.request_id() or "", 64)


@asynccontextmanager
async def translated() -> AsyncIterator[None]:
    try:
        yield
    except oracledb.Error as exc:
        raise error_for(error_code(exc)) from exc
    except (OSError, TimeoutError) as exc:
        raise StorageUnavailable("the database could not be reached") from exc


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC)


def naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def record_of(row: Sequence[Any]) -> Record:
    return Record(
        id=row[0],
        user_id=row[1],
        payload=Raw(row[2]),
        created_at=utc(row[3]),
        updated_at=utc(row[4]),
        version=int(row[5]),
    )


class OracleSession:
    """The connections and the statements every operation of the repository runs through."""

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
                if error_code(exc) == POOL_TIMEOUT:
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

    @staticmethod
    def _filters(query: RecordQuery) -> dict[str, object]:
        binds = filter_binds(query, far_past=FAR_PAST, far_future=FAR_FUTURE, moment=naive_utc)
        if query.plain:
            return binds
        found = found_binds(query, "oracle")
        # Flags as numbers: SQL has no BOOLEAN before 23ai.
        return {**binds, **{k: int(v) if isinstance(v, bool) else v for k, v in found.items()}}

    def pools(self) -> list[PoolUsage]:
        pool = self._pool
        if pool is None:
            return []
        return [PoolUsage("primary", pool.busy, pool.opened, pool.max, self._waits, self._wait_timeouts)]

    async def position(self) -> int:
        async with self._connection() as conn:
            row = await conn.fetchone(self._sql("position"))
        return int(row[0])

    async def history(self) -> str | None:
        async with self._connection() as conn:
            row = await conn.fetchone(self._sql("history"))
        return None if row is None or row[0] is None else str(row[0])

    async def ping(self) -> None:
        async with self._connection() as conn:
            await conn.ping()
            await conn.fetchone(self._sql("ping"))

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close(force=True)
            self._pool = None
