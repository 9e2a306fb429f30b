"""Start and stop on real PostgreSQL and Redis: whatever the lifespan opened is closed, however
far the start got."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis
from starlette.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests import backing


def connections(postgres_url: str, redis_url: str) -> tuple[int, int]:
    """Connections PostgreSQL holds to the test database and Redis holds, besides ours."""

    async def count() -> int:
        import asyncpg

        conn = await asyncpg.connect(postgres_url)
        try:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid()"
                )
            )
        finally:
            await conn.close()

    with redis.Redis.from_url(redis_url) as r:
        clients = len(r.client_list()) - 1
    return backing.run_async(count()), clients


def test_a_start_that_fails_late_closes_the_pools_it_had_opened(
    postgres_db: str, redis_url: str, tmp_path: Path
) -> None:
    empty = tmp_path / "jwks.json"
    empty.write_text(json.dumps({"keys": []}))  # the key set is read last, and holds no key
    settings = Settings(
        database_url=postgres_db,
        redis_url=redis_url,
        auth_mode="jwt",
        jwt_jwks_file=str(empty),
        jwt_audience="data-service",
        jwt_issuer="https://idp.example/",
        log_level="warning",
    )
    before = connections(postgres_db, redis_url)

    with pytest.raises(RuntimeError, match="no usable key"), TestClient(create_app(settings)):
        pass

    assert connections(postgres_db, redis_url) == before


def test_a_stopped_app_leaves_no_connection_behind(postgres_db: str, redis_url: str) -> None:
    settings = Settings(database_url=postgres_db, redis_url=redis_url, log_level="warning")
    before = connections(postgres_db, redis_url)

    with TestClient(create_app(settings)) as client:
        assert client.get("/data", params={"user_id": "alice"}).status_code == 200
        assert connections(postgres_db, redis_url) > before

    assert connections(postgres_db, redis_url) == before


def test_the_services_sessions_are_named_in_pg_stat_activity(postgres_db: str) -> None:
    settings = Settings(database_url=postgres_db, log_level="warning")

    async def names() -> list[str]:
        import asyncpg

        conn = await asyncpg.connect(postgres_db)
        try:
            rows = await conn.fetch(
                "SELECT application_name FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return [r[0] for r in rows]
        finally:
            await conn.close()

    with TestClient(create_app(settings)) as client:
        client.get("/data", params={"user_id": "alice"})
        seen = backing.run_async(names())

    assert seen and set(seen) == {"data-service"}  # a DBA can tell the service's sessions apart
