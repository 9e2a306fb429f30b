"""PostgreSQL's monthly partitions: a record whose id carries its creation time (UUIDv7) is looked
for in the partition it was created in, not in every partition's index; a record stored before (a
UUIDv4 id, no time in it) is still found; maintenance keeps two months ahead and drops the empty
months beyond them, without waiting on the table's readers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from app.adapters.db.sqlfiles import load_queries
from app.ports.storage import AuditEntry, NewRecord, RecordQuery, RecordRepository
from app.settings import DEFAULT_SQL_DIR
from tests.plans import nodes, plan_of, repository_on, statements_sent

pytestmark = pytest.mark.anyio


@pytest.fixture
async def repository(postgres_db: str) -> AsyncIterator[RecordRepository]:
    async with repository_on(postgres_db) as repo:
        yield repo


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...]]]:
    return statements_sent(monkeypatch)


async def partitions_read(url: str, query: str, args: tuple[Any, ...]) -> set[str]:
    """The partitions a statement actually reads (its plan may name more, pruned as it runs)."""
    plan = await plan_of(url, query, args)
    read: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        relation = node.get("Relation Name", "")
        if relation.startswith("data_records_") and node.get("Actual Loops", 0) > 0:
            read.add(relation)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan["Plan"])
    return read


async def test_a_read_by_id_looks_in_the_partition_its_id_names(
    postgres_db: str, repository: RecordRepository, sent: list[tuple[str, tuple[Any, ...]]]
) -> None:
    stored = await repository.create(NewRecord("alice", b'{"n":1}'), AuditEntry("tester", "req-1"))
    conn = await asyncpg.connect(postgres_db)
    try:
        partitions = await conn.fetchval(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'data_records'::regclass"
        )
    finally:
        await conn.close()
    sent.clear()

    found = await repository.get_by_id(stored.id)

    assert found is not None and found.id == stored.id
    assert len(sent) == 1, "one statement for a record found in its id's window"
    read = await partitions_read(postgres_db, *sent[0])
    assert partitions >= 5, "last month to two months ahead, and a default"
    assert 1 <= len(read) <= 2, f"read {sorted(read)} of {partitions} partitions"


async def test_a_record_with_an_id_of_no_time_is_still_found(
    postgres_db: str, repository: RecordRepository
) -> None:
    conn = await asyncpg.connect(postgres_db)
    try:  # as stored before the service made its ids: the column's default, a UUIDv4
        old_id = await conn.fetchval(
            "INSERT INTO data_records (user_id, payload) VALUES ('alice', '{\"n\": 2}') RETURNING id::text"
        )
    finally:
        await conn.close()

    found = await repository.get_by_id(old_id)

    assert found is not None and found.id == old_id and found.user_id == "alice"


@pytest.mark.parametrize("with_total", [False, True], ids=["cursor", "page"])
async def test_a_list_page_comes_in_the_indexs_order_with_no_sort(
    postgres_db: str, repository: RecordRepository, sent: list[tuple[str, tuple[Any, ...]]], with_total: bool
) -> None:
    await repository.create_many(
        [NewRecord("alice", b'{"n":1}')] * 50 + [NewRecord("bob", b'{"n":1}')] * 50,
        all_or_nothing=True,
        audit=AuditEntry("tester", "req-1"),
    )
    sent.clear()

    records, _ = await repository.get_by_user(RecordQuery("alice", limit=10), with_total=with_total)

    assert len(records) == 10 and len(sent) == 1
    plan = await plan_of(postgres_db, *sent[0])
    assert not {"Sort", "Incremental Sort"} & set(nodes(plan["Plan"])), nodes(plan["Plan"])


MAINTAIN = load_queries(DEFAULT_SQL_DIR, "postgres")["maintain_partitions"]
MONTHS = (
    "SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_inherits AS i"
    " JOIN pg_class AS c ON c.oid = i.inhrelid WHERE i.inhparent = 'data_records'::regclass"
)


def months_from_now(*offsets: int) -> str:
    """SQL: the names of the monthly partitions this many months from now's."""
    names = ", ".join(
        f"to_char(date_trunc('month', now()) + interval '{k} months', '\"data_records_y\"YYYY\"m\"MM')"
        for k in offsets
    )
    return f"SELECT ARRAY['data_records_default', {names}]"


@pytest.fixture
async def conn(postgres_db: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the run's database, left with the partitions maintenance keeps."""
    conn = await asyncpg.connect(postgres_db)
    try:
        yield conn
    finally:
        await conn.execute("TRUNCATE data_records CASCADE")
        await conn.fetchrow(MAINTAIN)
        await conn.close()


async def test_maintenance_keeps_two_months_ahead_and_drops_the_empty_months_beyond(
    conn: asyncpg.Connection,
) -> None:
    """A deployment from before it had a year ahead: the empty months go, a month holding a row
    stays, and none that is needed is made again."""
    await conn.fetchval("SELECT data_records_add_partitions(now()::date, 14)")
    await conn.execute(
        "INSERT INTO data_records (user_id, payload, created_at)"
        " VALUES ('alice', '{}', date_trunc('month', now()) + interval '8 months')"
    )

    created, dropped = await conn.fetchrow(MAINTAIN)

    assert (created, dropped) == (0, 10)
    assert await conn.fetchval(MONTHS) == sorted(await conn.fetchval(months_from_now(-1, 0, 1, 2, 8)))
    assert await conn.fetchrow(MAINTAIN) == (0, 0)


async def test_maintenance_leaves_a_month_the_readers_keep_busy_and_waits_for_no_one(
    postgres_db: str, conn: asyncpg.Connection
) -> None:
    """A drop takes the table for itself: behind a reader's open transaction it would wait, and
    every read after it would wait behind it. It gives up on that month at once instead."""
    await conn.fetchval("SELECT data_records_add_partitions(now()::date, 6)")
    reader = await asyncpg.connect(postgres_db)
    try:
        async with reader.transaction():
            await reader.fetch("SELECT id FROM data_records WHERE user_id = 'alice' LIMIT 1")
            created, dropped = await asyncio.wait_for(conn.fetchrow(MAINTAIN), timeout=20)
            assert (created, dropped) == (0, 0)
    finally:
        await reader.close()

    assert await conn.fetchrow(MAINTAIN) == (0, 3)
    assert await conn.fetchval(MONTHS) == sorted(await conn.fetchval(months_from_now(-1, 0, 1, 2)))
