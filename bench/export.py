"""GET /data/export on PostgreSQL, served: rows a second and the server's peak memory for
exports of growing size (100,000 rows, then 1,000,000), one user each, in NDJSON and CSV.

    python -m bench.export [--rows 1000000]

Environment: BENCH_POSTGRES_URL as for bench.production (a database `bench_export` is made
there). The records are ~300 bytes of JSON, as in bench.production. Peak RSS is the largest
process of the server's tree (its worker), read from /proc after each export: one that held
its export in memory would grow by the export's size.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from bench.harness import service, table, worker_peak_rss_mib
from bench.seeding import fresh_database, sql
from tests.backing import migrate_in_thread

SEED = """
INSERT INTO data_records (user_id, payload, created_at, updated_at)
SELECT $1,
       jsonb_build_object(
           'title', 'record ' || i, 'seq', i, 'type', CASE WHEN i % 3 = 0 THEN 'refund' ELSE 'order' END,
           'tags', jsonb_build_array('alpha', 'beta', 'tag' || (i % 97)), 'body', repeat(md5(i::text), 6)),
       now() - make_interval(secs => i), now() - make_interval(secs => i)
FROM generate_series(1, $2) AS s(i)
"""


def export(url: str, user: str, accept: str) -> tuple[int, int, float]:
    """Lines and bytes of one export, and the seconds it took, read as fast as they come."""
    address = urlsplit(url)
    conn = http.client.HTTPConnection(address.hostname, address.port, timeout=600)
    started = time.perf_counter()
    try:
        conn.request("GET", f"/data/export?user_id={user}", headers={"accept": accept})
        answer = conn.getresponse()
        assert answer.status == 200, answer.status
        lines = size = 0
        while chunk := answer.read(1 << 18):
            lines += chunk.count(b"\n")
            size += len(chunk)
    finally:
        conn.close()
    return lines, size, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="the largest export")
    args = parser.parse_args()
    database = fresh_database("bench_export")
    migrate_in_thread(database)
    sizes = [args.rows // 10, args.rows]
    for count in sizes:
        print(f"seeding {count:,} records ...", flush=True)
        asyncio.run(sql(database, SEED, args=(f"user{count}", count)))
    asyncio.run(sql(database, "VACUUM ANALYZE data_records", "SELECT 1"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        env = {"APP_DATABASE_URL": database, "APP_SERVER": "granian", "APP_ACCESS_LOG": "off"}
        with service(env, log=Path(tmp) / "service.log") as (url, pid):
            export(url, f"user{sizes[0]}", "application/x-ndjson")  # warm
            for accept in ("application/x-ndjson", "text/csv"):
                for count in sizes:
                    lines, size, seconds = export(url, f"user{count}", accept)
                    rows.append(
                        {
                            "format": accept,
                            "rows": f"{count:,}",
                            "lines": f"{lines:,}",
                            "MiB": f"{size / 2**20:,.0f}",
                            "seconds": f"{seconds:.1f}",
                            "rows_s": f"{count / seconds:,.0f}",
                            "worker_peak_rss_mib": f"{worker_peak_rss_mib(pid):.0f}",
                        }
                    )
                    print(rows[-1], flush=True)
    print()
    print(table(rows, list(rows[0])))


if __name__ == "__main__":
    main()
