"""The production path under load: the service on PostgreSQL and Redis, side by side with the
peer implementation and the bare-framework ceiling when BENCH_PEER_DIR names the yardstick
folder (the one holding peers/fastapi_ref and peers/ceiling).

    python -m bench.production [--duration 10s] [--records 100000] [--users 10000]

Environment: BENCH_POSTGRES_URL (a server where the bench may create databases; default
TEST_POSTGRES_URL or postgresql://postgres@127.0.0.1:5432/postgres), BENCH_REDIS_URL (default
redis://127.0.0.1:6379; databases 2 and 1 are flushed), BENCH_PEER_DIR (optional).
Every target gets the same seeded rows and the same wrk scenarios, one after the other.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import redis

from bench.harness import (
    arguments,
    peak_rss_mib,
    require_wrk,
    service,
    table,
    worker_peak_rss_mib,
    wrk,
)
from tests.services import with_database

POSTGRES = os.environ.get("BENCH_POSTGRES_URL") or os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
SEED = """
INSERT INTO data_records (user_id, payload, created_at, updated_at)
SELECT 'u' || ((i - 1) % $2 + 1),
       jsonb_build_object(
           'title', 'record ' || i, 'seq', i, 'score', round((random() * 1000)::numeric, 3),
           'active', (i % 2 = 0), 'type', CASE WHEN i % 3 = 0 THEN 'refund' ELSE 'order' END,
           'tags', jsonb_build_array('alpha', 'beta', 'gamma', 'tag' || (i % 97)),
           'attrs', jsonb_build_object('color', 'blue', 'size', i % 13, 'ratio', 0.25),
           'body', repeat(md5(i::text), 26)),
       now() - make_interval(secs => i), now() - make_interval(secs => i)
FROM generate_series(1, $1) AS s(i)
"""


async def _sql(url: str, *statements: str, args: tuple[object, ...] = ()) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        for statement in statements[:-1]:
            await conn.execute(statement)
        rows = await conn.fetch(statements[-1], *args)
        return [str(r[0]) for r in rows]
    finally:
        await conn.close()


def fresh_database(name: str) -> str:
    asyncio.run(_sql(POSTGRES, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'))
    return with_database(POSTGRES, name)


def seed(url: str, records: int, users: int) -> list[str]:
    """Seed the table and return a sample of ids for get_by_id."""
    asyncio.run(_sql(url, "TRUNCATE data_records", SEED, args=(records, users)))
    return asyncio.run(
        _sql(url, "ANALYZE data_records", "SELECT id FROM data_records ORDER BY random() LIMIT 10000")
    )


def flush(db: int) -> None:
    with redis.Redis.from_url(f"{REDIS}/{db}") as client:
        client.flushdb()


@contextmanager
def external(command: list[str], env: dict[str, str], url: str, log: Path) -> Iterator[int]:
    """A yardstick server started by its own script; yields its PID once /health answers."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 600  # the first start builds the peer's virtualenv
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{command[0]} did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.5)
        yield process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def load(
    label: str,
    url: str,
    pid: int,
    scenarios: list[str],
    args: argparse.Namespace,
    env: dict[str, str],
    reset: int | None,
) -> list[dict[str, object]]:
    rows = []
    for scenario in scenarios:
        if reset is not None:
            flush(reset)
        wrk(url, scenario, duration=args.warmup, connections=args.connections, env=env)
        result = wrk(url, scenario, duration=args.duration, connections=args.connections, env=env)
        rows.append(
            {
                "target": label,
                "scenario": scenario,
                **result,
                "worker_rss_mib": worker_peak_rss_mib(pid),
                "total_rss_mib": peak_rss_mib(pid),
            }
        )
        print(
            f"{label:8} {scenario:10} {result['req_s']:9.0f} req/s  p50 {result['p50_ms']:7.2f} ms"
            f"  p99 {result['p99_ms']:7.2f} ms  429 {result['status_429']:.0f}"
            f"  other {result['other_non2xx']:.0f}",
            flush=True,
        )
    return rows


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--hot-users", type=int, default=5000)
    args = parser.parse_args()
    require_wrk()
    peer_dir = os.environ.get("BENCH_PEER_DIR")

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        rows: list[dict[str, object]] = []
        base_env = {"HOT_USERS": str(args.hot_users), "COLD_USERS": str(args.users)}

        ours = fresh_database("bench_service")
        subprocess.run(
            [sys.executable, "-m", "app", "migrate"],
            check=True,
            capture_output=True,
            env={**os.environ, "APP_DATABASE_URL": ours},
        )
        print(f"seeding {args.records:,} records for {args.users:,} users ...", flush=True)
        (work / "ids.txt").write_text("\n".join(seed(ours, args.records, args.users)) + "\n")
        env = {"APP_DATABASE_URL": ours, "APP_REDIS_URL": f"{REDIS}/2", "APP_SERVER": "granian"}
        with service(env, log=work / "service.log") as (url, pid):
            rows += load(
                "service",
                url,
                pid,
                args.scenarios,
                args,
                {**base_env, "IDS_FILE": str(work / "ids.txt")},
                reset=2,
            )

        if peer_dir:
            peer = fresh_database("bench_peer")
            peer_url = "http://127.0.0.1:8081"
            peer_env = {
                "DATABASE_URL": peer.replace("postgresql://", "postgresql+asyncpg://", 1),
                "REDIS_URL": f"{REDIS}/1",
            }
            with external(
                [f"{peer_dir}/peers/fastapi_ref/run.sh"], peer_env, peer_url, work / "peer.log"
            ) as pid:
                (work / "peer_ids.txt").write_text("\n".join(seed(peer, args.records, args.users)) + "\n")
                rows += load(
                    "peer",
                    peer_url,
                    pid,
                    args.scenarios,
                    args,
                    {**base_env, "IDS_FILE": str(work / "peer_ids.txt")},
                    reset=1,
                )
            with external(
                [f"{peer_dir}/peers/ceiling/run.sh"],
                {"CEILING_SERVER": "granian"},
                "http://127.0.0.1:8082",
                work / "ceiling.log",
            ) as pid:
                rows += load(
                    "ceiling",
                    "http://127.0.0.1:8082",
                    pid,
                    [s for s in args.scenarios if s in ("get_hot", "health")],
                    args,
                    base_env,
                    None,
                )

        print()
        print(
            table(
                rows,
                [
                    "target",
                    "scenario",
                    "req_s",
                    "p50_ms",
                    "p99_ms",
                    "status_429",
                    "other_non2xx",
                    "worker_rss_mib",
                    "total_rss_mib",
                ],
            )
        )
        by = {(str(r["target"]), str(r["scenario"])): r for r in rows}

        def ratio(scenario: str, other: str, column: str, digits: int) -> str:
            ours_row, their_row = by.get(("service", scenario)), by.get((other, scenario))
            if not ours_row or not their_row:
                return ""
            return f"{float(str(ours_row[column])) / float(str(their_row[column])):.{digits}f}x"

        ratios = [
            {
                "scenario": scenario,
                "req_s vs peer": ratio(scenario, "peer", "req_s", 1),
                "p99 vs peer": ratio(scenario, "peer", "p99_ms", 2),
                "req_s vs ceiling": ratio(scenario, "ceiling", "req_s", 2),
                "worker RSS vs peer": ratio(scenario, "peer", "worker_rss_mib", 2),
            }
            for scenario in args.scenarios
            if ("peer", scenario) in by
        ]
        if ratios:
            print()
            print(table(ratios, list(ratios[0])))


if __name__ == "__main__":
    main()
