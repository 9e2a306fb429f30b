"""RecordService rules, with an in-memory stand-in for storage."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from app.adapters.memory.gate import MemoryReadGate
from app.adapters.memory.limiter import MemoryLimiter
from app.adapters.memory.pages import MemoryPageCache
from app.auth import Caller
from app.errors import NotFound, RateLimited, ValidationFailed
from app.ports.cache import Page, StalePage
from app.ports.storage import AuditEntry, BulkOutcome, NewRecord, RecordQuery, RowError
from app.schemas.records import CreateRecord, ListQuery, Record
from app.services.bulk import BulkRequest
from app.services.cursor import decode_cursor
from app.services.records import RecordService

pytestmark = pytest.mark.anyio
ANON = Caller(principal=None, request_id="test")


async def listed(records: RecordService, query: ListQuery) -> Any:
    """The page the service answers, decoded, and its tag checked to be the page's own."""
    page = await records.list_page(query, ANON)
    assert isinstance(page, Page) and page == Page.of(page.body)
    return msgspec.json.decode(page.body)


class StubRepository:
    """Keeps records in a list; can refuse chosen bulk rows and slow down reads."""

    def __init__(self, refuse: Sequence[int] = (), read_delay: float = 0.0) -> None:
        self.records: list[Record] = []
        self.reads = 0
        self.refuse = set(refuse)
        self.read_delay = read_delay
        self.last_bulk: list[NewRecord] = []
        self.audits: list[AuditEntry] = []

    def _store(self, new: NewRecord) -> Record:
        moment = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=len(self.records))
        record = Record(
            id=f"id{len(self.records)}",
            user_id=new.user_id,
            payload=msgspec.Raw(new.payload),
            created_at=moment,
            updated_at=moment,
        )
        self.records.append(record)
        return record

    async def create(self, record: NewRecord, audit: AuditEntry) -> Record:
        self.audits.append(audit)
        return self._store(record)

    async def create_many(
        self, records: Sequence[NewRecord], *, all_or_nothing: bool, audit: AuditEntry
    ) -> BulkOutcome:
        self.last_bulk = list(records)
        self.audits.append(audit)
        refused = [RowError(i, "refused") for i in range(len(records)) if i in self.refuse]
        if all_or_nothing and refused:
            return BulkOutcome({}, refused)
        return BulkOutcome(
            {i: self._store(r).id for i, r in enumerate(records) if i not in self.refuse}, refused
        )

    async def get_by_id(self, record_id: str) -> Record | None:
        return next((r for r in self.records if r.id == record_id), None)

    async def get_by_user(self, query: RecordQuery, *, with_total: bool) -> tuple[list[Record], int | None]:
        self.reads += 1
        await asyncio.sleep(self.read_delay)
        mine = sorted(
            (r for r in self.records if r.user_id == query.user_id),
            key=lambda r: (r.created_at, r.id),
            reverse=True,
        )
        if query.after is not None:
            mine = [r for r in mine if (r.created_at, r.id) < (query.after.created_at, query.after.id)]
        return mine[query.offset : query.offset + query.limit], len(mine) if with_total else None


def service(repository: StubRepository, rate: int = 1000) -> RecordService:
    pages = MemoryPageCache(max_bytes=1 << 20, ttl_seconds=300)
    return RecordService(
        repository,
        pages,
        limiter := MemoryLimiter(rate=rate),
        MemoryReadGate(limiter, pages),
        page_size_default=2,
        bulk_max_items=5,
    )


def raw(**item: object) -> msgspec.Raw:
    return msgspec.Raw(msgspec.json.encode(item))


async def test_hundred_concurrent_misses_on_one_page_make_one_query() -> None:
    repository = StubRepository(read_delay=0.05)
    records = service(repository)

    pages = await asyncio.gather(*(records.list_page(ListQuery(user_id="alice"), ANON) for _ in range(100)))

    assert repository.reads == 1
    assert len(set(pages)) == 1


async def test_cached_page_is_served_until_the_user_writes() -> None:
    repository = StubRepository()
    records = service(repository)
    await records.list_page(ListQuery(user_id="alice"), ANON)
    await records.list_page(ListQuery(user_id="alice"), ANON)
    assert repository.reads == 1

    await records.create(CreateRecord(user_id="alice", payload={}), ANON)
    page = await listed(records, ListQuery(user_id="alice"))

    assert repository.reads == 2 and page["total"] == 1


