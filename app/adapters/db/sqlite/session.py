"""SQLite, the embedded default: WAL mode, one writer thread, a few reader threads.

The stdlib driver blocks, so every call runs in a thread; each use case is one thread hop
(a whole bulk insert included). synchronous=FULL makes an acknowledged write durable. This is
the connections and threads every operation runs on; reads.py, writes.py and keys.py hold the
repository's operations.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec
from msgspec import Raw

from app.adapters.db.binds import ANSWER_BINDS, FILTERS, KEY_BINDS, OFFSET_READ_BINDS, filter_binds
from app.adapters.db.ids import new_id
from app.adapters.db.matching import FOUND_READ_BINDS, found_binds
from app.adapters.db.sqlfiles import Statements
from app.errors import SchemaMissing, StorageConflict, StorageUnavailable
from app.ports.storage import (
    AuditEntry,
    NewRecord,
    PoolUsage,
    RecordQuery,
    RowError,
)
from app.schemas.records import Record

T = TypeVar("T")
BINDS = {
    "insert_record": frozenset({"id", "user_id", "payload", "created_at"}),
    "insert_records": frozenset({"rows", "created_at"}),
    "insert_audit": frozenset({"occurred_at", "actor", "action", "record_id", "owner", "request_id"}),
    "update_record": frozenset({"id", "user_id", "version", "payload", "updated_at"}),
    "delete_record": frozenset({"id", "user_id", "version"}),
    "touch_users": frozenset({"user_ids", "updated_at"}),
    "estimate_records": FILTERS | {"cap"},
    "keep_answer": ANSWER_BINDS | {"now", "expires_at"},
    "kept_answer": KEY_BINDS | {"now"},
    "purge_answers": frozenset({"now", "batch"}),
    **OFFSET_READ_BINDS,
    **FOUND_READ_BINDS,
}
FAR_PAST = "0000-01-01T00:00:00.000000Z"
# count=estimated counts no further than this: SQLite keeps no row estimates to answer with.
ESTIMATE_CAP = 1000
UNKNOWN_OUTCOME = "the write was interrupted; whether it was stored is not known"
encoder = msgspec.json.Encoder()
FAR_FUTURE = "9999-12-31T23:59:59.999999Z"


def sqlite_path(database_url: str) -> str:
    """The file named by sqlite:///relative/path or sqlite:////absolute/path."""
    prefix = "sqlite:///"
    if not database_url.startswith(prefix) or database_url == prefix:
        raise ValueError("an SQLite URL looks like sqlite:///data-service.db")
    path = database_url[len(prefix) :]
    if path == ":memory:":
        raise ValueError("an in-memory SQLite database cannot be shared by the service's threads")
    return path


def to_text(moment: datetime) -> str:
    """A timestamp as the fixed-width UTC text the schema stores."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def connect_sqlite(path: str, *, readonly: bool, timeout: float = 5.0) -> sqlite3.Connection:
    """A connection that waits up to `timeout` for another process's write lock (busy timeout)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=timeout)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    if readonly:
        conn.execute("PRAGMA query_only=ON")
    return conn


