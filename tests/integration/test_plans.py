"""On a table of 100,000 rows, half of them one user's: a payload filter and a search use their
indexes (V0006), and a page of that large user's reads about a page of rows, not every one of
hers, however many times the list has run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import msgspec
import pytest

from app.ports.storage import RecordQuery, RecordRepository
from app.schemas.finding import payload_filters, search_terms
from tests import backing
from tests.plans import indexes_used, plan_of, repository_on, statements_sent

pytestmark = pytest.mark.anyio
ROWS = 100_000


@pytest.fixture(scope="module")
def seeded(postgres_url: str) -> str:
    """100,000 records: the even ones alice's, each with its own number, one of 1,000 kinds and a
    word of its own."""
    backing.truncate(postgres_url)

    async def seed() -> None:
        conn = await asyncpg.connect(postgres_url)
        try:
            await conn.execute(
                f"""INSERT INTO data_records (user_id, payload, created_at)
                    SELECT CASE WHEN i % 2 = 0 THEN 'alice' ELSE 'u' || (i % 500) END,
                           jsonb_build_object('n', i, 'kind', 'k' || (i % 1000), 'note', 'word' || i),
                           now() - i * interval '1 second'
                      FROM generate_series(1, {ROWS}) AS i"""
            )
            await conn.execute("ANALYZE data_records")
        finally:
            await conn.close()

    asyncio.run(seed())
    return postgres_url


@pytest.fixture
async def repository(seeded: str) -> AsyncIterator[RecordRepository]:
    async with repository_on(seeded) as repo:
        yield repo


async def index_of(url: str, kind: str) -> set[str]:
    """The names of the partitions' indexes made from V0006's index of this kind."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT indexname FROM pg_indexes WHERE indexdef LIKE '%' || $1 || '%'", kind)
    finally:
        await conn.close()
    return {row[0] for row in rows}


@pytest.mark.parametrize(
    ("asked", "kind", "expected"),
    [
        ({"match": payload_filters({"payload.kind": "k42"})}, "jsonb_path_ops", 100),
        ({"match": payload_filters({"payload.n": "4242"})}, "jsonb_path_ops", 1),
        ({"search": search_terms("word4242")}, "jsonb_to_tsvector", 1),
    ],
    ids=["kind", "number", "search"],
)
@pytest.mark.parametrize("with_total", [False, True], ids=["cursor", "page"])
async def test_a_filter_and_a_search_read_their_index(
    seeded: str,
    repository: RecordRepository,
    monkeypatch: pytest.MonkeyPatch,
    asked: dict[str, Any],
    kind: str,
    expected: int,
    with_total: bool,
) -> None:
    sent = statements_sent(monkeypatch)

    records, total = await repository.get_by_user(
        RecordQuery("alice", limit=200, **asked), with_total=with_total
    )

    assert len(records) == expected and total == (expected if with_total else None)
    assert all(r.user_id == "alice" for r in records)
    assert {msgspec.json.decode(r.payload)["n"] % 2 for r in records} == {0}
    plan = await plan_of(seeded, *sent[0])
    assert indexes_used(plan["Plan"]) & await index_of(seeded, kind), plan


async def test_a_found_page_is_planned_with_its_values_every_time(seeded: str) -> None:
    """A named prepared statement gets a generic plan after five runs, which cannot use a
    filter's index when the filter is optional (`:search IS NULL OR ...`): the search of one
    record would read all of the user's rows from the sixth run on."""
    async with repository_on(seeded, pool=1) as repo:
        query = RecordQuery("alice", limit=20, search=search_terms("word4242"))
        for _ in range(8):
            records, total = await repo.get_by_user(query, with_total=True)
            assert (len(records), total) == (1, 1)
        async with repo.pool.acquire() as conn:  # type: ignore[attr-defined]  # the pool's one connection
            generic = await conn.fetch(
                "SELECT statement FROM pg_prepared_statements"
                " WHERE generic_plans > 0 AND statement LIKE '%jsonb_to_tsvector%'"
                " AND statement NOT LIKE '%pg_prepared_statements%'"
            )

    assert generic == []


async def rows_read(repo: RecordRepository) -> int:
    """How many rows of data_records the database has read from its heap so far, by any scan."""
    async with repo.pool.acquire() as conn:  # type: ignore[attr-defined]  # the pool's one connection
        await conn.execute("SELECT pg_stat_force_next_flush()")  # this connection's reads counted
        return int(
            await conn.fetchval(
                "SELECT sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)) FROM pg_stat_user_tables"
                " WHERE relid IN (SELECT relid FROM pg_partition_tree('data_records'))"
            )
        )


@pytest.mark.parametrize("with_total", [False, True], ids=["cursor", "page"])
async def test_a_large_users_page_reads_a_page_of_rows_after_many_runs(seeded: str, with_total: bool) -> None:
    """A prepared list statement gets a generic plan after five runs, made for a user of average
    size (100 records here): it reads all 50,000 of alice's rows and sorts them for a page of 20.
    The statistics name alice as large, so her pages are planned with her id every time."""
    async with repository_on(seeded, pool=1) as repo:
        async with repo.pool.acquire() as conn:  # type: ignore[attr-defined]
            await conn.execute("VACUUM data_records")  # as autovacuum leaves it: counts read the index
        query = RecordQuery("alice", limit=20)
        for _ in range(8):
            await repo.get_by_user(query, with_total=with_total)
        before = await rows_read(repo)
        records, total = await repo.get_by_user(query, with_total=with_total)
        read = await rows_read(repo) - before

    assert len(records) == 20 and total == (ROWS // 2 if with_total else None)
    assert [r.created_at for r in records] == sorted((r.created_at for r in records), reverse=True)
    assert read < 1_000, f"{read} rows read for a page of 20"


async def test_a_small_users_list_keeps_its_prepared_plan(seeded: str) -> None:
    """Planning with the values costs about half a millisecond over the partitions: a user of
    average size keeps the prepared statement and its generic plan, which suits her."""
    async with repository_on(seeded, pool=1) as repo:
        for _ in range(8):
            records, _ = await repo.get_by_user(RecordQuery("u7", limit=20), with_total=False)
            assert len(records) == 20
        async with repo.pool.acquire() as conn:  # type: ignore[attr-defined]
            generic = await conn.fetchval(
                "SELECT sum(generic_plans) FROM pg_prepared_statements"
                " WHERE statement LIKE '%ORDER BY created_at%'"
                " AND statement NOT LIKE '%pg_prepared_statements%'"
            )

    assert generic and generic >= 3
