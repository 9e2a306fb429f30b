"""The one decorator of the repository port: every operation of storage goes through it, and it
applies, in this order, the same four things to each one:

1. timing: the call's time in the request's Server-Timing `db` phase and a client span
   (observability/phases.py), retries included; only when either is on;
2. the request's deadline (deadline.py): a call whose request has no time left is not made, and
   a call that failed because the deadline ran out is DeadlinePassed, never StorageUnavailable,
   so it does not count against the breaker;
3. retry: a failure known to have changed nothing (StorageUnavailable.safe_to_retry: no
   connection could be made, a serialization failure or a deadlock) is tried again, at most
   three attempts in all, after pauses of random(0, min(cap, base * 2^n)) (capped exponential
   backoff, full jitter), within the deadline. A write whose outcome is unknown is never
   retried: idempotency keys make a client's own retry safe instead. The first attempt runs no
   retry code at all;
4. the database's breaker: a database that stopped answering costs `fail_max` timeouts, after
   which calls fail at once with a 503 that says when to try again, until a trial call finds
   the database back.

Adapters only translate their driver's errors into app.errors."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import TypeVar

from app.errors import DeadlinePassed, StorageUnavailable
from app.observability.phases import Stopwatch
from app.ports.storage import (
    Answer,
    AuditEntry,
    BulkOutcome,
    IdempotencyKey,
    KeptAnswer,
    NewRecord,
    PoolUsage,
    RecordQuery,
    RecordRepository,
)
from app.resilience import deadline
from app.resilience.breakers import Breaker, BreakerOpen
from app.schemas.records import Record

T = TypeVar("T")


def database_failed(exc: BaseException) -> bool:
    """Whether the database is to blame: it was unreachable, timed out or failed; a conflict,
    a refused value or a passed deadline is not, and does not count."""
    return isinstance(exc, StorageUnavailable)


def _passed() -> DeadlinePassed:
    return DeadlinePassed("the request's deadline passed before the database answered")


class GuardedRepository:
    """A RecordRepository whose every operation is timed, bounded by the request's deadline,
    retried when safe and guarded by `breaker` (open, close and pools are passed through)."""

    def __init__(
        self,
        inner: RecordRepository,
        breaker: Breaker,
        *,
        stopwatch: Stopwatch | None = None,
        attempts: int = 3,
        base_seconds: float = 0.05,
        cap_seconds: float = 1.0,
        random: Callable[[], float] = random.random,
    ) -> None:
        self._inner = inner
        self._breaker = breaker
        self._attempts = attempts
        self._base = base_seconds
        self._cap = cap_seconds
        self._random = random
        self._stopwatch = stopwatch
        self.retries = 0  # attempts after the first (the metrics read it)

    async def _through(self, name: str, call: Callable[[], Awaitable[T]]) -> T:
        if self._stopwatch is None:
            return await self._guarded(call)
        return await self._stopwatch.run(name, lambda: self._guarded(call))

    async def _guarded(self, call: Callable[[], Awaitable[T]]) -> T:
        if deadline.left() <= 0:
            raise _passed()
        try:
            return await self._attempt(call)
        except StorageUnavailable as exc:
            if not exc.safe_to_retry:
                raise
            return await self._retried(call, exc)  # the retry machinery, only after a failure

    async def _attempt(self, call: Callable[[], Awaitable[T]], *, bounded: bool = True) -> T:
        """One call through the breaker; `bounded`: within the request's deadline."""
        try:
            with self._breaker.guard():
                try:
                    return await call()
                except StorageUnavailable as exc:
                    if bounded and deadline.left() <= 0:  # the wait was cut short by the deadline
                        raise _passed() from exc
                    raise
        except BreakerOpen:
            raise self._open() from None

    async def _retried(self, call: Callable[[], Awaitable[T]], failure: StorageUnavailable) -> T:
        """Attempts 2 and 3 after a failure known to have changed nothing, each after a capped,
        fully jittered pause, while the breaker lets calls through and the deadline is not past."""
        for attempt in range(1, self._attempts):
            pause = self._random() * min(self._cap, self._base * 2**attempt)
            if pause >= deadline.left():
                break
            await asyncio.sleep(pause)
            self.retries += 1
            try:
                return await self._attempt(call)
            except StorageUnavailable as exc:
                if not exc.safe_to_retry:  # an open breaker's answer included
                    raise
                failure = exc
        raise failure

    def _open(self) -> StorageUnavailable:
        return StorageUnavailable(
            "the database is unavailable; try again later",
            retry_after=max(1, self._breaker.retry_after_seconds()),
        )

    async def open(self) -> None:
        await self._inner.open()

    async def close(self) -> None:
        await self._inner.close()

    async def create(self, record: NewRecord, audit: AuditEntry) -> Record:
        return await self._through("create", lambda: self._inner.create(record, audit))

    async def create_many(
        self, records: Sequence[NewRecord], *, all_or_nothing: bool, audit: AuditEntry
    ) -> BulkOutcome:
        return await self._through(
            "create_many",
            lambda: self._inner.create_many(records, all_or_nothing=all_or_nothing, audit=audit),
        )

    async def create_once(
        self, key: IdempotencyKey, record: NewRecord, audit: AuditEntry, respond: Callable[[Record], Answer]
    ) -> KeptAnswer:
        return await self._through(
            "create_once", lambda: self._inner.create_once(key, record, audit, respond)
        )

    async def create_many_once(
        self,
        key: IdempotencyKey,
        records: Sequence[NewRecord],
        *,
        all_or_nothing: bool,
        audit: AuditEntry,
        respond: Callable[[BulkOutcome], Answer],
    ) -> KeptAnswer:
        return await self._through(
            "create_many_once",
            lambda: self._inner.create_many_once(
                key, records, all_or_nothing=all_or_nothing, audit=audit, respond=respond
            ),
        )

    async def purge_answers(self, batch: int) -> int:
        return await self._through("purge_answers", lambda: self._inner.purge_answers(batch))

    async def get_by_id(self, record_id: str) -> Record | None:
        return await self._through("get_by_id", lambda: self._inner.get_by_id(record_id))

    async def get_by_user(self, query: RecordQuery, *, with_total: bool) -> tuple[list[Record], int | None]:
        return await self._through(
            "get_by_user", lambda: self._inner.get_by_user(query, with_total=with_total)
        )

    async def estimate(self, query: RecordQuery) -> int | None:
        return await self._through("estimate", lambda: self._inner.estimate(query))

    async def export(self, query: RecordQuery, *, batch: int) -> AsyncGenerator[list[Record], None]:
        """Each batch's fetch through the breaker (an open one ends the export with a 503 before
        it starts, a failure mid-way with the connection); never retried: rows went out. The
        first batch is read within the request's deadline and timed; the later ones stream on
        after the answer has started, each bounded by the database timeout alone."""
        batches = self._inner.export(query, batch=batch)
        try:
            if deadline.left() <= 0:
                raise _passed()
            found = await (
                self._first(batches)
                if self._stopwatch is None
                else self._stopwatch.run("export", lambda: self._first(batches))
            )
            while found is not None:
                yield found
                found = await self._attempt(lambda: anext(batches, None), bounded=False)
        finally:
            await batches.aclose()

    async def _first(self, batches: AsyncGenerator[list[Record], None]) -> list[Record] | None:
        return await self._attempt(lambda: anext(batches, None))

    async def update(self, record: Record, payload: bytes, audit: AuditEntry) -> Record | None:
        return await self._through("update", lambda: self._inner.update(record, payload, audit))

    async def delete(self, record: Record, audit: AuditEntry) -> bool:
        return await self._through("delete", lambda: self._inner.delete(record, audit))

    async def touch_users(self, user_ids: Sequence[str], audit: AuditEntry) -> int:
        return await self._through("touch_users", lambda: self._inner.touch_users(user_ids, audit))

    async def position(self) -> int:
        return await self._through("position", self._inner.position)

    def pools(self) -> list[PoolUsage]:
        return self._inner.pools()

    async def ping(self) -> None:
        with self._breaker.guard():  # an open breaker answers the probe at once: BreakerOpen
            await self._inner.ping()

    async def history(self) -> str | None:
        # A look around the breaker, as a probe: a database restored while the breaker is open
        # must be noticed at once (services/history.py), not after the breaker's trial; and a
        # database that answers it lets the next call be the trial at once (RTO: a second at
        # most after the database is back, not the breaker's reset time).
        found = await self._inner.history()
        self._breaker.answered()
        return found
