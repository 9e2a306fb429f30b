"""The repository behind the database's breaker: every call to storage goes through it, so a
database that stopped answering costs `fail_max` timeouts, after which requests fail at once
with a 503 that says when to try again, until a trial call finds the database back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from app.errors import StorageUnavailable
from app.ports.storage import AuditEntry, BulkOutcome, NewRecord, RecordQuery, RecordRepository
from app.resilience.breakers import Breaker, BreakerOpen
from app.schemas.records import Record

T = TypeVar("T")


def database_failed(exc: BaseException) -> bool:
    """Whether the database is to blame: it was unreachable, timed out or failed; a conflict
    or a refused value (StorageConflict, InvalidData) is the caller's, and does not count."""
    return isinstance(exc, StorageUnavailable)


class GuardedRepository:
    """A RecordRepository whose network calls go through `breaker` (open and close do not)."""

    def __init__(self, inner: RecordRepository, breaker: Breaker) -> None:
        self._inner = inner
        self._breaker = breaker

    async def _through(self, call: Callable[[], Awaitable[T]]) -> T:
        try:
            with self._breaker.guard():
                return await call()
        except BreakerOpen:
            raise StorageUnavailable(
                "the database is unavailable; try again later",
                retry_after=max(1, self._breaker.retry_after_seconds()),
            ) from None

    async def open(self) -> None:
        await self._inner.open()

    async def close(self) -> None:
        await self._inner.close()

    async def create(self, record: NewRecord, audit: AuditEntry) -> Record:
        return await self._through(lambda: self._inner.create(record, audit))

    async def create_many(
        self, records: Sequence[NewRecord], *, all_or_nothing: bool, audit: AuditEntry
    ) -> BulkOutcome:
        return await self._through(
            lambda: self._inner.create_many(records, all_or_nothing=all_or_nothing, audit=audit)
        )

    async def get_by_id(self, record_id: str) -> Record | None:
        return await self._through(lambda: self._inner.get_by_id(record_id))

    async def get_by_user(self, query: RecordQuery, *, with_total: bool) -> tuple[list[Record], int | None]:
        return await self._through(lambda: self._inner.get_by_user(query, with_total=with_total))

    async def ping(self) -> None:
        with self._breaker.guard():  # an open breaker answers the probe at once: BreakerOpen
            await self._inner.ping()
