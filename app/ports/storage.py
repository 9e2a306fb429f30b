"""What the service needs from storage, whatever the dialect."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from msgspec import Raw

from app.schemas.finding import NEWEST, PayloadFilter, Sort
from app.schemas.records import Record
from app.tallies import Spread


@dataclass(frozen=True, slots=True)
class PoolUsage:
    """One connection pool's counters: connections lent out now, open, and the most it opens;
    for the pools calls wait on (PostgreSQL, Oracle), how long they waited and how many gave up."""

    pool: str
    in_use: int
    open: int
    max: int
    waits: Spread | None = None
    timeouts: int = 0


@dataclass(frozen=True, slots=True)
class NewRecord:
    """A validated record to store; payload is its JSON text, already encoded."""

    user_id: str
    payload: bytes

    def stored(self, record_id: str, created_at: datetime, updated_at: datetime) -> Record:
        """The record as stored under `record_id` at these moments (its first version)."""
        return Record(
            id=record_id,
            user_id=self.user_id,
            payload=Raw(self.payload),
            created_at=created_at,
            updated_at=updated_at,
        )


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """Who changes records and in which request: written with the change, in its transaction."""

    actor: str
    request_id: str


@dataclass(frozen=True, slots=True)
class Position:
    """A place in the (created_at, id) order that keyset pages start after."""

    created_at: datetime
    id: str


@dataclass(frozen=True, slots=True)
class RecordQuery:
    """A user's records, newest first, narrowed by optional filters.

    Reads by user, by date range and by payload field are all this one query:
    `created_from <= created_at < created_to`, `payload.type = type` and `payload.status =
    status` narrow it, and so do `match` and `search`; `after` (keyset) or `offset` (page)
    places it, in the order `sort` names.
    """

    user_id: str
    limit: int
    offset: int = 0
    after: Position | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    type: str | None = None
    status: str | None = None
    match: tuple[PayloadFilter, ...] = ()  # payload.<field> filters, all of them (AND)
    search: tuple[str, ...] = ()  # words and phrases the payload holds, all of them
    sort: Sort = NEWEST

    @property
    def plain(self) -> bool:
        """Whether the index's own order and filters answer it (the list statements), or it
        needs the statements that filter any field, search and sort (find_records)."""
        return not self.match and not self.search and self.sort == NEWEST


@dataclass(frozen=True, slots=True)
class RowError:
    """A row the database refused in a bulk insert: its index in the request and why."""

    index: int
    reason: str


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    """Ids of the stored rows (by request index) and the rows the database refused."""

    stored: dict[int, str]
    refused: list[RowError]


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """An Idempotency-Key as kept: whose (`scope`), the key, the request's fingerprint."""

    scope: str
    key: str
    fingerprint: str
    ttl_seconds: int


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer as kept for an idempotency key: status and encoded body."""

    status: int
    body: bytes


@dataclass(frozen=True, slots=True)
class KeptAnswer:
    """What an idempotent write answers: this request's answer, now kept (`replayed` False), or
    the one kept for the key before, with the fingerprint of the request that made it."""

    fingerprint: str
    answer: Answer
    replayed: bool


class RecordRepository(Protocol):
    """Storage of data records. Implementations raise app.errors, never driver errors."""

    async def open(self) -> None:
        """Connect; called once by the app's lifespan."""
        ...

    async def create(self, record: NewRecord, audit: AuditEntry) -> Record:
        """Store one record, and its audit row in the same transaction; return it as stored."""
        ...

    async def create_many(
        self, records: Sequence[NewRecord], *, all_or_nothing: bool, audit: AuditEntry
    ) -> BulkOutcome:
        """Store many records (and an audit row for each stored one) in one round trip; refused
        rows never stop the others unless all_or_nothing, in which case any refusal stores none."""
        ...

    async def create_once(
        self, key: IdempotencyKey, record: NewRecord, audit: AuditEntry, respond: Callable[[Record], Answer]
    ) -> KeptAnswer:
        """Store one record and keep `respond`'s answer under the key in the same transaction;
        or, when the key holds an answer already, store nothing and return that one. While
        another request holds the key uncommitted, wait for it a little, then IdempotencyKeyBusy.
        An error `respond` raises rolls everything back."""
        ...

    async def create_many_once(
        self,
        key: IdempotencyKey,
        records: Sequence[NewRecord],
        *,
        all_or_nothing: bool,
        audit: AuditEntry,
        respond: Callable[[BulkOutcome], Answer],
    ) -> KeptAnswer:
        """create_many, once a key: as create_once."""
        ...

    async def purge_answers(self, batch: int) -> int:
        """Delete up to `batch` expired idempotency keys; how many went."""
        ...

    async def get_by_id(self, record_id: str) -> Record | None:
        """The record with this id, or None."""
        ...

    async def get_by_user(self, query: RecordQuery, *, with_total: bool) -> tuple[list[Record], int | None]:
        """Up to query.limit records and, if asked, how many match without paging."""
        ...

    async def estimate(self, query: RecordQuery) -> int | None:
        """About how many records match the query's filters, from the database's statistics
        rather than a count (count=estimated): PostgreSQL's planner estimate, Oracle's
        optimizer statistics, SQLite an exact count that stops at a bound. None when the
        database has no statistics yet."""
        ...

    def export(self, query: RecordQuery, *, batch: int) -> AsyncGenerator[list[Record], None]:
        """Every record the query's filters match (its limit, offset and after are not used),
        newest first, in lists of up to `batch`, each fetched when asked for: one cursor on
        the database, so memory holds a batch whatever the count, a consumer that asks slowly
        slows the query and one that stops asking (aclose) stops it. Each fetch is bounded by
        the database timeout, not by the request's deadline."""
        ...

    async def update(self, record: Record, payload: bytes, audit: AuditEntry) -> Record | None:
        """Replace the payload of `record` (as read) if it is still at record.version, count its
        version up and write the update's audit row, in one transaction; the record as stored
        now, or None when it is gone or at another version (nothing changed)."""
        ...

    async def delete(self, record: Record, audit: AuditEntry) -> bool:
        """Delete `record` (as read) if it is still at record.version, with the delete's audit
        row, in one transaction; False when it is gone or at another version (nothing changed)."""
        ...

    async def touch_users(self, user_ids: Sequence[str], audit: AuditEntry) -> int:
        """The database's touch_users procedure (POST /procedures/touch_users): every record of
        these users gets a new updated_at and its version counted up, each with an update
        audit row, in one transaction; how many records it touched."""
        ...

    async def ping(self) -> None:
        """Raise StorageUnavailable unless the database answers."""
        ...

    async def history(self) -> str | None:
        """Which history of the database this is: PostgreSQL's system identifier and timeline,
        Oracle's DBID and incarnation; it changes when the database is restored from a backup.
        None where the database cannot tell (SQLite)."""
        ...

    async def position(self) -> int:
        """Where this database is in its log of changes: a primary's latest write position
        (every write acknowledged before the call lies at or before it), a replica's replay
        position (every change up to it is visible there); PostgreSQL's WAL position, Oracle's
        SCN, 0 for SQLite, which has no replicas."""
        ...

    def pools(self) -> list[PoolUsage]:
        """The connection pools' own counters, now (no I/O: read when /metrics is scraped)."""
        ...

    async def close(self) -> None:
        """Release every connection."""
        ...
