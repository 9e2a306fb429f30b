"""The same app on granian, uvicorn and hypercorn, on a seeded SQLite file, side by side.

    python -m bench.servers [--servers granian uvicorn hypercorn] [--duration 10s]

Each server gets a fresh copy of one seeded database (100,000 records, 10 for each of
u1..u10000) and runs every scenario after a warm-up; figures print as a Markdown table.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bench.harness import (
    RESULT_COLUMNS,
    arguments,
    copy_database,
    peak_rss_mib,
    require_wrk,
    sample_ids,
    seed_sqlite,
    service,
    table,
    wrk,
)


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--servers", nargs="+", default=["granian", "uvicorn", "hypercorn"])
    args = parser.parse_args()
    require_wrk()

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        seeded = work / "seed.db"
        print(f"seeding {args.records:,} records for {args.users:,} users ...", flush=True)
        seed_sqlite(seeded, args.records, args.users)
        ids_file = work / "ids.txt"
        ids_file.write_text("\n".join(sample_ids(seeded, 10_000)) + "\n")
        load_env = {"IDS_FILE": str(ids_file), "HOT_USERS": "5000", "COLD_USERS": str(args.users)}
        rows: list[dict[str, object]] = []
        for server in args.servers:
            database = work / f"{server}.db"
            copy_database(seeded, database)
            env = {
                "APP_SERVER": server,
                "APP_DATABASE_URL": f"sqlite:///{database}",
                **{k: v for k, v in os.environ.items() if k.startswith("APP_") and k != "APP_SERVER"},
            }
            with service(env, log=work / f"{server}.log") as (url, pid):
                for scenario in args.scenarios:
                    wrk(url, scenario, duration=args.warmup, connections=args.connections, env=load_env)
                    result = wrk(
                        url, scenario, duration=args.duration, connections=args.connections, env=load_env
                    )
                    row = {
                        "server": server,
                        "scenario": scenario,
                        **result,
                        "peak_rss_mib": peak_rss_mib(pid),
                    }
                    rows.append(row)
                    print(
                        f"{server:10} {scenario:10} {result['req_s']:9.0f} req/s"
                        f"  p50 {result['p50_ms']:7.2f} ms"
                        f"  p99 {result['p99_ms']:7.2f} ms  429s {result['status_429']:.0f}"
                        f"  other non-2xx {result['other_non2xx']:.0f}",
                        flush=True,
                    )
        print()
        print(table(rows, ["server", "scenario", *RESULT_COLUMNS, "peak_rss_mib"]))


if __name__ == "__main__":
    main()
