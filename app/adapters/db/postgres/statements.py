"""What PostgreSQL's statements take and give: the binds each names (sql/postgres/), the values
of a record and its audit row, a row read back as a record, and asyncpg's errors as the
service's. session.py runs the statements; reads.py, writes.py and keys.py call them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from msgspec import Raw

from app.adapters.db.binds import ANSWER_BINDS, FILTERS, KEY_BINDS, OFFSET_READ_BINDS, filter_binds
from app.adapters.db.matching import FOUND_READ_BINDS, found_binds
from app.errors import IdempotencyKeyBusy, InvalidData, SchemaMissing, StorageConflict, StorageUnavailable
from app.ports.storage import AuditEntry, NewRecord, RecordQuery
from app.schemas.records import Record

FAR_PAST = datetime(1, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
LAST_ID = uuid.UUID(int=(1 << 128) - 1)
BINDS = {
    "touch_users": frozenset({"user_ids", "actor", "request_id"}),
    "insert_record": frozenset({"id", "user_id", "payload", "actor", "request_id"}),
    "insert_records": frozenset({"ids", "user_ids", "payloads", "actors", "request_ids"}),
    "keep_answer": ANSWER_BINDS | {"ttl_seconds"},
    "kept_answer": KEY_BINDS,
    "purge_answers": frozenset({"batch"}),
    "update_record": frozenset({"id", "user_id", "created_at", "version", "payload", "actor", "request_id"}),
    "delete_record": frozenset({"id", "user_id", "created_at", "version", "actor", "request_id"}),
    "estimate_records": FILTERS,
    "large_users": frozenset({"records", "rows"}),
    **OFFSET_READ_BINDS,
    **FOUND_READ_BINDS,
    "get_record": frozenset({"id", "created_from", "created_to"}),
    "get_records": frozenset({"ids", "created_from", "created_to"}),
    "list_records_together": frozenset(
        {"user_ids", "created_from", "created_to", "types", "statuses", "limits", "offsets"}
    ),
}


class _Translated:
    """asyncpg's errors raised in its block, as the service's. A class rather than a generator
    (contextlib.asynccontextmanager): entering and leaving it is a microsecond less, on every
    statement."""

    __slots__ = ()

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, kind: object, exc: BaseException | None, trace: object) -> None:
        if isinstance(exc, Exception) and (service_error := _translation(exc)) is not None:
            raise service_error from exc


_TRANSLATED = _Translated()


def translated() -> _Translated:
    return _TRANSLATED


def _translation(exc: Exception) -> Exception | None:
    if isinstance(exc, asyncpg.UniqueViolationError):
        return StorageConflict("the record conflicts with one already stored")
    if isinstance(exc, asyncpg.DataError | asyncpg.IntegrityConstraintViolationError):
        return InvalidData("the database refused a value")
    if isinstance(exc, asyncpg.LockNotAvailableError):  # 55P03: only idempotency keys are waited for
        return IdempotencyKeyBusy("a request with this Idempotency-Key is still being processed")
    if isinstance(exc, asyncpg.UndefinedTableError):  # 42P01
        return SchemaMissing()
    if isinstance(exc, asyncpg.SerializationError | asyncpg.DeadlockDetectedError):  # 40001, 40P01
        return StorageUnavailable("the database rolled the statement back", safe_to_retry=True)
    if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError | OSError | TimeoutError):
        return StorageUnavailable("the database could not complete the request")
    return None


def insert_values(record: NewRecord, record_id: str, audit: AuditEntry) -> dict[str, Any]:
    return {
        "id": record_id,
        "user_id": record.user_id,
        "payload": record.payload.decode(),
        "actor": audit.actor,
        "request_id": audit.request_id,
    }


def filters(query: RecordQuery) -> dict[str, object]:
    if query.plain:
        return filter_binds(query, far_past=FAR_PAST, far_future=FAR_FUTURE, moment=lambda m: m)
    # find_records is planned with its values (reads.py): an absent bound is NULL, which the
    # plan folds away, not a far date, whose estimate would probe the index's ends each time.
    binds = filter_binds(query, far_past=None, far_future=None, moment=lambda m: m)
    return {**binds, **found_binds(query, "postgres")}


def change_values(record: Record, audit: AuditEntry) -> dict[str, Any]:
    return {
        "id": record.id,
        "user_id": record.user_id,  # routes the change to the user's shard (docs/scaling.md)
        "created_at": record.created_at,
        "version": record.version,
        "actor": audit.actor,
        "request_id": audit.request_id,
    }


def by_id(record_id: str, window: tuple[datetime, datetime] | None = None) -> dict[str, Any]:
    """get_record's binds: the record created within `window`, or anywhere without one (every
    partition's index probed)."""
    created_from, created_to = window or (FAR_PAST, FAR_FUTURE)
    return {"id": record_id, "created_from": created_from, "created_to": created_to}


def record_of(row: asyncpg.Record) -> Record:
    return Record(
        id=row[0], user_id=row[1], payload=Raw(row[2]), created_at=row[3], updated_at=row[4], version=row[5]
    )
