"""`make bench-floor`: the reads that reach the database, served by the service and by the floor
of its design (bench/floor_app.py: Starlette, asyncpg and the same statements, nothing else),
beside the database alone, in one sitting (docs/performance.md, "The floor of the design").

    python -m bench.floor [--rounds 3] [--duration 5s]

Each target is one granian worker on the same seeded PostgreSQL; the service runs with Redis,
metrics and its access log, as in production. Round after round each scenario runs on both, in
turn; each figure is the median round. Besides req/s, the worker's CPU per request (its utime
and stime over the measured run, from /proc, divided by the requests): a figure that does not
move with what else shares the machine's cores, as req/s does.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from pathlib import Path

from bench.ceiling import database_ceiling
from bench.harness import ROOT, arguments, descendants, external, free_port, require_wrk, service, table, wrk
from bench.seeding import REDIS, flush, fresh_database, seed

SCENARIOS = ("get_by_id", "get_cold", "post")  # writes last: the reads run on the seeded rows
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def main() -> None:
    parser = arguments(__doc__)
    parser.set_defaults(scenarios=list(SCENARIOS), duration="5s")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    require_wrk()
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp, ExitStack() as running:
        work = Path(tmp)
        database = fresh_database("bench_floor")
        migrate = [sys.executable, "-m", "app", "migrate"]
        subprocess.run(
            migrate, check=True, capture_output=True, env={**os.environ, "APP_DATABASE_URL": database}
        )
        print(f"seeding {args.records:,} records for {args.users:,} users ...", flush=True)
        ids = seed(database, args.records, args.users)
        (work / "ids.txt").write_text("\n".join(ids) + "\n")
        env = {"APP_DATABASE_URL": database, "APP_REDIS_URL": f"{REDIS}/2", "APP_SERVER": "granian"}
        url, pid = running.enter_context(service(env, log=work / "service.log"))
        targets: dict[str, tuple[str, int, Callable[[], None]]] = {"service": (url, pid, partial(flush, 2))}
        port = free_port()
        floor = [sys.executable, "-m", "granian", "--interface", "asgi", "--loop", "uvloop", "--http", "1"]
        floor += ["--workers", "1", "--no-ws", "--port", str(port), "--log-level", "warning"]
        floor_env = {"BENCH_FLOOR_DSN": database, "PYTHONPATH": str(ROOT)}
        floor_url = f"http://127.0.0.1:{port}"
        pid = running.enter_context(
            external([*floor, "bench.floor_app:app"], floor_env, floor_url, work / "f.log")
        )
        targets["floor"] = (floor_url, pid, lambda: None)
        load = {"IDS_FILE": str(work / "ids.txt"), "COLD_USERS": str(args.users)}
        runs: dict[tuple[str, str], list[dict[str, float]]] = {}
        for number in range(1, args.rounds + 1):
            print(f"round {number} of {args.rounds}", flush=True)
            order = list(targets.items()) if number % 2 else list(targets.items())[::-1]
            for scenario in sorted(args.scenarios, key=lambda s: s == "post"):
                for label, (target_url, target_pid, reset) in order:
                    reset()
                    wrk(target_url, scenario, duration=args.warmup, connections=args.connections, env=load)
                    worker = descendants(target_pid)[-1]
                    before = cpu_seconds(worker)
                    result = wrk(
                        target_url, scenario, duration=args.duration, connections=args.connections, env=load
                    )
                    result["cpu_us"] = (cpu_seconds(worker) - before) / max(1, result["requests"]) * 1e6
                    print(
                        f"{label:8} {scenario:10} {result['req_s']:8.0f} req/s {result['cpu_us']:6.0f} µs",
                        flush=True,
                    )
                    runs.setdefault((label, scenario), []).append(result)
        print("the database alone (pgbench, 64 clients, the service's statements) ...", flush=True)
        alone = {
            row["scenario"]: row for row in database_ceiling(database, ids, args.users, args.duration, work)
        }
    rows = []
    for scenario in args.scenarios:
        median = {
            label: {
                k: statistics.median(r[k] for r in runs[(label, scenario)])
                for k in ("req_s", "p99_ms", "cpu_us")
            }
            for label in targets
        }
        ours, bare = median["service"], median["floor"]
        rows.append(
            {
                "scenario": scenario,
                "service_req_s": round(ours["req_s"]),
                "floor_req_s": round(bare["req_s"]),
                "database_req_s": round(float(str(alone[scenario]["req_s"]))),
                "service_vs_floor": f"{ours['req_s'] / bare['req_s']:.2f}x",
                "floor_vs_database": f"{bare['req_s'] / float(str(alone[scenario]['req_s'])):.2f}x",
                "service_cpu_us": round(ours["cpu_us"]),
                "floor_cpu_us": round(bare["cpu_us"]),
                "service_p99_ms": ours["p99_ms"],
                "floor_p99_ms": bare["p99_ms"],
            }
        )
    print(table(rows, list(rows[0])))
    print(f"(one granian worker each, PostgreSQL on the same machine, median of {args.rounds} rounds)")


if __name__ == "__main__":
    main()
