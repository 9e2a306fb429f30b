"""asyncpg against psycopg 3 on the bulk path: 1,000 ~1 KB rows in one INSERT ... unnest.

    python -m bench.pg_drivers [DSN]   (default: $TEST_POSTGRES_URL or postgresql://postgres@127.0.0.1/test)

Also times a single-row insert, the create path. Figures are medians of repeated rounds in a
scratch table; both drivers run in the same sitting, interleaved.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
import uuid

import asyncpg
import psycopg

from bench.harness import payload

DSN = (
    sys.argv[1]
    if len(sys.argv) > 1
    else os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1/test")
)
TABLE = "bench_driver_rows"
BULK = f"""INSERT INTO {TABLE} (id, user_id, payload)
SELECT * FROM unnest(%s::uuid[], %s::text[], %s::jsonb[])"""
ONE = f"INSERT INTO {TABLE} (id, user_id, payload) VALUES (%s::uuid, %s, %s::jsonb)"


def rows(n: int) -> tuple[list[str], list[str], list[str]]:
    return (
        [str(uuid.uuid4()) for _ in range(n)],
        [f"u{i % 100}" for i in range(n)],
        [payload(i) for i in range(n)],
    )


async def main(rounds: int = 30, batch: int = 1000, singles: int = 2000) -> None:
    setup = await asyncpg.connect(DSN)
    await setup.execute(
        f"DROP TABLE IF EXISTS {TABLE}; CREATE UNLOGGED TABLE {TABLE} "
        "(id uuid PRIMARY KEY, user_id text, payload jsonb, created_at timestamptz DEFAULT now())"
    )
    apg = await asyncpg.connect(DSN)
    pg3 = await psycopg.AsyncConnection.connect(DSN, autocommit=True, prepare_threshold=0)
    bulk_a, bulk_p = [], []
    for _ in range(rounds):
        data = rows(batch)
        t = time.perf_counter()
        await apg.execute(BULK.replace("%s", "$1", 1).replace("%s", "$2", 1).replace("%s", "$3", 1), *data)
        bulk_a.append(time.perf_counter() - t)
        data = rows(batch)
        t = time.perf_counter()
        await pg3.execute(BULK, data)
        bulk_p.append(time.perf_counter() - t)
    one_a = ONE.replace("%s", "$1", 1).replace("%s", "$2", 1).replace("%s", "$3", 1)
    t = time.perf_counter()
    for i in range(singles):
        await apg.execute(one_a, str(uuid.uuid4()), "u", payload(i))
    single_a = (time.perf_counter() - t) / singles
    t = time.perf_counter()
    for i in range(singles):
        await pg3.execute(ONE, (str(uuid.uuid4()), "u", payload(i)))
    single_p = (time.perf_counter() - t) / singles
    await setup.execute(f"DROP TABLE {TABLE}")
    for conn in (setup, apg):
        await conn.close()
    await pg3.close()
    a, p = statistics.median(bulk_a) * 1000, statistics.median(bulk_p) * 1000
    print(
        f"bulk of {batch} rows, median of {rounds}: asyncpg {a:.1f} ms, psycopg {p:.1f} ms "
        f"(psycopg/asyncpg {p / a:.2f}x)"
    )
    print(
        f"single-row insert, mean of {singles}: asyncpg {single_a * 1e6:.0f} us, "
        f"psycopg {single_p * 1e6:.0f} us "
        f"(psycopg/asyncpg {single_p / single_a:.2f}x)"
    )


if __name__ == "__main__":
    asyncio.run(main())
