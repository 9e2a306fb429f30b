"""The /data use cases: create one or many records, read, change and delete one, list a user's
pages, export them all."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from app.auth import Caller
from app.concurrency import SingleFlight
from app.errors import (
    FieldProblem,
    Forbidden,
    IdempotencyKeyReused,
    NotFound,
    PreconditionFailed,
    RateLimited,
    StorageConflict,
    StorageUnavailable,
    ValidationFailed,
    field_problem,
)
from app.observability.context import charge
from app.observability.metrics import Metrics
from app.ports.admission import Admission, Decision
from app.ports.cache import Page, PageCache, StalePage
from app.ports.storage import (
    Answer,
    AuditEntry,
    BulkOutcome,
    IdempotencyKey,
    KeptAnswer,
    NewRecord,
    RecordQuery,
    RecordRepository,
)
from app.schemas.records import (
    BulkResult,
    CreateRecord,
    ExportQuery,
    ListQuery,
    Record,
    RecordPage,
    RejectedItem,
)
from app.services.bulk import BulkRequest, CheckedBulk, nothing_stored
from app.services.cursor import InvalidCursor, decode_cursor, encode_cursor
from app.services.maintenance import Maintenance
from app.services.patch import merge_patch

_item_decoder = msgspec.json.Decoder(CreateRecord)
# Reads and writes of one change before it gives up on a record that keeps changing meanwhile.
CHANGE_ATTEMPTS = 5
# Rows an export reads from the database at a time: what its memory holds, whatever its size.
EXPORT_BATCH = 500


@dataclass(frozen=True, slots=True)
class Versions:
    """What an If-Match header names: some versions of the record, or any (`*`)."""

    versions: frozenset[int] = frozenset()
    any: bool = False

    def holds(self, version: int) -> bool:
        return self.any or version in self.versions


_encoder = msgspec.json.Encoder()
_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")  # an escaped NUL, not an escaped backslash + "u0000"


class RecordService:
    """Records per user, with a per-user request budget and cached list pages."""

    def __init__(
        self,
        repository: RecordRepository,
        cache: PageCache,
        admission: Admission,
        *,
        maintenance: Maintenance | None = None,
        database_away: Callable[[], bool] = lambda: False,
        metrics: Metrics | None = None,
        page_size_default: int = 20,
        bulk_max_items: int = 1000,
        idempotency_ttl_seconds: int = 86_400,
        max_payload_bytes: int = 1024 * 1024,
        exports_max: int = 2,
    ) -> None:
        # Exports running now, and how many may: each holds a database connection for as long
        # as its client reads, and the pool is shared with every other request.
        self._exports = 0
        self._exports_max = exports_max
        self._max_payload_bytes = max_payload_bytes  # a patched payload's limit: a create's body
        self._repository = repository
        self._maintenance = maintenance or Maintenance(read_only=False, store=None)
        self._database_away = database_away  # the database's breaker is open (or its trial runs)
        self._metrics = metrics or Metrics(version="", dialect="", server="", cache="")
        self._key_ttl = idempotency_ttl_seconds
        self._cache = cache
        self._admission = admission
        self._page_size_default = page_size_default
        self._bulk_max_items = bulk_max_items
        # Concurrent misses on one page (and one write generation) share one query.
        self._loading: SingleFlight[tuple[str, str, int], Page] = SingleFlight(
            lost=lambda: StorageUnavailable("the page could not be read")
        )

    async def create(self, item: CreateRecord, caller: Caller) -> Record:
        """Store one record for its user."""
        record = await self._admitted(item, caller)
        stored = await self._repository.create(record, _audit(caller))
        await self._cache.invalidate_user(item.user_id)
        self._created([record])
        return stored

    async def create_once(self, item: CreateRecord, caller: Caller, key: str, fingerprint: str) -> KeptAnswer:
        """`create` under an Idempotency-Key: the first request's answer, whichever this is."""
        record = await self._admitted(item, caller)
        kept = await self._repository.create_once(
            self._key(caller, key, fingerprint),
            record,
            _audit(caller),
            lambda stored: Answer(201, _encoder.encode(stored)),
        )
        if not kept.replayed:
            self._created([record])
        return await self._settled(kept, fingerprint, [item.user_id])

    async def _admitted(self, item: CreateRecord, caller: Caller) -> NewRecord:
        _may_write(caller)
        self._maintenance.check_writable()
        _owner(caller, item.user_id)
        payload = _encode_payload(item.payload)
        if isinstance(payload, FieldProblem):
            raise ValidationFailed("the body does not match the schema", errors=[payload])
        await self._admit(_limit_key(caller, item.user_id))
        return NewRecord(item.user_id, payload)

    async def create_many(self, request: BulkRequest, *, caller: Caller) -> BulkResult:
        """Store every valid item in one round trip and say what became of each one."""
        bulk = await self._admitted_bulk(request, caller)
        outcome = await self._repository.create_many(
            bulk.records, all_or_nothing=request.all_or_nothing, audit=_audit(caller)
        )
        await asyncio.gather(*map(self._cache.invalidate_user, bulk.users))
        self._created([bulk.records[i] for i in outcome.stored])
        return bulk.result(outcome)

    async def create_many_once(
        self, request: BulkRequest, *, caller: Caller, key: str, fingerprint: str
    ) -> KeptAnswer:
        """`create_many` under an Idempotency-Key: the first request's answer, whichever this is."""
        bulk = await self._admitted_bulk(request, caller)

        outcomes: list[BulkOutcome] = []

        def respond(outcome: BulkOutcome) -> Answer:  # raises, and so rolls back, when none is stored
            outcomes.append(outcome)
            result = bulk.result(outcome)
            return Answer(207 if result.rejected else 201, _encoder.encode(result))

        kept = await self._repository.create_many_once(
            self._key(caller, key, fingerprint),
            bulk.records,
            all_or_nothing=request.all_or_nothing,
            audit=_audit(caller),
            respond=respond,
        )
        if not kept.replayed:
            self._created([bulk.records[i] for i in outcomes[-1].stored])
        return await self._settled(kept, fingerprint, bulk.users)

    async def _admitted_bulk(self, request: BulkRequest, caller: Caller) -> CheckedBulk:
        _may_write(caller)
        self._maintenance.check_writable()
        items, all_or_nothing = request.items, request.all_or_nothing
        if len(items) > self._bulk_max_items:
            raise ValidationFailed(
                f"a bulk request holds at most {self._bulk_max_items} items",
                errors=[FieldProblem(request.root, f"at most {self._bulk_max_items} items")],
            )
        accepted: list[tuple[int, NewRecord]] = []
        rejected: list[RejectedItem] = []
        for index, raw in enumerate(items):
            root = f"{request.root}[{index}]"
            try:
                item = _item_decoder.decode(raw)
            except msgspec.ValidationError as exc:
                problem = field_problem(str(exc), root=root)
            else:
                payload = _encode_payload(item.payload)
                if not isinstance(payload, FieldProblem):
                    accepted.append((index, NewRecord(item.user_id, payload)))
                    continue
                problem = FieldProblem(root + payload.path[1:], payload.message)
            rejected.append(RejectedItem(index=index, path=problem.path, reason=problem.message))
        if rejected and (all_or_nothing or not accepted):
            raise nothing_stored(rejected, all_or_nothing)
        users = sorted({item.user_id for _, item in accepted})
        for user_id in users:
            _owner(caller, user_id)
        # Concurrent calls: with Redis, every user's token travels in one pipeline.
        keys = sorted({_limit_key(caller, user_id) for user_id in users})
        for key, decision in zip(keys, await asyncio.gather(*map(self._admission.admit, keys)), strict=True):
            self._decided(key, decision)
        return CheckedBulk(accepted, rejected, users, request)

    def _key(self, caller: Caller, key: str, fingerprint: str) -> IdempotencyKey:
        return IdempotencyKey(caller.actor, key, fingerprint, self._key_ttl)

    async def _settled(self, kept: KeptAnswer, fingerprint: str, users: Sequence[str]) -> KeptAnswer:
        if kept.fingerprint != fingerprint:
            raise IdempotencyKeyReused("this Idempotency-Key was used for a different request")
        if not kept.replayed:
            await asyncio.gather(*map(self._cache.invalidate_user, users))
        return kept

    async def get(self, record_id: str, caller: Caller) -> Record:
        """One record by id; another user's record is as absent as a missing one."""
        _may_read(caller)
        if caller.principal is not None:
            await self._admit(caller.principal.subject)
        return await self._find(record_id, caller)

    async def _find(self, record_id: str, caller: Caller) -> Record:
        record = await self._repository.get_by_id(record_id) if len(record_id) <= 64 else None
        if record is not None and caller.principal is not None and not caller.principal.is_admin:
            record = record if record.user_id == caller.principal.subject else None
        if record is None:
            raise NotFound(f"no record has id {record_id[:64]!r}")
        return record

    async def update(
        self, record_id: str, patch: dict[str, Any], caller: Caller, *, if_match: Versions | None = None
    ) -> Record:
        """Apply a JSON Merge Patch (RFC 7396) to a record's payload. With `if_match`, only to
        one of those versions (else PreconditionFailed); without, to whatever version is
        current when the change is written (a change made meanwhile is merged, not lost)."""

        def patched(current: Record) -> bytes:
            encoded = _encode_payload(merge_patch(msgspec.json.decode(current.payload), patch), "$")
            if not isinstance(encoded, FieldProblem) and len(encoded) > self._max_payload_bytes:
                encoded = FieldProblem(
                    "$",
                    f"the patched payload would hold {len(encoded)} bytes, over {self._max_payload_bytes}",
                )
            if isinstance(encoded, FieldProblem):
                raise ValidationFailed("the patched record cannot be stored", errors=[encoded])
            return encoded

        async def write(current: Record) -> Record | None:
            return await self._repository.update(current, patched(current), _audit(caller))

        return await self._change(record_id, caller, if_match, write)

    async def delete(self, record_id: str, caller: Caller, *, if_match: Versions | None = None) -> None:
        """Delete a record; with `if_match`, only at one of those versions."""

        async def write(current: Record) -> Record | None:
            return current if await self._repository.delete(current, _audit(caller)) else None

        await self._change(record_id, caller, if_match, write)

    async def _change(
        self,
        record_id: str,
        caller: Caller,
        if_match: Versions | None,
        write: Callable[[Record], Awaitable[Record | None]],
    ) -> Record:
        """Read, check, write only if the record is still as read; when it changed in between,
        read again and decide anew (a stale If-Match then fails, a missing record is 404)."""
        _may_write(caller)
        self._maintenance.check_writable()
        for attempt in range(CHANGE_ATTEMPTS):
            current = await self._find(record_id, caller)
            if attempt == 0:
                await self._admit(_limit_key(caller, current.user_id))
            if if_match is not None and not if_match.holds(current.version):
                raise PreconditionFailed(
                    f"the record is at version {current.version}, not one that If-Match names"
                )
            changed = await write(current)
            if changed is not None:
                await self._cache.invalidate_user(current.user_id)
                return changed
        raise StorageConflict("the record kept changing while this change was written; send it again")

    async def list_page(self, query: ListQuery, caller: Caller) -> Page | StalePage:
        """A user's page, encoded, with its tag; served from the cache when it holds it, and,
        while the database cannot be read, from a copy kept past its TTL (a StalePage) when
        there is one. The tag is made here, once a page is read from the database."""
        _may_read(caller)
        _owner(caller, query.user_id)
        self._check(query)
        key = _cache_key(query)
        limit_key = _limit_key(caller, query.user_id)
        if limit_key == query.user_id:  # the common case: the budget and the page in one round trip
            decision, (cached, generation) = await self._admission.admit_and_read(query.user_id, key)
            self._decided(limit_key, decision)
        else:  # an admin reading another user's records spends its own budget
            await self._admit(limit_key)
            cached, generation = await self._cache.get(query.user_id, key)
        if cached is not None:
            return cached
        if self._database_away():  # no call to wait for, nor to join: a stale copy at once
            stale = await self._cache.stale(query.user_id, key, generation)
            if stale is not None:
                return stale

        async def load() -> Page:
            page = Page.of(await self._load_page(query))
            await self._cache.set(query.user_id, key, page, generation)
            return page

        try:
            return await self._loading((query.user_id, key, generation), load)
        except StorageUnavailable:
            stale = await self._cache.stale(query.user_id, key, generation)
            if stale is None:
                raise
            return stale

    async def export(self, query: ExportQuery, caller: Caller) -> AsyncGenerator[list[Record], None]:
        """Every record of the user that the filters match, newest first, in batches read from
        the database as they are asked for; checked and charged one token before the first."""
        _may_read(caller)
        _owner(caller, query.user_id)
        _check_range(query)
        await self._admit(_limit_key(caller, query.user_id))
        if self._exports >= self._exports_max:
            raise StorageUnavailable(
                f"{self._exports_max} exports are running, as many as this process runs at once",
                retry_after=5,
            )
        return self._counted(
            self._repository.export(
                RecordQuery(
                    user_id=query.user_id,
                    limit=0,
                    created_from=query.created_from,
                    created_to=query.created_to,
                    type=query.type,
                    status=query.status,
                ),
                batch=EXPORT_BATCH,
            )
        )

    async def _counted(
        self, batches: AsyncGenerator[list[Record], None]
    ) -> AsyncGenerator[list[Record], None]:
        """An export's batches, counted among the running ones until it ends, fails or is
        closed (from its first batch on: one never started holds no connection)."""
        self._exports += 1
        try:
            async for batch in batches:
                yield batch
        finally:
            self._exports -= 1
            await batches.aclose()

    async def _load_page(self, query: ListQuery) -> bytes:
        size = query.page_size or self._page_size_default
        # An empty cursor starts cursor mode at the first page: one loop walks everything.
        after = decode_cursor(query.cursor) if query.cursor else None
        page = None if query.cursor is not None else (query.page or 1)
        counted = None if page is None else (query.count or "exact")
        selected = RecordQuery(
            user_id=query.user_id,
            limit=size + 1,
            offset=0 if page is None else (page - 1) * size,
            after=after,
            created_from=query.created_from,
            created_to=query.created_to,
            type=query.type,
            status=query.status,
        )
        if counted == "estimated":
            (records, _), total = await asyncio.gather(
                self._repository.get_by_user(selected, with_total=False), self._repository.estimate(selected)
            )
        else:
            records, total = await self._repository.get_by_user(selected, with_total=counted == "exact")
        has_more = len(records) > size
        items = records[:size]
        next_cursor = encode_cursor(items[-1].created_at, items[-1].id) if has_more else None
        return _encoder.encode(
            RecordPage(
                items=items,
                page=page,
                page_size=size,
                total=total,
                has_more=has_more,
                next_cursor=next_cursor,
            )
        )

    def _check(self, query: ListQuery) -> None:
        if query.cursor is not None and query.page is not None:
            raise ValidationFailed(
                "page and cursor cannot be combined",
                errors=[FieldProblem("cursor", "give either page or cursor")],
            )
        if query.cursor is not None and query.count not in (None, "none"):
            raise ValidationFailed(
                "cursor mode counts nothing", errors=[FieldProblem("count", "count applies to page mode")]
            )
        if query.cursor:
            try:
                decode_cursor(query.cursor)
            except InvalidCursor as exc:
                raise ValidationFailed(
                    "the cursor is not valid", errors=[FieldProblem("cursor", str(exc))]
                ) from None
        _check_range(query)

    async def _admit(self, user_id: str) -> None:
        self._decided(user_id, await self._admission.admit(user_id))

    def _decided(self, user_id: str, decision: Decision) -> None:
        charge(user_id)
        self._metrics.users_seen.add(user_id)
        if decision.allowed:
            self._metrics.admitted.inc()
            return
        self._metrics.refused.inc()
        _raise_if_refused(user_id, decision)

    def _created(self, records: Sequence[NewRecord]) -> None:
        self._metrics.records_created.inc(len(records))
        for record in records:
            self._metrics.payload_size.observe(len(record.payload))


