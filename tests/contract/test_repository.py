"""What every RecordRepository must do, whatever the dialect."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import msgspec
import pytest

from app.adapters.db.ids import CLOCK_WINDOW, made_at
from app.errors import ServiceError, StorageUnavailable
from app.ports.storage import AuditEntry, NewRecord, Position, RecordQuery, RecordRepository
from tests import backing
from tests.contract.conftest import Database

pytestmark = pytest.mark.anyio
AUDIT = AuditEntry(actor="tester", request_id="req-1")


def new(user_id: str = "alice", **payload: object) -> NewRecord:
    return NewRecord(user_id, msgspec.json.encode(payload))


def payload_of(record) -> dict:
    return msgspec.json.decode(record.payload)


async def test_create_then_get_returns_the_same_record(repository: RecordRepository) -> None:
    created = await repository.create(new(type="order", n=1), AUDIT)

    fetched = await repository.get_by_id(created.id)

    assert fetched is not None
    assert (fetched.id, fetched.user_id) == (created.id, "alice")
    assert payload_of(fetched) == {"type": "order", "n": 1}
    assert fetched.created_at == created.created_at == fetched.updated_at
    assert fetched.created_at.utcoffset() == timedelta(0)


async def test_get_unknown_id_is_none(repository: RecordRepository) -> None:
    assert await repository.get_by_id("00000000-0000-0000-0000-000000000000") is None


async def test_ids_are_unique(repository: RecordRepository) -> None:
    records = await asyncio.gather(*(repository.create(new(), AUDIT) for _ in range(50)))

    assert len({r.id for r in records}) == 50


async def test_get_by_user_is_newest_first_and_only_that_user(repository: RecordRepository) -> None:
    first = await repository.create(new(n=1), AUDIT)
    await repository.create(new("bob"), AUDIT)
    second = await repository.create(new(n=2), AUDIT)

    records, total = await repository.get_by_user(RecordQuery("alice", limit=10), with_total=True)

    assert [r.id for r in records] == [second.id, first.id]
    assert total == 2


async def test_limit_and_offset_page_through(repository: RecordRepository) -> None:
    ids = [(await repository.create(new(n=i), AUDIT)).id for i in range(5)]

    page, total = await repository.get_by_user(RecordQuery("alice", limit=2, offset=2), with_total=True)
    unpaged, none = await repository.get_by_user(RecordQuery("alice", limit=2), with_total=False)

    assert [r.id for r in page] == [ids[2], ids[1]]
    assert total == 5 and none is None and len(unpaged) == 2


async def test_a_page_past_the_end_is_empty_but_still_counts(repository: RecordRepository) -> None:
    for i in range(3):
        await repository.create(new(n=i), AUDIT)

    page, total = await repository.get_by_user(RecordQuery("alice", limit=2, offset=10), with_total=True)

    assert page == [] and total == 3


async def test_keyset_pages_cover_records_created_in_one_batch(repository: RecordRepository) -> None:
    outcome = await repository.create_many([new(i=i) for i in range(9)], all_or_nothing=False, audit=AUDIT)
    seen: list[str] = []
    after = None
    while True:
        page, _ = await repository.get_by_user(RecordQuery("alice", limit=4, after=after), with_total=False)
        seen += [r.id for r in page]
        if len(page) < 4:
            break
        after = Position(page[-1].created_at, page[-1].id)

    assert sorted(seen) == sorted(outcome.stored.values())
    assert len(seen) == len(set(seen)) == 9


async def test_date_range_is_from_inclusive_to_exclusive(repository: RecordRepository) -> None:
    a = await repository.create(new(n=1), AUDIT)
    await asyncio.sleep(0.002)
    b = await repository.create(new(n=2), AUDIT)

    def q(**kw: object) -> RecordQuery:
        return RecordQuery("alice", limit=10, **kw)  # type: ignore[arg-type]

    only_b, _ = await repository.get_by_user(q(created_from=b.created_at), with_total=False)
    only_a, _ = await repository.get_by_user(q(created_to=b.created_at), with_total=False)
    both, total = await repository.get_by_user(
        q(created_from=a.created_at, created_to=b.created_at + timedelta(microseconds=1)), with_total=True
    )

    assert [r.id for r in only_b] == [b.id]
    assert [r.id for r in only_a] == [a.id]
    assert total == 2 and len(both) == 2


async def test_payload_type_and_status_filters(repository: RecordRepository) -> None:
    await repository.create(new(type="order", status="open"), AUDIT)
    paid = await repository.create(new(type="order", status="paid"), AUDIT)
    await repository.create(new(type="refund", status="paid"), AUDIT)
    await repository.create(new(kind="order"), AUDIT)

    orders, n_orders = await repository.get_by_user(
        RecordQuery("alice", limit=10, type="order"), with_total=True
    )
    paid_orders, _ = await repository.get_by_user(
        RecordQuery("alice", limit=10, type="order", status="paid"), with_total=False
    )

    assert n_orders == 2 and len(orders) == 2
    assert [r.id for r in paid_orders] == [paid.id]


async def test_create_many_stores_every_row(repository: RecordRepository) -> None:
    outcome = await repository.create_many([new(i=i) for i in range(100)], all_or_nothing=True, audit=AUDIT)

    assert sorted(outcome.stored) == list(range(100)) and outcome.refused == []
    _, total = await repository.get_by_user(RecordQuery("alice", limit=1), with_total=True)
    assert total == 100
    stored = await repository.get_by_id(outcome.stored[42])
    assert stored is not None and payload_of(stored) == {"i": 42}


async def test_payload_text_survives_unicode_and_big_numbers(repository: RecordRepository) -> None:
    payload = {"s": 'naïve ☃ \\u0000 "q" \\', "big": 2**62, "f": 0.1, "deep": [[{"x": None}]]}

    created = await repository.create(new(**payload), AUDIT)
    fetched = await repository.get_by_id(created.id)

    assert fetched is not None and payload_of(fetched) == payload


async def test_ping_asks_the_database_and_fails_once_it_cannot(repository: RecordRepository) -> None:
    assert await repository.ping() is None  # the database answered
    await repository.close()

    with pytest.raises(StorageUnavailable):
        await repository.ping()


async def test_every_create_writes_its_audit_row(repository: RecordRepository, audit_rows) -> None:
    one = await repository.create(new(n=1), AUDIT)
    many = await repository.create_many(
        [new("bob", n=2), new("carol", n=3)], all_or_nothing=False, audit=AUDIT
    )

    assert await audit_rows(one.id) == [("tester", "create", one.id, "alice", "req-1")]
    for record_id, owner in zip(many.stored.values(), ("bob", "carol"), strict=True):
        assert await audit_rows(record_id) == [("tester", "create", record_id, owner, "req-1")]


async def test_concurrent_creates_fail_alone(repository: RecordRepository, audit_rows) -> None:
    """Creates made together (committed together where the dialect groups them): a row the
    database refuses fails only its own create."""
    results = await asyncio.gather(
        *(repository.create(new("x" * 101 if i == 7 else "alice", i=i), AUDIT) for i in range(40)),
        return_exceptions=True,
    )

    failed = {i: r for i, r in enumerate(results) if isinstance(r, BaseException)}
    assert list(failed) == [7] and isinstance(failed[7], ServiceError) and failed[7].status in (409, 422)
    _, total = await repository.get_by_user(RecordQuery("alice", limit=1), with_total=True)
    assert total == 39
    stored = [r for r in results if not isinstance(r, BaseException)]
    assert await audit_rows(stored[-1].id) == [("tester", "create", stored[-1].id, "alice", "req-1")]


async def test_update_replaces_the_payload_and_counts_the_version_up(repository: RecordRepository) -> None:
    created = await repository.create(new(type="order", n=1), AUDIT)
    assert created.version == 1

    changed = await repository.update(created, msgspec.json.encode({"type": "refund", "n": 2}), AUDIT)

    assert changed is not None
    assert (changed.id, changed.user_id, changed.version) == (created.id, "alice", 2)
    assert payload_of(changed) == {"type": "refund", "n": 2}
    assert changed.created_at == created.created_at
    assert changed.updated_at > created.updated_at  # the database's trigger set it
    fetched = await repository.get_by_id(created.id)
    assert fetched is not None
    assert (fetched.version, fetched.updated_at, payload_of(fetched)) == (
        2,
        changed.updated_at,
        {"type": "refund", "n": 2},
    )
    (listed,), _ = await repository.get_by_user(RecordQuery("alice", limit=5), with_total=False)
    (counted,), total = await repository.get_by_user(RecordQuery("alice", limit=5), with_total=True)
    assert listed.version == counted.version == 2 and total == 1


async def test_two_updates_in_one_clock_tick_both_count(repository: RecordRepository) -> None:
    record = await repository.create(new(n=0), AUDIT)
    for n in range(1, 6):
        changed = await repository.update(record, msgspec.json.encode({"n": n}), AUDIT)
        assert changed is not None
        record = changed

    assert record.version == 6
    fetched = await repository.get_by_id(record.id)
    assert fetched is not None and fetched.version == 6 and payload_of(fetched) == {"n": 5}


async def test_an_update_from_a_stale_read_changes_nothing(repository: RecordRepository) -> None:
    read = await repository.create(new(n=1), AUDIT)
    assert await repository.update(read, msgspec.json.encode({"n": 2}), AUDIT) is not None

    assert await repository.update(read, msgspec.json.encode({"n": 3}), AUDIT) is None

    fetched = await repository.get_by_id(read.id)
    assert fetched is not None and fetched.version == 2 and payload_of(fetched) == {"n": 2}


async def test_delete_removes_the_record_once(repository: RecordRepository) -> None:
    record = await repository.create(new(n=1), AUDIT)
    other = await repository.create(new(n=2), AUDIT)

    assert await repository.delete(record, AUDIT) is True
    assert await repository.delete(record, AUDIT) is False

    assert await repository.get_by_id(record.id) is None
    assert await repository.get_by_id(other.id) is not None
    items, total = await repository.get_by_user(RecordQuery("alice", limit=5), with_total=True)
    assert [r.id for r in items] == [other.id] and total == 1


async def test_a_delete_from_a_stale_read_changes_nothing(repository: RecordRepository) -> None:
    read = await repository.create(new(n=1), AUDIT)
    assert await repository.update(read, msgspec.json.encode({"n": 2}), AUDIT) is not None

    assert await repository.delete(read, AUDIT) is False

    assert await repository.get_by_id(read.id) is not None


async def test_updates_and_deletes_write_their_audit_rows(repository: RecordRepository, audit_rows) -> None:
    record = await repository.create(new(n=1), AUDIT)
    changer = AuditEntry(actor="editor", request_id="req-2")
    changed = await repository.update(record, msgspec.json.encode({"n": 2}), changer)
    assert changed is not None
    assert await repository.update(record, msgspec.json.encode({"n": 3}), changer) is None  # stale: no row
    await repository.delete(changed, AuditEntry(actor="remover", request_id="req-3"))

    assert await audit_rows(record.id) == [
        ("tester", "create", record.id, "alice", "req-1"),
        ("editor", "update", record.id, "alice", "req-2"),
        ("remover", "delete", record.id, "alice", "req-3"),
    ]


async def test_concurrent_updates_of_one_version_let_one_through(repository: RecordRepository) -> None:
    read = await repository.create(new(n=0), AUDIT)

    outcomes = await asyncio.gather(
        *(repository.update(read, msgspec.json.encode({"n": n}), AUDIT) for n in range(1, 6)),
        return_exceptions=True,
    )

    winners = [o for o in outcomes if o is not None and not isinstance(o, BaseException)]
    assert len(winners) == 1
    # A loser finds another version (None), or, on the sharded layout (postgres_fdw's remote
    # transactions are REPEATABLE READ), a serialization failure: nothing changed, so the service
    # retries it and then finds the other version too.
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert all(isinstance(o, StorageUnavailable) and o.safe_to_retry for o in refused), refused
    fetched = await repository.get_by_id(read.id)
    assert fetched is not None and fetched.version == 2 and payload_of(fetched) == payload_of(winners[0])


async def test_export_yields_every_match_newest_first_in_batches(repository: RecordRepository) -> None:
    outcome = await repository.create_many(
        [new(i=i, type="refund" if i % 3 == 0 else "order") for i in range(23)],
        all_or_nothing=True,
        audit=AUDIT,
    )
    await repository.create(new("bob", i=99), AUDIT)
    paged, _ = await repository.get_by_user(RecordQuery("alice", limit=100), with_total=False)

    batches = [b async for b in repository.export(RecordQuery("alice", limit=0), batch=10)]
    refunds = [b async for b in repository.export(RecordQuery("alice", limit=0, type="refund"), batch=10)]

    assert [len(b) for b in batches] == [10, 10, 3]
    assert [r.id for b in batches for r in b] == [r.id for r in paged] and len(outcome.stored) == 23
    assert sorted(payload_of(r)["i"] for b in refunds for r in b) == [0, 3, 6, 9, 12, 15, 18, 21]
    assert [b async for b in repository.export(RecordQuery("nobody", limit=0), batch=10)] == []


async def test_an_export_left_half_way_lets_its_connection_go(repository: RecordRepository) -> None:
    await repository.create_many([new(i=i) for i in range(30)], all_or_nothing=True, audit=AUDIT)

    for _ in range(12):  # more than any pool holds: each abandoned export must give its connection back
        batches = repository.export(RecordQuery("alice", limit=0), batch=5)
        assert len(await anext(batches)) == 5
        await batches.aclose()

    assert sum(p.in_use for p in repository.pools()) == 0
    items, _ = await repository.get_by_user(RecordQuery("alice", limit=100), with_total=False)
    assert len(items) == 30


async def test_estimate_answers_without_counting(database, repository: RecordRepository) -> None:
    await repository.create_many([new(i=i) for i in range(40)], all_or_nothing=True, audit=AUDIT)
    await repository.create_many([new("bob", i=i) for i in range(10)], all_or_nothing=True, audit=AUDIT)
    await backing.analyze(database.url)  # what autovacuum or DBMS_STATS does in a deployment

    alice = await repository.estimate(RecordQuery("alice", limit=0))
    bob = await repository.estimate(RecordQuery("bob", limit=0))

    assert alice is not None and bob is not None
    if database.url.startswith("sqlite"):
        assert (alice, bob) == (40, 10)  # exact below the cap
    elif database.url.startswith("postgresql"):
        # The planner's estimate, from the statistics: of the right size and order, not exact
        # (empty monthly partitions add the planner's guess for a table never filled).
        assert alice > bob and 20 <= alice <= 200 and 5 <= bob <= 100
    else:
        assert alice == bob == 25  # rows per user: 50 rows, 2 users


async def test_new_records_get_ids_that_carry_their_creation_time(repository: RecordRepository) -> None:
    one = await repository.create(new(), AUDIT)
    many = await repository.create_many([new(i=i) for i in range(3)], all_or_nothing=True, audit=AUDIT)

    for record_id in [one.id, *many.stored.values()]:
        moment = made_at(record_id)  # None unless a UUIDv7
        assert moment is not None and abs(moment - one.created_at) < CLOCK_WINDOW
    assert list(many.stored.values()) == sorted(many.stored.values())


async def test_a_record_is_found_by_id_whatever_its_id_says_of_its_time(
    database: Database, repository: RecordRepository
) -> None:
    # Clocks far apart, or a row a DBA moved: created_at lies outside the id's window.
    stored = await repository.create(new(n=1), AUDIT)
    long_ago = stored.created_at - timedelta(days=400)
    await backing.set_times(database.url, stored.id, long_ago)

    found = await repository.get_by_id(stored.id)

    assert found is not None and found.created_at == long_ago and payload_of(found) == {"n": 1}


async def test_the_database_names_its_history_the_same_until_it_is_restored(database: Database) -> None:
    first, again = await database.repository.history(), await database.repository.history()

    assert first == again  # the caches of list pages are keyed by it (services/history.py)
    if database.url.startswith("sqlite"):
        assert first is None  # a SQLite file cannot tell a restored copy from itself
    elif database.url.startswith("oracle"):
        assert first is not None and re.fullmatch(r"\d+:\d+", first)  # DBID:RESETLOGS SCN
    else:
        assert first is not None and re.fullmatch(r"\d+:[0-9A-F]{8}", first)  # system id:timeline
