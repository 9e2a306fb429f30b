"""touch_users, the database's procedure (PL/SQL, PL/pgSQL, one SQLite statement): the same
effect and the same audit trail on every dialect."""

from __future__ import annotations

import pytest

from app.ports.storage import AuditEntry, NewRecord, RecordRepository

pytestmark = pytest.mark.anyio


async def test_touch_users_counts_every_listed_users_records_up_and_audits_each(
    repository: RecordRepository, audit_rows
) -> None:
    stored = [
        await repository.create(NewRecord(user, b'{"n": 1}'), AuditEntry("maker", "req-0"))
        for user in ("alice", "alice", "bob", "carol")
    ]

    touched = await repository.touch_users(["alice", "bob", "nobody"], AuditEntry("toucher", "req-9"))

    assert touched == 3
    after = [await repository.get_by_id(r.id) for r in stored]
    assert [r.version for r in after if r] == [2, 2, 2, 1]
    assert all(
        now.updated_at > before.updated_at for now, before in zip(after[:3], stored[:3], strict=True) if now
    )
    assert after[3] == stored[3]  # carol's record is as it was
    for record in stored[:3]:
        rows = await audit_rows(record.id)
        assert ("toucher", "update", record.id, record.user_id, "req-9") in rows
    assert await repository.touch_users(["nobody"], AuditEntry("toucher", "req-10")) == 0
