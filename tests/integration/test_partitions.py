"""A read by id on PostgreSQL's monthly partitions: a record whose id carries its creation time
(UUIDv7) is looked for in the partition it was created in, not in every partition's index; a
record stored before (a UUIDv4 id, no time in it) is still found."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from app.ports.storage import AuditEntry, NewRecord, RecordQuery, RecordRepository
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
    assert partitions > 10, "the migration makes a year of monthly partitions and a default"
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
