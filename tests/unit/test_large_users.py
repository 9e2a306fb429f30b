"""The large users' reading (app/adapters/db/postgres/plans.py): what a failed reading leaves."""

from __future__ import annotations

import pytest

from app.adapters.db.postgres.plans import LargeUsers
from app.errors import StorageUnavailable

pytestmark = pytest.mark.anyio


async def test_a_failed_reading_keeps_the_users_known_before_it() -> None:
    answers: list[frozenset[str] | Exception] = [
        frozenset({"alice"}),
        StorageUnavailable("the database could not be reached"),
        frozenset({"alice", "bob"}),
    ]

    async def learn() -> frozenset[str]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    large = LargeUsers(learn)
    seen = []
    for _ in range(3):
        await large.refresh()
        seen.append(large.users)

    assert seen == [{"alice"}, {"alice"}, {"alice", "bob"}]
