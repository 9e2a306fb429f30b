"""Fixtures shared by every layer: settings on a fresh migrated SQLite file, and an app client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app.__main__ import migrate
from app.main import create_app
from app.settings import Settings


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings on a new SQLite file with the schema applied."""
    configured = Settings(database_url=f"sqlite:///{tmp_path / 'records.db'}", log_level="warning")
    migrate(configured)
    return configured


@pytest.fixture
def make_client(settings: Settings) -> Iterator[Callable[..., TestClient]]:
    """Clients of apps built on `settings` with some fields overridden."""
    clients: list[TestClient] = []

    def make(**overrides: object) -> TestClient:
        client = TestClient(create_app(replace(settings, **overrides)))  # type: ignore[arg-type]
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    """A client of the app with default settings, its lifespan running."""
    return make_client()