def _check_range(query: ListQuery | ExportQuery) -> None:
    if query.created_from and query.created_to and query.created_from > query.created_to:
        raise ValidationFailed(
            "the date range is empty", errors=[FieldProblem("from", "from must not be after to")]
        )


def _may_read(caller: Caller) -> None:
    if caller.principal is not None and not caller.principal.can_read:
        raise Forbidden("the token grants no role that reads records")


def _may_write(caller: Caller) -> None:
    if caller.principal is not None and not caller.principal.can_write:
        raise Forbidden("the token grants no role that writes records")


def _owner(caller: Caller, user_id: str) -> None:
    """With authentication on, a caller acts on its own records only, unless it is an admin."""
    principal = caller.principal
    if principal is not None and not principal.is_admin and user_id != principal.subject:
        raise Forbidden("user_id must be the token's subject")


def _audit(caller: Caller) -> AuditEntry:
    return AuditEntry(actor=caller.actor, request_id=caller.request_id)


def _limit_key(caller: Caller, user_id: str) -> str:
    return user_id if caller.principal is None else caller.principal.subject


def _raise_if_refused(user_id: str, decision: Decision) -> None:
    if not decision.allowed:
        raise RateLimited(
            f"user {user_id!r} may make {decision.limit} requests every {decision.window} seconds",
            limit=decision.limit,
            window=decision.window,
            retry_after=decision.retry_after,
        )


def _encode_payload(payload: dict[str, Any], path: str = "$.payload") -> bytes | FieldProblem:
    """The payload's JSON text, or why it cannot be stored.

    NUL characters are refused in every dialect because PostgreSQL's jsonb cannot hold them:
    a record accepted by one deployment must be storable by any other.
    """
    encoded = _encoder.encode(payload)
    if _NUL.search(encoded):
        return FieldProblem(path, "strings may not contain the NUL character (\\u0000)")
    return encoded


def _cache_key(query: ListQuery) -> str:
    # JSON keeps the parts apart whatever characters a filter value holds.
    return _encoder.encode(
        [
            query.page,
            query.page_size,
            query.cursor,
            query.created_from,
            query.created_to,
            query.type,
            query.status,
            query.count,
        ]
    ).decode()