async def test_a_write_during_a_slow_read_is_in_the_next_read() -> None:
    repository = StubRepository(read_delay=0.05)
    records = service(repository)

    slow_read = asyncio.create_task(records.list_page(ListQuery(user_id="alice"), ANON))
    await asyncio.sleep(0.01)
    await records.create(CreateRecord(user_id="alice", payload={}), ANON)
    await slow_read
    after = await listed(records, ListQuery(user_id="alice"))

    assert after["total"] == 1


async def test_page_mode_and_cursor_mode() -> None:
    repository = StubRepository()
    records = service(repository)
    for i in range(3):
        await records.create(CreateRecord(user_id="alice", payload={"i": i}), ANON)

    first = await listed(records, ListQuery(user_id="alice"))
    rest = await listed(records, ListQuery(user_id="alice", cursor=first["next_cursor"]))

    assert (first["page"], first["total"], first["has_more"]) == (1, 3, True)
    assert decode_cursor(first["next_cursor"]).id == first["items"][-1]["id"]
    assert (rest["page"], rest["total"], rest["has_more"]) == (None, None, False)
    assert [r["payload"]["i"] for r in first["items"] + rest["items"]] == [2, 1, 0]


async def test_bulk_maps_database_refusals_back_to_request_indexes() -> None:
    repository = StubRepository(refuse=[1])  # the second *valid* item: request index 2
    records = service(repository)

    result = await records.create_many(
        BulkRequest(
            [
                raw(user_id="a", payload={}),
                raw(user_id=1, payload={}),
                raw(user_id="b", payload={}),
                raw(user_id="c", payload={}),
            ]
        ),
        caller=ANON,
    )

    assert [s.index for s in result.stored] == [0, 3]
    assert [(r.index, r.path) for r in result.rejected] == [(1, "$.items[1].user_id"), (2, "$.items[2]")]
    assert [r.user_id for r in repository.last_bulk] == ["a", "b", "c"]


async def test_bulk_all_or_nothing_with_a_database_refusal_stores_none() -> None:
    repository = StubRepository(refuse=[0])
    records = service(repository)

    with pytest.raises(ValidationFailed) as raised:
        await records.create_many(
            BulkRequest([raw(user_id="a", payload={})], all_or_nothing=True), caller=ANON
        )

    assert repository.records == [] and raised.value.errors[0].path == "$.items[0]"


async def test_bulk_over_the_maximum_touches_nothing() -> None:
    repository = StubRepository()

    with pytest.raises(ValidationFailed):
        await service(repository).create_many(BulkRequest([raw(user_id="a", payload={})] * 6), caller=ANON)

    assert repository.last_bulk == []


async def test_bulk_charges_each_named_user_once() -> None:
    repository = StubRepository()
    records = service(repository, rate=1)

    await records.create_many(BulkRequest([raw(user_id="a", payload={})] * 3), caller=ANON)

    with pytest.raises(RateLimited):
        await records.create(CreateRecord(user_id="a", payload={}), ANON)
    await records.create(CreateRecord(user_id="b", payload={}), ANON)


async def test_unknown_or_absurd_ids_are_not_found() -> None:
    records = service(StubRepository())

    for record_id in ("nope", "x" * 10_000):
        with pytest.raises(NotFound):
            await records.get(record_id, ANON)


async def test_while_the_database_is_away_a_stale_page_answers_without_a_load() -> None:
    from tests.clock import Clock

    clock = Clock(0.0)
    repository = StubRepository()
    pages = MemoryPageCache(max_bytes=1 << 20, ttl_seconds=10, max_stale_seconds=60, clock=clock)
    away = False
    records = RecordService(
        repository,
        pages,
        limiter := MemoryLimiter(rate=1000),
        MemoryReadGate(limiter, pages),
        database_away=lambda: away,
    )
    fresh = await records.list_page(ListQuery(user_id="alice"), ANON)
    clock.now = 15  # past the TTL

    away = True
    stale = await records.list_page(ListQuery(user_id="alice"), ANON)
    away = False
    reloaded = await records.list_page(ListQuery(user_id="alice"), ANON)

    assert isinstance(stale, StalePage) and stale.page == fresh and stale.overdue == 5
    assert repository.reads == 2  # the first load and the one once the database is back
    assert reloaded == fresh
