"""Sharding by user on PostgreSQL's own machinery (docs/scaling.md): every key holds the shard
key, a user's records and audit rows live on the user's shard alone, and a shard that is down
takes its own users' requests with it, not the others'. The contract suite runs the whole
repository on the same layout (tests/contract, "sharded")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import pytest

from app.builders.storage import build_repository
from app.errors import StorageUnavailable
from app.main import assemble
from app.ports.storage import AuditEntry, NewRecord, RecordQuery, RecordRepository
from app.settings import Settings
from tests import backing
from tests.conftest import ServiceClient
from tests.shards import Sharded

pytestmark = pytest.mark.anyio

DISTRIBUTED_BY = {"data_records": "user_id", "data_audit": "owner", "idempotency_keys": "scope"}
AUDIT = AuditEntry("tester", "req-1")


async def test_every_primary_and_unique_key_holds_its_tables_shard_key(postgres_db: str) -> None:
    conn = await asyncpg.connect(postgres_db)
    try:
        keys = await conn.fetch(
            """SELECT c.relname AS table_name, i.indexrelid::regclass::text AS key,
                      array_agg(a.attname::text) AS columns
                 FROM pg_index i
                 JOIN pg_class c ON c.oid = i.indrelid
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                WHERE i.indisunique AND c.relname = ANY ($1::text[])
                GROUP BY c.relname, i.indexrelid""",
            list(DISTRIBUTED_BY),
        )
    finally:
        await conn.close()

    assert {k["table_name"] for k in keys} == set(DISTRIBUTED_BY), "each table has its key"
    for key in keys:
        assert DISTRIBUTED_BY[key["table_name"]] in key["columns"], (
            f"{key['key']} ({', '.join(key['columns'])}) cannot be enforced on one shard"
        )


@pytest.fixture
def layout(sharded: Sharded) -> Sharded:
    """The test run's sharded layout (tests/conftest.py), emptied."""
    backing.truncate(sharded.coordinator.url)
    return sharded


def served_on(layout: Sharded) -> ServiceClient:
    """The whole service on the coordinator, as on any one database."""
    return ServiceClient(assemble(Settings(database_url=layout.coordinator.url, log_level="warning")))


@pytest.fixture
async def repository(layout: Sharded) -> AsyncIterator[RecordRepository]:
    repo = build_repository(
        Settings(
            database_url=layout.coordinator.url,
            pg_pool_min_size=1,
            pg_pool_max_size=2,
            database_timeout_seconds=5,
        )
    )
    await repo.open()
    try:
        yield repo
    finally:
        await repo.close()


async def test_a_users_records_and_audit_rows_live_on_the_users_shard_alone(
    layout: Sharded, repository: RecordRepository
) -> None:
    (first,), (second,) = layout.users_on(0, 1), layout.users_on(1, 1)
    audited = [layout.rows_on(n, "data_audit") for n in (0, 1)]  # the trail is never emptied

    await repository.create(NewRecord(first, b'{"n":1}'), AUDIT)
    await repository.create_many(
        [NewRecord(first, b'{"n":2}'), NewRecord(second, b'{"n":3}'), NewRecord(second, b'{"n":4}')],
        all_or_nothing=True,
        audit=AUDIT,
    )

    assert layout.shards[0].sql("SELECT string_agg(DISTINCT user_id, ',') FROM data_records") == first
    assert layout.shards[1].sql("SELECT string_agg(DISTINCT user_id, ',') FROM data_records") == second
    assert [layout.rows_on(n) for n in (0, 1)] == [2, 2]
    assert [layout.rows_on(n, "data_audit") - audited[n] for n in (0, 1)] == [2, 2]
    records, total = await repository.get_by_user(RecordQuery(second, limit=10), with_total=True)
    assert total == 2 and {bytes(r.payload) for r in records} == {b'{"n": 3}', b'{"n": 4}'}


async def test_a_shard_down_takes_its_own_users_requests_and_no_one_elses(
    layout: Sharded, repository: RecordRepository
) -> None:
    (kept,), (lost,) = layout.users_on(0, 1), layout.users_on(1, 1)
    stored = await repository.create(NewRecord(lost, b'{"n":1}'), AUDIT)

    layout.shards[1].stop("immediate")
    try:
        for round_ in range(3):
            with pytest.raises(StorageUnavailable):
                await repository.create(NewRecord(lost, b'{"n":2}'), AUDIT)
            with pytest.raises(StorageUnavailable):
                await repository.get_by_user(RecordQuery(lost, limit=10), with_total=False)
            await repository.create(NewRecord(kept, f'{{"round":{round_}}}'.encode()), AUDIT)
            records, _ = await repository.get_by_user(RecordQuery(kept, limit=10), with_total=False)
            assert len(records) == round_ + 1
        with pytest.raises(StorageUnavailable):  # a bulk over both shards stores nothing
            await repository.create_many(
                [NewRecord(kept, b'{"bulk":1}'), NewRecord(lost, b'{"bulk":2}')],
                all_or_nothing=True,
                audit=AUDIT,
            )
    finally:
        layout.shards[1].start()

    assert layout.rows_on(0) == 3, "the bulk that could not reach the other shard stored nothing here"
    found = await repository.get_by_id(stored.id)
    assert found is not None and found.user_id == lost, "the shard's users are back with it"


def test_the_service_runs_on_the_coordinator_as_on_one_database(layout: Sharded) -> None:
    (user,) = layout.users_on(1, 1)
    audited = layout.rows_on(1, "data_audit")
    with served_on(layout) as client:
        assert client.get("/ready").status_code == 200
        created = client.post("/data", json={"user_id": user, "payload": {"type": "order", "n": 1}})
        assert created.status_code == 201, created.text
        record = created.json()
        changed = client.patch(
            f"/data/{record['id']}", json={"n": 2},
            headers={"If-Match": created.headers["etag"]},
        )  # fmt: skip
        assert changed.status_code == 200, changed.text
        page = client.get("/data", params={"user_id": user, "type": "order"}).json()
        assert [r["payload"]["n"] for r in page["items"]] == [2]
        deleted = client.delete(f"/data/{record['id']}", headers={"If-Match": changed.headers["etag"]})
        assert deleted.status_code == 204
        assert client.get(f"/data/{record['id']}").status_code == 404

    assert layout.rows_on(1, "data_audit") - audited == 3, "create, update and delete, on the user's shard"


def test_concurrent_changes_of_one_version_answer_one_200_and_412s_never_a_503(layout: Sharded) -> None:
    (user,) = layout.users_on(0, 1)
    with served_on(layout) as client:
        created = client.post("/data", json={"user_id": user, "payload": {"n": 0}})
        tag, path = created.headers["etag"], f"/data/{created.json()['id']}"
        with ThreadPoolExecutor(8) as pool:
            answers = list(
                pool.map(
                    lambda n: client.patch(path, json={"n": n}, headers={"If-Match": tag}).status_code,
                    range(8),
                )
            )

    assert sorted(answers) == [200] + [412] * 7, answers
