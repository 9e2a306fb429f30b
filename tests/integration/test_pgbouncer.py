"""The PostgreSQL adapter behind a real PgBouncer in transaction mode (tests/poolers.py), under
concurrency: the service's connections share the pooler's few server connections between
transactions, which is where session state and prepared statements would break."""

from __future__ import annotations

import asyncio

import pytest

from app.builders.storage import build_repository
from app.ports.storage import AuditEntry, NewRecord, RecordQuery
from app.settings import Settings

pytestmark = pytest.mark.anyio
AUDIT = AuditEntry("tester", "req")


async def test_concurrent_reads_writes_and_exports_share_the_poolers_server_connections(
    pgbouncer_db: str,
) -> None:
    rounds = 10
    repository = build_repository(Settings(database_url=pgbouncer_db, database_pooler="pgbouncer"))
    await repository.open()
    try:
        users = [f"u{n}" for n in range(32)]

        async def work(user: str) -> int:
            done = 0
            for n in range(rounds):
                await repository.create(NewRecord(user, b'{"n": %d}' % n), AUDIT)
                records, total = await repository.get_by_user(
                    RecordQuery(user_id=user, limit=20), with_total=True
                )
                assert total == len(records) == n + 1
                found = await repository.get_by_id(records[0].id)
                assert found is not None and found.user_id == user
                async for batch in repository.export(RecordQuery(user, 0), batch=2):
                    done += len(batch)
            return done

        exported = await asyncio.gather(*(work(user) for user in users))
    finally:
        await repository.close()

    assert exported == [sum(range(1, rounds + 1))] * len(users)
