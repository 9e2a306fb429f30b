"""One body of repository tests, run against every dialect that can be reached here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.repositories.postgres import PostgresRecordRepository
from app.repositories.protocol import RecordRepository
from app.repositories.sqlfiles import load_migrations, load_queries
from app.repositories.sqlite import SqliteRecordRepository, migrate_sqlite
from app.settings import DEFAULT_SQL_DIR


async def _sqlite(tmp_path: Path) -> RecordRepository:
    path = str(tmp_path / "contract.db")
    migrate_sqlite(path, load_migrations(DEFAULT_SQL_DIR, "sqlite"))
    return SqliteRecordRepository(path, load_queries(DEFAULT_SQL_DIR, "sqlite"), readers=2)


async def _postgres(request: pytest.FixtureRequest) -> RecordRepository:
    url = request.getfixturevalue("postgres_db")
    return PostgresRecordRepository(
        url, load_queries(DEFAULT_SQL_DIR, "postgres"), min_size=1, max_size=4, timeout=10
    )


@pytest.fixture(params=["sqlite", "postgres"])
async def repository(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RecordRepository]:
    """An open repository on an empty, migrated database of each dialect."""
    repo = await (_sqlite(tmp_path) if request.param == "sqlite" else _postgres(request))
    await repo.open()
    try:
        yield repo
    finally:
        await repo.close()
