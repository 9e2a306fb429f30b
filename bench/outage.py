"""What a client sees while the database is down: the service on PostgreSQL (behind the tests'
TCP fault proxy) and Redis, its pages warmed, then the database frozen.

    python -m bench.outage [--duration 10s] [--records 20000] [--users 2000]

Scenarios, each as a warm-up and a measured wrk run: with the database up, `get_hot` (cached
pages) and `get_by_id` (a database read each); then with the database frozen (a black hole, as
a stopped server or a cut network looks) and the pages past their TTL, `get_hot` again (every
page answered stale, Cache-Status says so) and `get_by_id` again (503 with Retry-After, from
the open breaker). Environment as bench.production: BENCH_POSTGRES_URL, BENCH_REDIS_URL
(database 4 is flushed). The first requests after the freeze wait out the database timeout
until the breaker has counted its failures; the frozen phase's warm-up lasts past that, so the
figures are those of the outage as clients live it for most of its length. Every ten seconds
(the breaker's reset time) one request is the trial call and waits a timeout.
"""

from __future__ import annotations

import time
from pathlib import Path
from tempfile import TemporaryDirectory
from urllib.parse import urlsplit, urlunsplit

from bench.harness import RESULT_COLUMNS, arguments, require_wrk, service, table, wrk
from bench.seeding import REDIS, flush, fresh_database, seed
from tests.backing import migrate_in_thread
from tests.faults import BLACK_HOLE, PASS, fault_proxy

TTL = 2  # seconds a page stays fresh here, so that the outage soon serves every page stale


def main() -> None:
    parser = arguments(__doc__)
    parser.set_defaults(records=20_000, users=2_000)
    args = parser.parse_args()
    require_wrk()
    database = fresh_database("bench_outage")
    migrate_in_thread(database)
    print(f"seeding {args.records:,} records for {args.users:,} users ...", flush=True)
    ids = seed(database, args.records, args.users)
    flush(4)
    parts = urlsplit(database)
    with (
        TemporaryDirectory(prefix="bench-outage-") as tmp,
        fault_proxy(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy,
    ):
        work = Path(tmp)
        (work / "ids.txt").write_text("\n".join(ids) + "\n")
        through = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))
        env = {
            "APP_DATABASE_URL": through,
            "APP_REDIS_URL": f"{REDIS}/4",
            "APP_SERVER": "granian",
            "APP_CACHE_TTL_SECONDS": str(TTL),
            "APP_CACHE_MAX_STALE_SECONDS": "600",
            "APP_CACHE_LOCAL_MAX_BYTES": str(64 << 20),
            "APP_RATE_LIMIT_PER_MINUTE": "100000000",  # the budget is not what is measured
        }
        scenario_env = {"HOT_USERS": str(args.users), "IDS_FILE": str(work / "ids.txt")}
        rows = []
        with service(env, log=work / "service.log") as (url, _):

            def run(phase: str, scenario: str, warmup: str = args.warmup) -> None:
                wrk(url, scenario, duration=warmup, connections=args.connections, env=scenario_env)
                result = wrk(
                    url, scenario, duration=args.duration, connections=args.connections, env=scenario_env
                )
                rows.append({"database": phase, "scenario": scenario, **result})
                print(
                    f"{phase:6} {scenario:10} {result['req_s']:9.0f} req/s  p99 {result['p99_ms']:7.2f} ms"
                    f"  2xx {result['ok_req_s']:9.0f}/s  other {result['other_non2xx']:.0f}",
                    flush=True,
                )

            run("up", "get_hot")
            run("up", "get_by_id")
            run("up", "get_hot")  # every hot page read within its TTL just before the outage
            proxy.mode = BLACK_HOLE
            time.sleep(TTL + 1)
            # The requests in flight when the database froze wait out its timeout (5 s) before the
            # breaker opens: the warm-up lasts longer, so the measured run sees the open breaker.
            run("frozen", "get_hot", warmup="8s")
            run("frozen", "get_by_id")
            proxy.mode = PASS
    print()
    print(table(rows, ["database", "scenario", *RESULT_COLUMNS, "ok_req_s"]))


if __name__ == "__main__":
    main()
