"""Reads that arrive together on PostgreSQL (many clients reading at once) go to the database as
one statement: reads by id (get_records) and plain pages with their counts
(list_records_together). Each reader still gets exactly what it would have got alone: its own
record or none, its own rows in order and its own count; each id still reads only the
partitions it names; a record stored before the service made its ids, or far from its id's
moment, is still found."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import asyncpg
import msgspec
import pytest

from app.adapters.db.ids import new_id
from app.ports.storage import AuditEntry, NewRecord, RecordQuery, RecordRepository
from tests.integration.test_partitions import partitions_read
from tests.plans import repository_on, statements_sent

pytestmark = pytest.mark.anyio

AUDIT = AuditEntry("tester", "req-1")


class Reads(NamedTuple):
    repository: RecordRepository
    sent: list[tuple[str, tuple[Any, ...]]]  # the statements sent, from the fixture on


@pytest.fixture
async def reads(postgres_db: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Reads]:
    async with repository_on(postgres_db, pool=4) as repo:
        yield Reads(repo, statements_sent(monkeypatch))


async def stored_directly(url: str, statement: str, *args: Any) -> str:
    conn = await asyncpg.connect(url)
    try:
        return str(await conn.fetchval(statement, *args))
    finally:
        await conn.close()


async def test_reads_that_arrive_together_each_get_their_own_record_from_one_statement(
    postgres_db: str, reads: Reads
) -> None:
    stored = [
        await reads.repository.create(NewRecord(f"user-{i % 4}", f'{{"n":{i}}}'.encode()), AUDIT)
        for i in range(12)
    ]
    missing = str(uuid.uuid4())  # no time in it: looked for everywhere in the same statement
    asked = [r.id for r in reversed(stored)] + [missing, stored[3].id.upper(), "not-an-id"]
    reads.sent.clear()

    found = await asyncio.gather(*(reads.repository.get_by_id(record_id) for record_id in asked))

    expected = [(r.id, r.user_id, {"n": 11 - i}) for i, r in enumerate(reversed(stored))]
    got = [(f.id, f.user_id, msgspec.json.decode(f.payload)) for f in found[:12] if f is not None]
    assert got == expected
    assert found[12] is None and found[14] is None
    assert found[13] is not None and found[13].id == stored[3].id
    assert len(reads.sent) == 1, "the reads of one moment in one statement"
    assert "unnest" in reads.sent[0][0]


async def test_each_id_in_a_statement_reads_only_the_partitions_it_names(
    postgres_db: str, reads: Reads
) -> None:
    stored = [await reads.repository.create(NewRecord("alice", b'{"n":1}'), AUDIT) for _ in range(3)]
    reads.sent.clear()

    await asyncio.gather(*(reads.repository.get_by_id(r.id) for r in stored))

    assert len(reads.sent) == 1
    read = await partitions_read(postgres_db, *reads.sent[0])
    assert 1 <= len(read) <= 2, f"read {sorted(read)}"


async def test_records_of_no_time_or_far_from_their_ids_moment_are_found_among_others(
    postgres_db: str, reads: Reads
) -> None:
    fresh = await reads.repository.create(NewRecord("alice", b'{"n":1}'), AUDIT)
    old = await stored_directly(  # as stored before the service made its ids: a UUIDv4
        postgres_db,
        "INSERT INTO data_records (user_id, payload) VALUES ('bob', '{\"n\": 2}') RETURNING id::text",
    )
    drifted = await stored_directly(  # a UUIDv7 of now, created (the database's clock) 40 days ago
        postgres_db,
        "INSERT INTO data_records (id, user_id, payload, created_at, updated_at)"
        " VALUES ($1::uuid, 'carol', '{\"n\": 3}', now() - interval '40 days', now() - interval '40 days')"
        " RETURNING id::text",
        new_id(),
    )

    found = await asyncio.gather(*(reads.repository.get_by_id(i) for i in (fresh.id, old, drifted)))

    assert [(f.id, f.user_id) for f in found if f is not None] == [
        (fresh.id, "alice"),
        (old, "bob"),
        (drifted, "carol"),
    ]


async def test_pages_asked_together_each_get_their_own_rows_and_count_as_asked_alone(reads: Reads) -> None:
    for i in range(5):
        kind = "refund" if i % 2 else "order"
        await reads.repository.create(NewRecord("alice", f'{{"n":{i},"type":"{kind}"}}'.encode()), AUDIT)
    for i in range(3):
        await reads.repository.create(NewRecord("bob", f'{{"n":{i}}}'.encode()), AUDIT)
    since = datetime.now(UTC) - timedelta(days=1)
    asked = [
        RecordQuery("alice", limit=2),
        RecordQuery("alice", limit=2, offset=4),
        RecordQuery("bob", limit=10),
        RecordQuery("alice", limit=10, type="refund"),
        RecordQuery("bob", limit=10, created_from=since),
        RecordQuery("carol", limit=10),  # no records: counted on its own
        RecordQuery("alice", limit=2, offset=10),  # past the end: counted on its own
    ]
    alone = [await reads.repository.get_by_user(q, with_total=True) for q in asked]
    reads.sent.clear()

    together = await asyncio.gather(*(reads.repository.get_by_user(q, with_total=True) for q in asked))

    assert [([r.id for r in rows], total) for rows, total in together] == [
        ([r.id for r in rows], total) for rows, total in alone
    ]
    assert [(len(rows), total) for rows, total in together] == [
        (2, 5),
        (1, 5),
        (3, 3),
        (2, 2),
        (3, 3),
        (0, 0),
        (0, 5),
    ]
    assert all(r.user_id == q.user_id for q, (rows, _) in zip(asked, together, strict=True) for r in rows)
    assert "unnest" in reads.sent[0][0], "the pages of one moment in one statement"
    assert len(reads.sent) == 3, "and the two with no row to carry their count, counted"
