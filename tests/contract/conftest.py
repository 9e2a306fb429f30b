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


async def _oracle(request: pytest.FixtureRequest) -> RecordRepository:
    from app.repositories.oracle import OracleRecordRepository

    url = request.getfixturevalue("oracle_db")
    return OracleRecordRepository(url, load_queries(DEFAULT_SQL_DIR, "oracle"), pool_size=2, timeout=30)


@pytest.fixture(params=["sqlite", "postgres", pytest.param("oracle", marks=pytest.mark.oracle)])
async def repository(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RecordRepository]:
    """An open repository on an empty, migrated database of each dialect."""
    opened = {
        "sqlite": lambda: _sqlite(tmp_path),
        "postgres": lambda: _postgres(request),
        "oracle": lambda: _oracle(request),
    }
    repo = await opened[request.param]()
    await repo.open()
    try:
        yield repo
    finally:
        await repo.close()
