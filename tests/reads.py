"""Counting the list queries the storage adapters run, past the service and its cache: how a
test sees that an answer came from the cache and not from the database."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from app.adapters.db.postgres import PostgresRecordRepository
from app.adapters.db.sqlite import SqliteRecordRepository
from app.ports.storage import Position, RecordQuery, RecordRepository
from app.schemas.records import Record


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


async def listed(
    repository: RecordRepository, query: RecordQuery, *, with_total: bool
) -> tuple[list[Record], int | None]:
    """A page the repository read, as records, and its count: after checking that the JSON the
    database wrote is, byte for byte, what the service's own encoder makes of those records, and
    that the page says where the next one starts."""
    page = await repository.get_by_user(query, with_total=with_total)
    records = msgspec.json.decode(page.items, type=list[Record])
    assert msgspec.json.encode(records) == page.items
    assert len(records) <= query.limit
    if page.has_more:
        assert len(records) == query.limit
        assert page.next_after == Position(records[-1].created_at, records[-1].id)
    return records, page.total
