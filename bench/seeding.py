"""The databases `make bench` serves from: a fresh PostgreSQL database a target, seeded with
records shaped like the shared harness's, and a Redis database emptied between scenarios."""

from __future__ import annotations

import asyncio
import os

import asyncpg
import redis

from tests.backing import with_database

POSTGRES = os.environ.get("BENCH_POSTGRES_URL") or os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
# Ids as the service makes them (UUIDv7, app/adapters/db/ids.py): a random UUID whose first 48
# bits become the millisecond of created_at and whose version nibble becomes 7.
SEED = """
INSERT INTO data_records (id, user_id, payload, created_at, updated_at)
SELECT encode(set_bit(set_bit(
           overlay(uuid_send(gen_random_uuid())
                   PLACING substring(int8send((extract(epoch FROM at) * 1000)::bigint) FROM 3) FROM 1 FOR 6),
           52, 1), 53, 1), 'hex')::uuid,
       'u' || ((i - 1) % $2 + 1),
       jsonb_build_object(
           'title', 'record ' || i, 'seq', i, 'score', round((random() * 1000)::numeric, 3),
           'active', (i % 2 = 0), 'type', CASE WHEN i % 3 = 0 THEN 'refund' ELSE 'order' END,
           'tags', jsonb_build_array('alpha', 'beta', 'gamma', 'tag' || (i % 97)),
           'attrs', jsonb_build_object('color', 'blue', 'size', i % 13, 'ratio', 0.25),
           'body', repeat(md5(i::text), 26)),
       at, at
FROM generate_series(1, $1) AS s(i), LATERAL (SELECT now() - make_interval(secs => i) AS at) AS t
"""


async def sql(url: str, *statements: str, args: tuple[object, ...] = ()) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        for statement in statements[:-1]:
            await conn.execute(statement)
        rows = await conn.fetch(statements[-1], *args)
        return [str(r[0]) for r in rows]
    finally:
        await conn.close()


def fresh_database(name: str, server: str = POSTGRES) -> str:
    asyncio.run(sql(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'))
    return with_database(server, name)


def seed(url: str, records: int, users: int) -> list[str]:
    """Seed the table and return a sample of ids for get_by_id."""
    asyncio.run(sql(url, "TRUNCATE data_records", SEED, args=(records, users)))
    return asyncio.run(
        sql(url, "ANALYZE data_records", "SELECT id FROM data_records ORDER BY random() LIMIT 10000")
    )


def flush(db: int) -> None:
    with redis.Redis.from_url(f"{REDIS}/{db}") as client:
        client.flushdb()
