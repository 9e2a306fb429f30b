"""PostgreSQL: a request whose Idempotency-Key another transaction holds uncommitted waits for
it a little (the lock timeout), then answers 409; once the other ends, the key is free."""

from __future__ import annotations

import time

import asyncpg
import msgspec
import pytest

from app.adapters.db.postgres import KEY_WAIT_MS, PostgresRecordRepository
from app.adapters.db.sqlfiles import load_queries
from app.errors import IdempotencyKeyBusy
from app.ports.storage import Answer, AuditEntry, IdempotencyKey, NewRecord
from app.settings import DEFAULT_SQL_DIR

pytestmark = pytest.mark.anyio
KEY = IdempotencyKey("tester", "k", "f" * 64, 3600)


async def test_a_key_held_by_a_running_request_is_busy_then_free(postgres_db: str) -> None:
    repository = PostgresRecordRepository(
        postgres_db, load_queries(DEFAULT_SQL_DIR, "postgres"), min_size=1, max_size=2, timeout=5
    )
    other = await asyncpg.connect(postgres_db)
    await repository.open()
    try:
        running = other.transaction()
        await running.start()  # another request, between its records and its commit
        await other.execute(
            "INSERT INTO idempotency_keys (scope, idem_key, fingerprint, status, body, expires_at)"
            " VALUES ('tester', 'k', $1, 201, '\\x'::bytea, 'infinity')",
            "f" * 64,
        )
        started = time.monotonic()
        with pytest.raises(IdempotencyKeyBusy):
            await repository.create_once(
                KEY,
                NewRecord("alice", b"{}"),
                AuditEntry("t", "r"),
                lambda r: Answer(201, msgspec.json.encode(r)),
            )
        waited = time.monotonic() - started
        await running.rollback()  # the other request failed: the key is free again
        kept = await repository.create_once(
            KEY,
            NewRecord("alice", b"{}"),
            AuditEntry("t", "r"),
            lambda r: Answer(201, msgspec.json.encode(r)),
        )
    finally:
        await repository.close()
        await other.close()

    assert KEY_WAIT_MS / 1000 <= waited < KEY_WAIT_MS / 1000 + 1
    assert not kept.replayed
