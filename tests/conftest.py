"""Fixtures shared by every layer: settings on a fresh migrated SQLite file, and an app client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.testclient import TestClient

from app.builders.storage import build_repository
from app.cli import apply_migrations as migrate
from app.main import Assembled, assemble
from app.ports.storage import RecordQuery
from app.settings import Settings
from tests import backing
from tests.shards import Sharded, user_sharded


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL database for this test run."""
    with backing.postgres_server() as server, backing.scratch_database(server) as url:
        backing.migrate_in_thread(url)
        yield url


@pytest.fixture(scope="session")
def sharded() -> Iterator[Sharded]:
    """PostgreSQL sharded by user through postgres_fdw: a coordinator and two shards, each a
    server of its own started for this test run (tests/shards.py)."""
    with user_sharded(2) as layout:
        yield layout


@pytest.fixture(scope="session")
def oracle_url() -> Iterator[str]:
    """A migrated Oracle schema (ORACLE_DSN or a container), or a skip that says why."""
    with backing.oracle_server() as url:
        backing.migrate_in_thread(url)
        yield url


@pytest.fixture
def oracle_db(oracle_url: str) -> str:
    """The Oracle schema, emptied."""
    backing.oracle_truncate(oracle_url)
    return oracle_url


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    with backing.redis_server() as url:
        yield url


@pytest.fixture(scope="session")
def pgbouncer_url(postgres_url: str) -> Iterator[str]:
    """The test run's PostgreSQL database through PgBouncer in transaction mode."""
    from urllib.parse import urlsplit

    from tests.poolers import pgbouncer, through

    server = urlsplit(postgres_url)
    with pgbouncer(
        server.hostname or "127.0.0.1", server.port or 5432, user=server.username or "postgres"
    ) as port:
        yield through(postgres_url, port)


@pytest.fixture
def pgbouncer_db(pgbouncer_url: str, postgres_db: str) -> str:
    """The test run's PostgreSQL database, emptied, through PgBouncer."""
    return pgbouncer_url


@pytest.fixture
def postgres_db(postgres_url: str) -> str:
    """The test run's PostgreSQL database, emptied."""
    backing.truncate(postgres_url)
    return postgres_url


@pytest.fixture
def redis_url(redis_server_url: str) -> str:
    """The test run's Redis database, flushed."""
    backing.flush(redis_server_url)
    return redis_server_url


@pytest.fixture(params=["sqlite", "postgres+redis", "pgbouncer+redis"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings on empty, migrated storage: the embedded default, the production path, and the
    production path through PgBouncer in transaction mode."""
    if request.param == "sqlite":
        configured = Settings(database_url=f"sqlite:///{tmp_path / 'records.db'}", log_level="warning")
        migrate(configured)
        return configured
    if request.param == "pgbouncer+redis":
        return Settings(
            database_url=request.getfixturevalue("pgbouncer_db"),
            database_pooler="pgbouncer",
            redis_url=request.getfixturevalue("redis_url"),
            log_level="warning",
        )
    return Settings(
        database_url=request.getfixturevalue("postgres_db"),
        redis_url=request.getfixturevalue("redis_url"),
        log_level="warning",
    )


class ServiceClient(TestClient):
    """A test client of an assembled app, with the app's timed background work at hand, and
    a client of its admin port (a real socket) when it has one."""

    def __init__(self, assembled: Assembled, admin_port: int = 0) -> None:
        super().__init__(assembled.app)
        self.assembled = assembled
        self._admin_port = admin_port

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx2.Response:
        """A request to the admin port (APP_METRICS_PORT), where /admin/* is served."""
        assert self._admin_port, "build the app with metrics_port=free_port()"
        with httpx2.Client(base_url=f"http://127.0.0.1:{self._admin_port}", timeout=10) as admin:
            return admin.request(method, path, **kwargs)

    def count_active_users(self) -> None:
        """What the background task does every 10 s."""
        self.portal.call(self.assembled.active_users.count)

    def flush_access_log(self) -> None:
        """What the app does every second."""
        self.portal.call(self.assembled.log_flush.flush)


@pytest.fixture
def make_client(settings: Settings) -> Iterator[Callable[..., ServiceClient]]:
    """Clients of apps built on `settings` with some fields overridden."""
    clients: list[ServiceClient] = []

    def make(**overrides: object) -> ServiceClient:
        configured = replace(settings, **overrides)  # type: ignore[arg-type]
        client = ServiceClient(assemble(configured), configured.metrics_port)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., ServiceClient]) -> ServiceClient:
    """A client of the app with default settings, its lifespan running."""
    return make_client()


@pytest.fixture
def stored_count(settings: Settings) -> Callable[[str], int]:
    """How many records the storage holds for a user, read past the service and its limits."""

    def count(user_id: str) -> int:
        async def run() -> int:
            repository = build_repository(settings)
            await repository.open()
            try:
                _, total = await repository.get_by_user(RecordQuery(user_id, limit=1), with_total=True)
            finally:
                await repository.close()
            return total or 0

        return backing.run_async(run())

    return count
