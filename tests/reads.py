"""Counting the list queries the storage adapters run, past the service and its cache: how a
test sees that an answer came from the cache and not from the database."""

from __future__ import annotations

from typing import Any

import pytest

from app.adapters.db.postgres import PostgresRecordRepository
from app.adapters.db.sqlite import SqliteRecordRepository


def list_queries(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """From now on, the arguments of every list query (`get_by_user`) any repository runs."""
    reads: list[object] = []
    for adapter in (SqliteRecordRepository, PostgresRecordRepository):
        original = adapter.get_by_user

        async def counted(self: Any, *args: Any, original: Any = original, **kwargs: Any) -> Any:
            reads.append(args)
            return await original(self, *args, **kwargs)

        monkeypatch.setattr(adapter, "get_by_user", counted)
    return reads
