"""SQLite, the embedded default: WAL mode, one writer thread, a few reader threads.

The stdlib driver blocks, so every call runs in a thread; each use case is one thread hop
(a whole bulk insert included). synchronous=FULL makes an acknowledged write durable.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import uuid
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import msgspec
from msgspec import Raw

from app.adapters.db.binds import ANSWER_BINDS, FILTERS, KEY_BINDS, OFFSET_READ_BINDS, filter_binds
from app.adapters.db.sqlfiles import Statements
from app.concurrency import Coalescer
from app.errors import StorageConflict, StorageUnavailable
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
from app.schemas.records import Record

T = TypeVar("T")
BINDS = {
    "insert_record": frozenset({"id", "user_id", "payload", "created_at"}),
    "insert_records": frozenset({"rows", "created_at"}),
    "insert_audit": frozenset({"occurred_at", "actor", "action", "record_id", "owner", "request_id"}),
    "update_record": frozenset({"id", "version", "payload", "updated_at"}),
    "delete_record": frozenset({"id", "version"}),
    "estimate_records": FILTERS | {"cap"},
    "keep_answer": ANSWER_BINDS | {"now", "expires_at"},
    "kept_answer": KEY_BINDS | {"now"},
    "purge_answers": frozenset({"now", "batch"}),
    **OFFSET_READ_BINDS,
}
FAR_PAST = "0000-01-01T00:00:00.000000Z"
# count=estimated counts no further than this: SQLite keeps no row estimates to answer with.
ESTIMATE_CAP = 1000
UNKNOWN_OUTCOME = "the write was interrupted; whether it was stored is not known"
_encoder = msgspec.json.Encoder()
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
def _translated() -> Iterator[None]:
    try:
        yield
    except sqlite3.IntegrityError as exc:
        raise StorageConflict("the record conflicts with one already stored") from exc
    except sqlite3.Error as exc:
        # Busy (another process held the write lock past the busy timeout): nothing was written.
        busy = getattr(exc, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED")
        raise StorageUnavailable("the database could not complete the request", safe_to_retry=busy) from exc


def _audit_row(row: dict[str, str], audit: AuditEntry) -> dict[str, str]:
    return _audit_values("create", row["id"], row["user_id"], audit, row["created_at"])


def _audit_values(
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


def _filters(query: RecordQuery) -> dict[str, object]:
    return filter_binds(query, far_past=FAR_PAST, far_future=FAR_FUTURE, moment=to_text)


def _record(row: tuple[Any, ...]) -> Record:
    return Record(
        id=row[0],
        user_id=row[1],
        payload=Raw(row[2]),
        created_at=datetime.fromisoformat(row[3]),
        updated_at=datetime.fromisoformat(row[4]),
        version=row[5],
    )


class SqliteRecordRepository:
    """RecordRepository on one SQLite file."""

    def __init__(self, path: str, queries: dict[str, str], *, readers: int = 4, timeout: float = 5.0) -> None:
        self._path = path
        self._timeout = timeout
        self._statements = Statements(queries, BINDS)
        self._reader_count = readers
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all: list[sqlite3.Connection] = []
        self._writing = 0  # calls running or waiting on the writer's thread
        self._reading = 0
        # Group commit: while one transaction commits (and waits for its fsync), the creates
        # that arrive gather for the next; each is acknowledged once its own has committed.
        self._group: Coalescer[tuple[dict[str, str], AuditEntry], None] = Coalescer(
            self._commit_group, lost=lambda: StorageUnavailable(UNKNOWN_OUTCOME), one_at_a_time=True
        )

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

    def _execute(self, conn: sqlite3.Connection, name: str, values: dict[str, Any]) -> sqlite3.Cursor:
        return conn.execute(self._statements.sql[name], self._statements.binds(name, values))

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        self._writing += 1
        try:
            return await loop.run_in_executor(self._write_pool, self._run, fn, self._writer, *args)
        finally:
            self._writing -= 1

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
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
        with _translated():
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
            "id": str(uuid.uuid4()),
            "user_id": record.user_id,
            "payload": record.payload.decode("utf-8"),
            "created_at": created_at,
        }

    async def create(self, record: NewRecord, audit: AuditEntry) -> Record:
        row = self._row(record, to_text(datetime.now(UTC)))
        await self._group((row, audit))
        moment = datetime.fromisoformat(row["created_at"])
        return Record(
            id=row["id"],
            user_id=record.user_id,
            payload=Raw(record.payload),
            created_at=moment,
            updated_at=moment,
        )

    async def _commit_group(self, group: list[tuple[dict[str, str], AuditEntry]]) -> list[Exception | None]:
        return await self._write(self._insert_group, group)

    def _insert_group(
        self, conn: sqlite3.Connection, group: list[tuple[dict[str, str], AuditEntry]]
    ) -> list[Exception | None]:
        """Each create in its own savepoint, so one refused row fails only its own request."""
        outcomes: list[Exception | None] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for row, audit in group:
                conn.execute("SAVEPOINT one_create")
                try:
                    self._execute(conn, "insert_record", row)
                    self._execute(conn, "insert_audit", _audit_row(row, audit))
                    conn.execute("RELEASE one_create")
                    outcomes.append(None)
                except sqlite3.IntegrityError as exc:
                    conn.execute("ROLLBACK TO one_create")
                    conn.execute("RELEASE one_create")
                    conflict = StorageConflict("the record conflicts with one already stored")
                    conflict.__cause__ = exc
                    outcomes.append(conflict)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return outcomes

    async def create_many(
        self, records: Sequence[NewRecord], *, all_or_nothing: bool, audit: AuditEntry
    ) -> BulkOutcome:
        now = to_text(datetime.now(UTC))
        rows = [self._row(r, now) for r in records]
        return await self._write(self._insert_many, rows, all_or_nothing, audit)

    def _insert_many(
        self, conn: sqlite3.Connection, rows: list[dict[str, str]], all_or_nothing: bool, audit: AuditEntry
    ) -> BulkOutcome:
        as_json = _encoder.encode([[r["id"], r["user_id"], Raw(r["payload"])] for r in rows]).decode()
        audit_sql = self._statements.sql["insert_audit"]
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._execute(conn, "insert_records", {"rows": as_json, "created_at": rows[0]["created_at"]})
            conn.executemany(audit_sql, [_audit_row(r, audit) for r in rows])
            conn.execute("COMMIT")
            return BulkOutcome(stored={i: r["id"] for i, r in enumerate(rows)}, refused=[])
        except sqlite3.IntegrityError:
            conn.execute("ROLLBACK")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        # Some row broke a constraint: go row by row to tell the client which.
        conn.execute("BEGIN IMMEDIATE")
        try:
            stored, refused = self._each_row(conn, rows, audit)
            if all_or_nothing and refused:
                conn.execute("ROLLBACK")
                return BulkOutcome(stored={}, refused=refused)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return BulkOutcome(stored=stored, refused=refused)

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
                self._execute(conn, "insert_audit", _audit_row(row, audit))
                conn.execute("RELEASE bulk_row")
                stored[i] = row["id"]
            except sqlite3.IntegrityError as exc:
                conn.execute("ROLLBACK TO bulk_row")
                conn.execute("RELEASE bulk_row")
                refused.append(RowError(i, f"refused by the database: {exc.sqlite_errorname}"))
        return stored, refused

    # Idempotency keys: the records and the answer in one transaction, on the one writer
    # connection, so a second request with the key runs after the first has committed, finds the
    # key kept, rolls its own records back and answers with the kept answer.
    async def create_once(
        self, key: IdempotencyKey, record: NewRecord, audit: AuditEntry, respond: Callable[[Record], Answer]
    ) -> KeptAnswer:
        now = datetime.now(UTC)
        row = self._row(record, to_text(now))

        def store(conn: sqlite3.Connection) -> Answer:
            self._execute(conn, "insert_record", row)
            self._execute(conn, "insert_audit", _audit_row(row, audit))
            moment = datetime.fromisoformat(row["created_at"])
            return respond(
                Record(
                    id=row["id"],
                    user_id=record.user_id,
                    payload=Raw(record.payload),
                    created_at=moment,
                    updated_at=moment,
                )
            )

        return await self._write(self._once, key, now, store)

    async def create_many_once(
        self,
        key: IdempotencyKey,
        records: Sequence[NewRecord],
        *,
        all_or_nothing: bool,
        audit: AuditEntry,
        respond: Callable[[BulkOutcome], Answer],
    ) -> KeptAnswer:
        now = datetime.now(UTC)
        rows = [self._row(r, to_text(now)) for r in records]

        def store(conn: sqlite3.Connection) -> Answer:
            stored, refused = self._each_row(conn, rows, audit)
            return respond(BulkOutcome(stored={} if all_or_nothing and refused else stored, refused=refused))

        return await self._write(self._once, key, now, store)

    def _once(
        self,
        conn: sqlite3.Connection,
        key: IdempotencyKey,
        now: datetime,
        store: Callable[[sqlite3.Connection], Answer],
    ) -> KeptAnswer:
        binds = {"scope": key.scope, "idem_key": key.key, "now": to_text(now)}
        conn.execute("BEGIN IMMEDIATE")
        try:
            answer = store(conn)
            kept = self._execute(
                conn,
                "keep_answer",
                {
                    **binds,
                    "fingerprint": key.fingerprint,
                    "status": answer.status,
                    "body": answer.body,
                    "expires_at": to_text(now + timedelta(seconds=key.ttl_seconds)),
                },
            ).fetchone()
            if kept is not None:
                conn.execute("COMMIT")
                return KeptAnswer(key.fingerprint, answer, replayed=False)
            conn.execute("ROLLBACK")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        row = self._execute(conn, "kept_answer", binds).fetchone()
        return KeptAnswer(row[0], Answer(row[1], bytes(row[2])), replayed=True)

    async def purge_answers(self, batch: int) -> int:
        def purge(conn: sqlite3.Connection) -> int:
            now = to_text(datetime.now(UTC))
            return int(self._execute(conn, "purge_answers", {"now": now, "batch": batch}).rowcount)

        return await self._write(purge)

    async def get_by_id(self, record_id: str) -> Record | None:
        def fetch(conn: sqlite3.Connection) -> Record | None:
            row = self._execute(conn, "get_record", {"id": record_id}).fetchone()
            return None if row is None else _record(row)

        return await self._read(fetch)

    async def estimate(self, query: RecordQuery) -> int | None:
        def count(conn: sqlite3.Connection) -> int:
            binds = {**_filters(query), "cap": ESTIMATE_CAP}
            return int(self._execute(conn, "estimate_records", binds).fetchone()[0])

        return await self._read(count)

    async def export(self, query: RecordQuery, *, batch: int) -> AsyncGenerator[list[Record], None]:
        # A connection of its own, used a fetch at a time from the default executor's threads:
        # an export held for as long as its client reads must not hold one of the readers.
        conn = await asyncio.to_thread(connect_sqlite, self._path, readonly=True, timeout=self._timeout)
        try:
            cursor = await asyncio.to_thread(
                self._run, self._execute, conn, "export_records", _filters(query)
            )
            while rows := await asyncio.to_thread(self._run, lambda _: cursor.fetchmany(batch), conn):
                yield [_record(row) for row in rows]
        finally:
            await asyncio.to_thread(conn.close)

    async def update(self, record: Record, payload: bytes, audit: AuditEntry) -> Record | None:
        def change(conn: sqlite3.Connection) -> Record | None:
            binds = {
                "id": record.id,
                "version": record.version,
                "payload": payload.decode("utf-8"),
                "updated_at": to_text(datetime.now(UTC)),
            }
            return self._changed(conn, "update_record", binds, "update", record, audit)

        return await self._write(change)

    async def delete(self, record: Record, audit: AuditEntry) -> bool:
        def remove(conn: sqlite3.Connection) -> bool:
            binds = {"id": record.id, "version": record.version}
            return self._changed(conn, "delete_record", binds, "delete", record, audit) is not None

        return await self._write(remove)

    def _changed(
        self,
        conn: sqlite3.Connection,
        statement: str,
        binds: dict[str, Any],
        action: str,
        record: Record,
        audit: AuditEntry,
    ) -> Record | None:
        """The change and its audit row in one transaction; the row as it is now, `record`
        itself once deleted, or None when nothing changed."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            if self._execute(conn, statement, binds).rowcount != 1:
                conn.execute("ROLLBACK")
                return None
            now = to_text(datetime.now(UTC))
            self._execute(conn, "insert_audit", _audit_values(action, record.id, record.user_id, audit, now))
            row = self._execute(conn, "get_record", {"id": record.id}).fetchone()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return record if row is None else _record(row)

    async def get_by_user(self, query: RecordQuery, *, with_total: bool) -> tuple[list[Record], int | None]:
        binds: dict[str, Any] = {
            **_filters(query),
            "limit": query.limit,
            "offset": query.offset,
        }

        def fetch(conn: sqlite3.Connection) -> tuple[list[Record], int | None]:
            if with_total:
                rows = self._execute(conn, "list_records_counted", binds).fetchall()
                if rows:
                    return [_record(r) for r in rows], rows[0][6]
                # Past the last page the window count has no row to ride on: count on its own.
                return [], self._execute(conn, "count_records", binds).fetchone()[0]
            after = query.after
            keyset = {
                "after_created_at": FAR_FUTURE if after is None else to_text(after.created_at),
                "after_id": "" if after is None else after.id,
            }
            rows = self._execute(conn, "list_records", {**binds, **keyset}).fetchall()
            return [_record(r) for r in rows], None

        return await self._read(fetch)

    async def ping(self) -> None:
        def select_one(conn: sqlite3.Connection) -> None:
            self._execute(conn, "ping", {}).fetchone()

        await self._read(select_one)

    async def close(self) -> None:
        self._write_pool.shutdown(wait=True)
        self._read_pool.shutdown(wait=True)
        for conn in self._all:
            conn.close()
