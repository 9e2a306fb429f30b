"""The two Oracle bulk paths side by side: array DML (executemany with batcherrors) and the
data_records_bulk.insert_many package procedure (FORALL ... SAVE EXCEPTIONS).

    ORACLE_DSN=oracle://user:password@host:1521/service python -m bench.oracle_bulk

Needs a migrated schema (`APP_DATABASE_URL=$ORACLE_DSN python -m app migrate`). Prints the
median time of 1,000 ~1 KB rows per path, interleaved, and deletes what it inserted.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time

from app.adapters.db.oracle import OracleRecordRepository
from app.adapters.db.oracle_target import OracleTarget
from app.adapters.db.sqlfiles import load_queries
from app.ports.storage import NewRecord
from app.settings import DEFAULT_SQL_DIR
from bench.harness import payload


async def main(rounds: int = 20, batch: int = 1000) -> None:
    url = os.environ.get("ORACLE_DSN") or sys.exit("set ORACLE_DSN=oracle://user:password@host:1521/service")
    queries = load_queries(DEFAULT_SQL_DIR, "oracle")
    paths = {
        name: OracleRecordRepository(url, queries, pool_size=2, timeout=60, bulk_path=name)
        for name in ("array_dml", "plsql")
    }
    times: dict[str, list[float]] = {name: [] for name in paths}
    for repository in paths.values():
        await repository.open()
    try:
        for _ in range(rounds):
            for name, repository in paths.items():
                rows = [NewRecord("bench-bulk", payload(i).encode()) for i in range(batch)]
                started = time.perf_counter()
                outcome = await repository.create_many(rows, all_or_nothing=False)
                times[name].append(time.perf_counter() - started)
                assert len(outcome.stored) == batch, outcome.refused[:3]
    finally:
        conn = await OracleTarget.from_url(url).connect()
        await conn.execute("DELETE FROM data_records WHERE user_id = 'bench-bulk'")
        await conn.commit()
        await conn.close()
        for repository in paths.values():
            await repository.close()
    for name, samples in times.items():
        print(f"{name:10} {statistics.median(samples) * 1000:8.1f} ms per {batch} rows (median of {rounds})")


if __name__ == "__main__":
    asyncio.run(main())
