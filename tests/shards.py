"""The user-sharded layout on PostgreSQL alone (docs/scaling.md): shard servers, each migrated by
the service and prepared by sql/postgres/sharding/shard.sql, and a coordinator whose data_records
and data_audit are hash-partitioned by user across them through postgres_fdw
(sql/postgres/sharding/coordinator.sql). All of them are servers of their own, started here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import asyncpg

from app.settings import DEFAULT_SQL_DIR
from tests.backing import migrate_in_thread, run_async
from tests.clusters import DATABASE, Node, servers

LAYOUT = DEFAULT_SQL_DIR / "postgres" / "sharding"


@dataclass
class Sharded:
    coordinator: Node
    shards: list[Node]

    def users_on(self, shard: int, count: int) -> list[str]:
        """`count` user ids whose records live on that shard, as PostgreSQL's hash puts them."""
        found: list[str] = []
        number = 0
        while len(found) < count:
            names = ",".join(f"'user-{n}'" for n in range(number, number + 200))
            found += self.coordinator.sql(
                f"SELECT string_agg(u, ',') FROM unnest(ARRAY[{names}]) AS u WHERE satisfies_hash_partition("
                f"'data_records'::regclass, {len(self.shards)}, {shard}, u::varchar)"
            ).split(",")
            number += 200
        return found[:count]

    def rows_on(self, shard: int, table: str = "data_records") -> int:
        return int(self.shards[shard].sql(f"SELECT count(*) FROM {table}"))


def _apply(url: str, path: str, *settings: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            async with conn.transaction():
                for setting in settings:
                    await conn.execute(setting)
                await conn.execute((LAYOUT / path).read_text())
        finally:
            await conn.close()

    run_async(run())


@contextmanager
def user_sharded(count: int = 2) -> Iterator[Sharded]:
    """A coordinator and `count` shards, migrated and laid out, on free loopback ports."""
    with servers("coordinator", *(f"shard{n}" for n in range(count))) as nodes:
        coordinator, shards = nodes[0], nodes[1:]
        for shard in shards:
            migrate_in_thread(shard.url)
            _apply(shard.url, "shard.sql")
        migrate_in_thread(coordinator.url)
        named = ",".join(f"postgres@127.0.0.1:{shard.port}/{DATABASE}" for shard in shards)
        _apply(coordinator.url, "coordinator.sql", f"SET LOCAL sharding.shards = '{named}'")
        yield Sharded(coordinator, shards)
