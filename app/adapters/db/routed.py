"""The repository over a primary and its read replicas: writes (and what a write reads) on the
primary; list pages, single reads, counts, estimates and exports on a replica that has replayed
the reader's own writes (replicas.py), else on the primary.

Read-your-writes across processes: once a write is done, the primary's position is read (one
query shared by the writes that finished meanwhile) and kept as the user's (ports/positions.py,
in Redis when configured) before the write is acknowledged; a read of that user needs a replica
at or past it. A single read by id learns its user from the row: a row a replica returns is
kept only if the replica had replayed its owner's writes, and a record a replica does not find
is looked for on the primary, which is the one that knows it was never written.

A replica's failure never reaches the client nor the primary's breaker: it counts against the
replica's own breaker and the read goes to the primary at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import TypeVar

from app.adapters.db.replicas import Replica, ReplicaSet
from app.concurrency import Coalescer
from app.errors import StorageUnavailable
from app.ports.positions import WritePositions
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
from app.resilience.breakers import BreakerOpen
from app.schemas.records import Record

T = TypeVar("T")


class _Failed:
    """What a replica answered when it could not answer."""


FAILED = _Failed()


class RoutedRepository:
    """RecordRepository on a primary and its replicas."""

    def __init__(self, primary: RecordRepository, replicas: ReplicaSet, positions: WritePositions) -> None:
        self._primary = primary
        self.replicas = replicas
        self._positions = positions
        # One position query for every write that finished while the last one was out.
        self._position: Coalescer[None, int] = Coalescer(
            self._positions_now, lost=lambda: StorageUnavailable("the write's position was not read")
        )

    async def _positions_now(self, calls: list[None]) -> list[int | Exception]:
        try:
            position = await self._primary.position()
        except StorageUnavailable as exc:
            return [exc] * len(calls)
        return [position] * len(calls)

    async def _written(self, users: Sequence[str]) -> None:
        """Keep the users' new position before their write is acknowledged. When it cannot be
        read or kept, the write stands; their reads fall back to the primary only as far as
        the positions store can tell (docs/scaling.md)."""
        if not users:
            return
        try:
            position = await self._position(None)
        except StorageUnavailable:
            return
        # Concurrent calls: with Redis, every user's position travels in one pipeline.
        await asyncio.gather(
            *(self._positions.advance(user_id, position) for user_id in dict.fromkeys(users))
        )

    async def _on_replica(
        self, replica: Replica, call: Callable[[RecordRepository], Awaitable[T]]
    ) -> T | _Failed:
        """The call on the replica, or FAILED when it failed there (counted by its breaker)."""
        try:
            with replica.breaker.guard():
                answer = await call(replica.repository)
        except (StorageUnavailable, TimeoutError, BreakerOpen):
            replica.fallbacks += 1
            return FAILED
        replica.reads += 1
        return answer

    async def _read(self, user_id: str, call: Callable[[RecordRepository], Awaitable[T]]) -> T:
        replica = self.replicas.choose(await self._positions.of(user_id))
        if replica is not None:
            answer = await self._on_replica(replica, call)
            if not isinstance(answer, _Failed):
                return answer
        self.replicas.primary_reads += 1
        return await call(self._primary)

    async def open(self) -> None:
        await self._primary.open()
        await self.replicas.open()

    async def close(self) -> None:
        await self.replicas.close()
        await self._primary.close()

    async def create(self, record: NewRecord, audit: AuditEntry) -> Record:
        stored = await self._primary.create(record, audit)
        await self._written([record.user_id])
        return stored

    async def create_many(
        self, records: Sequence[NewRecord], *, all_or_nothing: bool, audit: AuditEntry
    ) -> BulkOutcome:
        outcome = await self._primary.create_many(records, all_or_nothing=all_or_nothing, audit=audit)
        await self._written([records[i].user_id for i in outcome.stored])
        return outcome

    async def create_once(
        self, key: IdempotencyKey, record: NewRecord, audit: AuditEntry, respond: Callable[[Record], Answer]
    ) -> KeptAnswer:
        kept = await self._primary.create_once(key, record, audit, respond)
        await self._written([record.user_id])
        return kept

    async def create_many_once(
        self,
        key: IdempotencyKey,
        records: Sequence[NewRecord],
        *,
        all_or_nothing: bool,
        audit: AuditEntry,
        respond: Callable[[BulkOutcome], Answer],
    ) -> KeptAnswer:
        kept = await self._primary.create_many_once(
            key, records, all_or_nothing=all_or_nothing, audit=audit, respond=respond
        )
        await self._written([r.user_id for r in records])
        return kept

    async def update(self, record: Record, payload: bytes, audit: AuditEntry) -> Record | None:
        changed = await self._primary.update(record, payload, audit)
        await self._written([record.user_id])
        return changed

    async def delete(self, record: Record, audit: AuditEntry) -> bool:
        deleted = await self._primary.delete(record, audit)
        await self._written([record.user_id])
        return deleted

    async def touch_users(self, user_ids: Sequence[str], audit: AuditEntry) -> int:
        touched = await self._primary.touch_users(user_ids, audit)
        await self._written(list(user_ids))
        return touched

    async def purge_answers(self, batch: int) -> int:
        return await self._primary.purge_answers(batch)

    async def get_by_id(self, record_id: str) -> Record | None:
        replica = self.replicas.choose(0)
        if replica is not None:
            found = await self._on_replica(replica, lambda r: r.get_by_id(record_id))
            if isinstance(found, Record):
                needed = await self._positions.of(found.user_id)
                if needed is not None and replica.replayed >= needed:
                    return found
        self.replicas.primary_reads += 1
        return await self._primary.get_by_id(record_id)

    async def get_by_user(self, query: RecordQuery, *, with_total: bool) -> tuple[list[Record], int | None]:
        return await self._read(query.user_id, lambda r: r.get_by_user(query, with_total=with_total))

    async def estimate(self, query: RecordQuery) -> int | None:
        return await self._read(query.user_id, lambda r: r.estimate(query))

    async def export(self, query: RecordQuery, *, batch: int) -> AsyncGenerator[list[Record], None]:
        """On a replica from its first batch on, or on the primary when the replica fails
        before the first one (rows that went out cannot be taken back: later failures end the
        export, as on the primary)."""
        replica = self.replicas.choose(await self._positions.of(query.user_id))
        if replica is not None:
            batches = replica.repository.export(query, batch=batch)
            first = await self._on_replica(replica, lambda _: anext(batches, []))
            if not isinstance(first, _Failed):
                try:
                    if first:
                        yield first
                        async for rows in batches:
                            yield rows
                    return
                finally:
                    await batches.aclose()
            await batches.aclose()
        self.replicas.primary_reads += 1
        async for rows in self._primary.export(query, batch=batch):
            yield rows

    async def position(self) -> int:
        return await self._primary.position()

    def pools(self) -> list[PoolUsage]:
        pools = list(self._primary.pools())
        for replica in self.replicas.replicas:
            for pool in replica.repository.pools():
                pools.append(
                    PoolUsage(replica.name, pool.in_use, pool.open, pool.max, pool.waits, pool.timeouts)
                )
        return pools

    async def ping(self) -> None:
        await self._primary.ping()

    async def history(self) -> str | None:
        return await self._primary.history()
