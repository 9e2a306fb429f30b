"""Filters on any payload field, full-text search and sorting: the same answers on every dialect."""

from __future__ import annotations

import msgspec
import pytest

from app.ports.storage import AuditEntry, NewRecord, Position, RecordQuery, RecordRepository
from app.schemas.finding import Sort, payload_filters, search_terms, sort_of

pytestmark = pytest.mark.anyio
AUDIT = AuditEntry(actor="tester", request_id="req-1")


def new(user_id: str = "alice", **payload: object) -> NewRecord:
    return NewRecord(user_id, msgspec.json.encode(payload))


def names(records) -> list[str]:
    return [msgspec.json.decode(r.payload)["name"] for r in records]


async def store(repository: RecordRepository, *payloads: dict[str, object], user: str = "alice") -> None:
    """One at a time, so that created_at orders them as given (the last is the newest)."""
    for payload in payloads:
        await repository.create(new(user, **payload), AUDIT)


async def found(
    repository: RecordRepository, params: dict[str, str] | None = None, **query: object
) -> tuple[list[str], int | None]:
    records, total = await repository.get_by_user(
        RecordQuery("alice", limit=query.pop("limit", 50), match=payload_filters(params or {}), **query),
        with_total=True,
    )
    return names(records), total


@pytest.fixture
async def orders(repository: RecordRepository) -> RecordRepository:
    await store(
        repository,
        {"name": "a", "total": 12.5, "paid": True, "tag": "x", "due": "2026-01-05T00:00:00Z"},
        {"name": "b", "total": "12.5", "paid": 1, "tag": "y", "due": "2026-02-05T00:00:00Z"},
        {"name": "c", "total": 12, "paid": False, "tag": "z", "note": None},
        {"name": "d", "tag": ["x"], "paid": None},
        {"name": "e", "total": 100, "paid": True, "tag": "x", "due": "2026-03-05T00:00:00Z"},
    )
    await store(repository, {"name": "bob's", "total": 12.5, "paid": True}, user="bob")
    return repository


async def test_an_equality_compares_the_json_type_and_the_value(orders: RecordRepository) -> None:
    assert await found(orders, {"payload.total": "12.5"}) == (["a"], 1)
    assert await found(orders, {"payload.total": '"12.5"'}) == (["b"], 1)  # the string, quoted
    assert await found(orders, {"payload.total": "12.50"}) == (["a"], 1)  # a number as a number
    assert await found(orders, {"payload.paid": "true"}) == (["e", "a"], 2)  # not the 1
    assert await found(orders, {"payload.paid": "false"}) == (["c"], 1)
    assert await found(orders, {"payload.paid": "null"}) == (["d"], 1)
    assert await found(orders, {"payload.tag": "x"}) == (["e", "a"], 2)  # not the array holding it
    assert await found(orders, {"payload.missing": "x"}) == ([], 0)


async def test_filters_all_apply_with_in_gt_lt_and_exists(orders: RecordRepository) -> None:
    assert await found(orders, {"payload.tag__in": "x,z"}) == (["e", "c", "a"], 3)
    assert await found(orders, {"payload.total__gt": "12"}) == (["e", "a"], 2)  # numbers only
    assert await found(orders, {"payload.total__lt": "12.5"}) == (["c"], 1)
    assert await found(orders, {"payload.due__gt": "2026-02-01T00:00:00Z"}) == (["e", "b"], 2)
    assert await found(orders, {"payload.due__lt": "2026-02-01T00:00:00Z"}) == (["a"], 1)
    assert await found(orders, {"payload.note__exists": "true"}) == (["c"], 1)  # null is there
    assert await found(orders, {"payload.total__exists": "false"}) == (["d"], 1)
    both = {"payload.paid": "true", "payload.total__lt": "50"}
    assert await found(orders, both) == (["a"], 1)
    assert await found(orders, {"payload.tag": "x"}, type="order") == ([], 0)  # the old filters too


async def test_a_search_finds_every_word_and_each_phrase_as_a_phrase(repository: RecordRepository) -> None:
    await store(
        repository,
        {"name": "a", "note": "Blue widget, large", "sku": 4711},
        {"name": "b", "note": "large blue crate", "nested": {"text": "widget"}},
        {"name": "c", "note": "red widget"},
    )
    await store(repository, {"name": "bob's", "note": "blue widget"}, user="bob")

    assert await found(repository, search=search_terms("widget blue")) == (["b", "a"], 2)
    assert await found(repository, search=search_terms('"blue widget"')) == (["a"], 1)
    assert await found(repository, search=search_terms("BLUE Large")) == (["b", "a"], 2)  # case folded
    assert await found(repository, search=search_terms("4711")) == (["a"], 1)  # numbers are words
    assert await found(repository, search=search_terms("green")) == ([], 0)
    assert await found(repository, {"payload.sku": "4711"}, search=search_terms("widget")) == (["a"], 1)


async def test_a_search_can_be_ordered_by_relevance(repository: RecordRepository) -> None:
    await store(
        repository,
        {"name": "most", "a": "widget", "b": "widget widget", "c": "widget"},
        {"name": "once", "note": "a widget and many other words to dilute it entirely here"},
    )

    by_relevance = sort_of("relevance", searched=True)
    assert await found(repository, search=search_terms("widget"), sort=by_relevance) == (["most", "once"], 2)


async def test_pages_sort_by_a_payload_field_either_way_or_oldest_first(orders: RecordRepository) -> None:
    numbers = {"payload.total__exists": "true"}

    by_total = await found(orders, numbers, sort=sort_of("payload.total", searched=False))
    by_total_down = await found(orders, numbers, sort=sort_of("-payload.total", searched=False))

    assert by_total == (["c", "a", "e", "b"], 4)  # numbers in order, then strings
    assert by_total_down == (["e", "a", "c", "b"], 4)
    oldest = await found(orders, sort=Sort(descending=False))
    assert oldest == (["a", "b", "c", "d", "e"], 5)
    lacking = await found(orders, sort=sort_of("payload.due", searched=False))
    assert lacking == (["a", "b", "e", "d", "c"], 5)  # without the field: last, newest first


async def test_found_pages_count_their_matches_even_past_the_end(orders: RecordRepository) -> None:
    first = await found(orders, {"payload.paid": "true"}, limit=1)
    past = await found(orders, {"payload.paid": "true"}, limit=1, offset=5)

    assert first == (["e"], 2)
    assert past == ([], 2)


async def test_a_found_list_walks_by_cursor(orders: RecordRepository) -> None:
    query = RecordQuery("alice", limit=1, match=payload_filters({"payload.tag": "x"}))
    (newest,), _ = await orders.get_by_user(query, with_total=False)
    after = Position(newest.created_at, newest.id)
    (older,), _ = await orders.get_by_user(
        RecordQuery("alice", limit=1, after=after, match=query.match), with_total=False
    )

    assert names([newest, older]) == ["e", "a"]


async def test_an_export_holds_what_the_filters_and_the_search_find(orders: RecordRepository) -> None:
    query = RecordQuery("alice", limit=0, match=payload_filters({"payload.tag": "x"}))
    searched = RecordQuery("alice", limit=0, search=search_terms("z"))

    exported = [r for batch in [b async for b in orders.export(query, batch=1)] for r in batch]
    searched_out = [r for batch in [b async for b in orders.export(searched, batch=10)] for r in batch]

    assert names(exported) == ["e", "a"]
    assert names(searched_out) == ["c"]