@contextmanager
def translated() -> Iterator[None]:
    try:
        yield
    except sqlite3.IntegrityError as exc:
        raise StorageConflict("the record conflicts with one already stored") from exc
    except sqlite3.OperationalError as exc:
        if str(exc).startswith("no such table"):
            raise SchemaMissing() from exc
        busy = getattr(exc, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED")
        raise StorageUnavailable("the database could not complete the request", safe_to_retry=busy) from exc
    except sqlite3.Error as exc:
        # Busy (another process held the write lock past the busy timeout): nothing was written.
        busy = getattr(exc, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED")
        raise StorageUnavailable("the database could not complete the request", safe_to_retry=busy) from exc


def audit_row(row: dict[str, str], audit: AuditEntry) -> dict[str, str]:
    return audit_values("create", row["id"], row["user_id"], audit, row["created_at"])


def audit_values(
    action: str, record_id: str, owner: str, audit: AuditEntry, occurred_at: str
) -> dict[str, str]:
    return {
        "occurred_at": occurred_at,
        "actor": audit.actor,
        "action": action,
        "record_id": record_id,
        "owner": owner,
        "request_id": audit.request_id,
    }


def filters(query: RecordQuery) -> dict[str, object]:
    binds = filter_binds(query, far_past=FAR_PAST, far_future=FAR_FUTURE, moment=to_text)
    return binds if query.plain else {**binds, **found_binds(query, "sqlite")}


def record_of(row: tuple[Any, ...]) -> Record:
    return Record(
        id=row[0],
        user_id=row[1],
        payload=Raw(row[2]),
        created_at=datetime.fromisoformat(row[3]),
        updated_at=datetime.fromisoformat(row[4]),
        version=row[5],
    )


class SqliteSession:
    """The connections and the statements every operation of the repository runs through."""

    def __init__(self, path: str, queries: dict[str, str], *, readers: int = 4, timeout: float = 5.0) -> None:
        self._path = path
        self._timeout = timeout
        self._statements = Statements(queries, BINDS)
        self._reader_count = readers
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all: list[sqlite3.Connection] = []
        self._open = False  # between open() and close(): a call outside is StorageUnavailable
        self._writing = 0  # calls running or waiting on the writer's thread
        self._reading = 0

    async def open(self) -> None:
        """Open the writer and reader connections and their threads."""
        self._writer = connect_sqlite(self._path, readonly=False, timeout=self._timeout)
        self._all = [self._writer]
        for _ in range(self._reader_count):
            conn = connect_sqlite(self._path, readonly=True, timeout=self._timeout)
            self._readers.put(conn)
            self._all.append(conn)
        self._write_pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._read_pool = ThreadPoolExecutor(self._reader_count, thread_name_prefix="sqlite-reader")
        self._open = True

    def _execute(self, conn: sqlite3.Connection, name: str, values: dict[str, Any]) -> sqlite3.Cursor:
        return conn.execute(self._statements.sql[name], self._statements.binds(name, values))

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        if not self._open:
            raise StorageUnavailable("the database is not open")
        loop = asyncio.get_running_loop()
        self._writing += 1
        try:
            return await loop.run_in_executor(self._write_pool, self._run, fn, self._writer, *args)
        finally:
            self._writing -= 1

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        if not self._open:
            raise StorageUnavailable("the database is not open")
        loop = asyncio.get_running_loop()
        self._reading += 1
        try:
            return await loop.run_in_executor(self._read_pool, self._run_reader, fn, *args)
        finally:
            self._reading -= 1

    def pools(self) -> list[PoolUsage]:
        """Calls running or queued on the writer's and the readers' connections."""
        if not self._all:
            return []
        readers = self._reader_count
        return [
            PoolUsage("writer", min(self._writing, 1), 1, 1),
            PoolUsage("readers", min(self._reading, readers), readers, readers),
        ]

    @staticmethod
    def _run(fn: Callable[..., T], conn: sqlite3.Connection, *args: Any) -> T:
        with translated():
            return fn(conn, *args)

    def _run_reader(self, fn: Callable[..., T], *args: Any) -> T:
        conn = self._readers.get()
        try:
            return self._run(fn, conn, *args)
        finally:
            self._readers.put(conn)

    @staticmethod
    def _row(record: NewRecord, created_at: str) -> dict[str, str]:
        return {
            "id": new_id(),
            "user_id": record.user_id,
            "payload": record.payload.decode("utf-8"),
            "created_at": created_at,
        }

    def _each_row(
        self, conn: sqlite3.Connection, rows: list[dict[str, str]], audit: AuditEntry
    ) -> tuple[dict[int, str], list[RowError]]:
        """Each row in a savepoint of the open transaction: the stored and the refused."""
        stored: dict[int, str] = {}
        refused: list[RowError] = []
        for i, row in enumerate(rows):
            conn.execute("SAVEPOINT bulk_row")
            try:
                self._execute(conn, "insert_record", row)
                self._execute(conn, "insert_audit", audit_row(row, audit))
                conn.execute("RELEASE bulk_row")
                stored[i] = row["id"]
            except sqlite3.IntegrityError as exc:
                conn.execute("ROLLBACK TO bulk_row")
                conn.execute("RELEASE bulk_row")
                refused.append(RowError(i, f"refused by the database: {exc.sqlite_errorname}"))
        return stored, refused

    async def position(self) -> int:
        def read(conn: sqlite3.Connection) -> int:
            return int(self._execute(conn, "position", {}).fetchone()[0])

        return await self._read(read)

    async def history(self) -> str | None:
        def read(conn: sqlite3.Connection) -> str | None:
            found = self._execute(conn, "history", {}).fetchone()[0]
            return None if found is None else str(found)

        return await self._read(read)

    async def ping(self) -> None:
        def select_one(conn: sqlite3.Connection) -> None:
            self._execute(conn, "ping", {}).fetchone()

        await self._read(select_one)

    async def close(self) -> None:
        if not self._open:
            return
        self._open = False
        self._write_pool.shutdown(wait=True)
        self._read_pool.shutdown(wait=True)
        for conn in self._all:
            conn.close()
