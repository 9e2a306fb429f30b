"""PostgreSQL through asyncpg: the pool, its connections within the deadline's budget, the
statements from sql/postgres/ and the translation of asyncpg's errors. reads.py, writes.py and
keys.py hold the repository's operations on top of it.

asyncpg, because it was measured faster than psycopg 3 on both the bulk and the single insert
(bench/pg_drivers.py; docs/performance.md, "The database driver", has the figures).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Sequence
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from app.adapters.db.postgres.plans import LARGE_ROWS, LargeUsers
from app.adapters.db.postgres.statements import BINDS, insert_values, translated
from app.adapters.db.sqlfiles import Statements, to_numbered
from app.concurrency import Coalescer
from app.errors import StorageUnavailable
from app.ports.storage import (
    AuditEntry,
    BulkOutcome,
    NewRecord,
    PoolUsage,
    RowError,
)
from app.resilience import deadline
from app.tallies import WAIT_BUCKETS, Spread

# How long a request waits for another holding its idempotency key uncommitted: then 409.
KEY_WAIT_MS = 1000


async def _keep_session(connection: asyncpg.Connection) -> None:
    """The pool's reset on release. asyncpg's default runs one more statement per call (RESET ALL,
    UNLISTEN, CLOSE ALL, advisory unlocks); this service's statements leave no such state, and
    asyncpg still rolls back a transaction left open before calling this."""


def left(ends: float) -> float:
    return max(0.001, ends - time.monotonic())


class KeyTaken(Exception):
    """The idempotency key holds an answer already: this transaction is rolled back."""


class RolledBack(Exception):
    """Raised inside a transaction to roll it back and answer `outcome` anyway."""

    def __init__(self, outcome: BulkOutcome) -> None:
        self.outcome = outcome


class _Borrowed:
    """One call's pooled connection (PostgresSession._connection): a class rather than a
    generator (contextlib.asynccontextmanager), a microsecond less on every statement."""

    __slots__ = ("_conn", "_ends", "_session")

    def __init__(self, session: PostgresSession) -> None:
        self._session = session

    async def __aenter__(self) -> tuple[PoolConnectionProxy[asyncpg.Record], float]:
        self._conn, self._ends = await self._session._acquire()
        return self._conn, self._ends

    async def __aexit__(self, kind: object, exc: BaseException | None, trace: object) -> None:
        try:
            if isinstance(exc, OSError | TimeoutError | asyncpg.InterfaceError):
                self._conn.terminate()
        finally:
            await self._session.pool.release(self._conn, timeout=left(self._ends))


class PostgresSession:
    """The pool and the statements every operation of the repository runs through."""

    def __init__(
        self,
        dsn: str,
        queries: dict[str, str],
        *,
        min_size: int,
        max_size: int,
        timeout: float,
        pooled: bool = False,
    ) -> None:
        self._dsn = dsn
        self._numbered = {name: to_numbered(sql) for name, sql in Statements(queries, BINDS).sql.items()}
        self._min_size = min_size
        self._max_size = max_size
        self._timeout = timeout
        self._pool: asyncpg.Pool | None = None
        self._pooled = pooled  # behind PgBouncer in transaction mode
        self._statement_ms = math.ceil(timeout * 1000)
        self._set_limits = (
            f"SET LOCAL statement_timeout = {self._statement_ms}; SET LOCAL lock_timeout = {KEY_WAIT_MS}"
        )
        self._waits = Spread(WAIT_BUCKETS)
        self._wait_timeouts = 0
        self._large = LargeUsers(self._large_users)

    async def open(self) -> None:
        """Open the pool (fixed bounds, every call under the command timeout).

        Behind PgBouncer in transaction mode (`pooled`) a server connection is this client's only
        within a transaction: no statement is kept prepared between transactions (asyncpg's cache
        off: its unnamed statements are parsed, bound and run before the pooler hands the server
        on), and the timeouts are set in each transaction the service opens (SET LOCAL) instead
        of at connect, where PgBouncer refuses them and where they would stay with a server
        connection others then use. A single statement outside a transaction is bounded by the
        client's timeout (asyncpg's cancel goes through the pooler) and by the role's own
        statement_timeout, which the DBA sets (docs/deploy.md)."""
        # pg_stat_activity and the server's logs name the service's sessions.
        settings = {"application_name": "data-service"}
        if not self._pooled:
            # The server gives up on a statement when the client does (the client's timeout
            # cancels it too, but a lost cancel request would leave it running).
            settings |= {"lock_timeout": str(KEY_WAIT_MS), "statement_timeout": str(self._statement_ms)}
        async with translated():
            self._pool = await asyncpg.create_pool(
                self._dsn,
                min_size=self._min_size,
                max_size=self._max_size,
                command_timeout=self._timeout,
                timeout=self._timeout,
                reset=_keep_session,
                server_settings=settings,
                statement_cache_size=0 if self._pooled else 100,
            )
        if not self._pooled:  # behind PgBouncer every statement is planned with its values
            await self._large.start()

    async def limits(self, conn: PoolConnectionProxy[asyncpg.Record]) -> None:
        """In a transaction behind PgBouncer: the statement and lock timeouts that a direct
        connection sets once, at connect (one round trip; none on a direct connection)."""
        if self._pooled:
            await conn.execute(self._set_limits)

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
    def _connection(self) -> _Borrowed:
        """A pooled connection and the time (monotonic) its statements must be done by.

        When no connection can be made (refused, reset, the server starting or stopping), nothing
        was sent: that failure is safe to retry. Waiting out the timeout for a free connection is
        not retried (the database is most likely frozen). A connection whose statement timed out
        or broke is closed, not handed back: its state is not known."""
        return _Borrowed(self)

    async def _acquire(self) -> tuple[PoolConnectionProxy[asyncpg.Record], float]:
        allowed = max(0.001, deadline.budget(self._timeout))
        asked = time.monotonic()
        try:
            conn = await self.pool.acquire(timeout=allowed)
        except TimeoutError:
            self._wait_timeouts += 1
            raise
        except (OSError, asyncpg.CannotConnectNowError, asyncpg.ConnectionDoesNotExistError) as exc:
            raise StorageUnavailable("the database could not be reached", safe_to_retry=True) from exc
        self._waits.observe(time.monotonic() - asked)
        return conn, asked + allowed

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with self._connection() as (conn, ends):
            return await conn.fetch(sql, *args, timeout=left(ends))

    async def _fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        async with self._connection() as (conn, ends):
            return await conn.fetchrow(sql, *args, timeout=left(ends))

    async def _fetch_planned(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        """As _fetch, through an unnamed statement, which PostgreSQL plans with its values every
        time: a named one gets a generic plan after five runs, and for find_records' optional
        filters (`:match IS NULL OR ...`) a generic plan cannot use the filter's index (a search
        for one record read all of a user's 50,000: 1 ms became 130 ms)."""
        async with self._connection() as (conn, ends):
            prepare: Any = conn.prepare  # name=False: unnamed, which asyncpg's stubs do not say
            statement = await prepare(sql, name=False, timeout=left(ends))
            return list(await statement.fetch(*args, timeout=left(ends)))

    def _planned_for(self, user_id: str) -> bool:
        """Whether a list of this user's is planned with its values (plans.py)."""
        return user_id in self._large.users

    async def _large_users(self) -> frozenset[str]:
        sql, args = self._call("large_users", {"records": "data_records", "rows": LARGE_ROWS})
        async with translated():
            return frozenset(row[0] for row in await self._fetch(sql, *args))

    async def _fetchval(self, sql: str, *args: Any) -> Any:
        async with self._connection() as (conn, ends):
            return await conn.fetchval(sql, *args, timeout=left(ends))

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

    async def position(self) -> int:
        async with translated():
            return int(await self._fetchval(self._call("position", {})[0]))

    async def ping(self) -> None:
        async with translated():
            await self._fetchval(self._call("ping", {})[0])

    async def history(self) -> str | None:
        async with translated():
            found = await self._fetchval(self._call("history", {})[0])
        return None if found is None else str(found)

    async def close(self) -> None:
        """Close the pool gracefully within the database timeout; a database that does not
        answer (frozen, cut off) gets its connections dropped instead, so shutdown never hangs."""
        await self._large.close()
        # Statements shared by several callers (together.py: reads together, group commits) may
        # outlive callers whose deadlines passed: done first, while they can still hand their
        # connections back.
        ends = time.monotonic() + self._timeout  # the two waits together
        shared = [held for held in vars(self).values() if isinstance(held, Coalescer)]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(c.settled() for c in shared)), self._timeout)
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), left(ends))
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
            pool.terminate()

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
            sql, args = self._call("insert_record", insert_values(record, record_id, audit))
            try:
                async with conn.transaction():
                    await conn.fetchrow(sql, *args, timeout=left(ends))
                stored[i] = record_id
            except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
                refused.append(RowError(i, f"refused by the database: {exc.sqlstate}"))
        return stored, refused
