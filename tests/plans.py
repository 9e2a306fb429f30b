"""What PostgreSQL does with the service's statements: each one sent, and its plan as it ran."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest

from app.builders.storage import build_repository
from app.ports.storage import RecordRepository
from app.settings import Settings


def statements_sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...]]]:
    """Every statement the service sends for rows from now on, with its arguments, as sent."""
    statements: list[tuple[str, tuple[Any, ...]]] = []

    def spying(method: Any) -> Any:
        async def spy(self: asyncpg.Connection, query: str, *args: Any, **kwargs: Any) -> Any:
            statements.append((query, args))
            return await method(self, query, *args, **kwargs)

        return spy

    for name in ("fetch", "fetchrow", "fetchval"):
        monkeypatch.setattr(asyncpg.connection.Connection, name, spying(getattr(asyncpg.Connection, name)))
    prepared_fetch = asyncpg.prepared_stmt.PreparedStatement.fetch

    async def spied_fetch(self: asyncpg.prepared_stmt.PreparedStatement, *args: Any, **kwargs: Any) -> Any:
        statements.append((self.get_query(), args))  # an unnamed statement, prepared then run
        return await prepared_fetch(self, *args, **kwargs)

    monkeypatch.setattr(asyncpg.prepared_stmt.PreparedStatement, "fetch", spied_fetch)
    return statements


async def plan_of(url: str, query: str, args: tuple[Any, ...]) -> dict[str, Any]:
    """The statement's plan as it ran, with the arguments it was sent with."""
    conn = await asyncpg.connect(url)
    try:
        return dict(json.loads(await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {query}", *args))[0])
    finally:
        await conn.close()


def nodes(plan: dict[str, Any]) -> list[str]:
    return [plan["Node Type"], *(kind for child in plan.get("Plans", []) for kind in nodes(child))]


def indexes_used(plan: dict[str, Any]) -> set[str]:
    """The indexes a plan's nodes read."""
    named = {plan["Index Name"]} if "Index Name" in plan else set()
    return named.union(*(indexes_used(child) for child in plan.get("Plans", [])))


@asynccontextmanager
async def repository_on(url: str, *, pool: int = 2) -> AsyncIterator[RecordRepository]:
    """An open PostgreSQL repository on `url`, its pool of at most `pool` connections."""
    repo = build_repository(Settings(database_url=url, pg_pool_min_size=1, pg_pool_max_size=pool))
    await repo.open()
    try:
        yield repo
    finally:
        await repo.close()
