"""One body of repository tests, run against every dialect that can be reached here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.builders.storage import build_repository
from app.ports.storage import RecordRepository
from app.settings import Settings
from tests import backing


@dataclass
class Database:
    """An empty, migrated database of one dialect, and its open repository."""

    url: str
    repository: RecordRepository

    async def audit_rows(self, record_id: str) -> list[tuple[str, ...]]:
        """(actor, action, record_id, owner, request_id) of the record's audit rows."""
        return await backing.read_audit(self.url, record_id)


def _url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'contract.db'}"
        backing.migrate_in_thread(url)
        return url
    if request.param == "sharded":
        coordinator = request.getfixturevalue("sharded").coordinator.url
        backing.truncate(coordinator)
        return str(coordinator)
    fixture = {"postgres": "postgres_db", "pgbouncer": "pgbouncer_db", "oracle": "oracle_db"}[request.param]
    return str(request.getfixturevalue(fixture))


@pytest.fixture(
    params=["sqlite", "postgres", "pgbouncer", "sharded", pytest.param("oracle", marks=pytest.mark.oracle)]
)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    url = _url(request, tmp_path)
    repo = build_repository(
        Settings(
            database_url=url,
            database_pooler="pgbouncer" if request.param == "pgbouncer" else "none",
            sqlite_readers=2,
            pg_pool_min_size=1,
            pg_pool_max_size=4,
            oracle_pool_size=2,
            database_timeout_seconds=30,
        )
    )
    await repo.open()
    try:
        yield Database(url, repo)
    finally:
        await repo.close()


@pytest.fixture
def repository(database: Database) -> RecordRepository:
    """An open repository on an empty, migrated database of each dialect."""
    return database.repository


@pytest.fixture
def audit_rows(database: Database) -> Callable[[str], Awaitable[list[tuple[str, ...]]]]:
    return database.audit_rows
