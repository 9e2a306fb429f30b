"""What the metrics and the access line add to one cached read, in microseconds of CPU, beside
what the whole read costs a served worker: a figure that does not move with the load
generator sharing the machine's cores, as req/s ratios do (docs/performance.md).

    python -m bench.request_cost [--rounds 5] [--duration 8]

1. The per-request work of each, timed in this process on the service's own objects, the
   variants interleaved round after round (median round):
   - metrics: what a cached GET does to them (the user seen, the limiter's decision, the
     cache's hit, the request's latency histogram);
   - access line: AccessLog.write for each request and, amortised, the encoding of its
     batch into a buffer on /dev/null.
2. The worker's CPU per cached read: one granian worker on a seeded SQLite file, pinned to
   one core with wrk pinned to the other, `wrk -t1 -c32` on GET /data?user_id=hot, utime +
   stime of the worker (/proc) over the run divided by the requests; with everything off
   (APP_METRICS=false, APP_ACCESS_LOG=off), with metrics only, and with metrics and the access
   line, in turn round after round. A variant's rate against everything off is the CPU ratio
   (the worker is CPU-bound on its core), each the median of the rounds' ratios.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from app.observability import logging as access
from app.observability.logging import AccessLog
from app.observability.metrics import Metrics
from app.ports.cache import CacheStats
from bench.harness import descendants, require_wrk, service

CALLS = 200_000


def per_call_us(work: Callable[[int], None], calls: int = CALLS) -> float:
    started = time.process_time()
    work(calls)
    return (time.process_time() - started) / calls * 1e6


def nothing(calls: int) -> None:
    clock = time.perf_counter
    for _ in range(calls):
        clock()


def metrics_work() -> Callable[[int], None]:
    metrics = Metrics(version="bench", dialect="sqlite", server="granian", cache="memory")
    stats = CacheStats()
    metrics.watch_cache(stats)

    def run(calls: int) -> None:
        clock = time.perf_counter
        for _ in range(calls):
            started = clock()
            metrics.users_seen.add("hot")
            metrics.admitted.inc()
            stats.local_hits += 1
            metrics.request("GET", "/data", 200, clock() - started)

    return run


def log_work() -> Callable[[int], None]:
    log = AccessLog("all")
    access._out = io.BufferedWriter(io.FileIO(os.devnull, "w"), buffer_size=65536)

    def run(calls: int) -> None:
        clock = time.perf_counter
        for _ in range(calls):
            started = clock()
            log.write(200, "GET", "/data", clock() - started, "hot", None, None)
        log.drain()

    return run


def cpu_seconds(pid: int) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick


SERVED = {
    "everything off": {"APP_METRICS": "false", "APP_ACCESS_LOG": "off"},
    "metrics": {"APP_METRICS": "true", "APP_ACCESS_LOG": "off"},
    "metrics + access line": {"APP_METRICS": "true", "APP_ACCESS_LOG": "all"},
}


def served_us(work: Path, name: str, duration: int) -> float:
    """CPU of the serving processes per cached read, with the settings SERVED names."""
    database = work / f"{name.replace(' ', '-')}.db"
    env = {
        "APP_DATABASE_URL": f"sqlite:///{database}",
        "APP_RATE_LIMIT_PER_MINUTE": "100000000",
        "APP_SERVER": "granian",
        **SERVED[name],
    }
    for stale in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):  # a fresh file each round
        stale.unlink(missing_ok=True)
    subprocess.run(
        [sys.executable, "-m", "app", "migrate"], env={**os.environ, **env}, check=True, capture_output=True
    )
    with service(env, log=database.with_suffix(".log")) as (url, pid):
        for i in range(5):
            body = json.dumps({"user_id": "hot", "payload": {"type": "order", "seq": i}}).encode()
            created = urllib.request.Request(
                f"{url}/data", data=body, headers={"content-type": "application/json"}
            )
            urllib.request.urlopen(created).read()
        serving = descendants(pid)
        for process in serving:
            subprocess.run(["taskset", "-apc", "0", str(process)], check=True, capture_output=True)
        load = ["taskset", "-c", "1", "wrk", "-t1", "-c32", f"{url}/data?user_id=hot"]
        subprocess.run([*load[:-1], "-d3s", load[-1]], check=True, capture_output=True)
        before = sum(cpu_seconds(process) for process in serving)
        out = subprocess.run(
            [*load[:-1], f"-d{duration}s", load[-1]], check=True, capture_output=True, text=True
        )
        spent = sum(cpu_seconds(process) for process in serving) - before
    requests = int(next(line for line in out.stdout.splitlines() if "requests in" in line).split()[0])
    return spent / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=8, help="seconds of load a served round")
    args = parser.parse_args()
    require_wrk()

    variants = {"clock only": nothing, "metrics": metrics_work(), "access line": log_work()}
    timed: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, work in variants.items():
            timed[name].append(per_call_us(work))
    floor = statistics.median(timed["clock only"])
    metrics_us = statistics.median(timed["metrics"]) - floor
    log_us = statistics.median(timed["access line"]) - floor

    served: dict[str, list[float]] = {name: [] for name in SERVED}
    with tempfile.TemporaryDirectory(prefix="bench-cost-") as tmp:
        for number in range(args.rounds):
            in_turn = list(SERVED) if number % 2 == 0 else list(SERVED)[::-1]  # none always first
            for name in in_turn:
                served[name].append(served_us(Path(tmp), name, args.duration))
    off = served["everything off"]

    print("| per cached read | µs of CPU | rate vs everything off |")
    print("|---|---:|---:|")
    for name, rounds in served.items():
        rate = statistics.median(base / spent for base, spent in zip(off, rounds, strict=True))
        print(f"| served worker, {name} | {statistics.median(rounds):.1f} | {rate:.3f}x |")
    bare = statistics.median(off)
    both = metrics_us + log_us
    print(f"| metrics (in process) | {metrics_us:.2f} | {bare / (bare + metrics_us):.3f}x |")
    print(f"| access line (in process) | {log_us:.2f} | {bare / (bare + log_us):.3f}x |")
    print(f"| metrics + access line (in process) | {both:.2f} | {bare / (bare + both):.3f}x |")
    print(
        "\nrounds (µs): "
        + "; ".join(f"{name} {[round(r, 1) for r in rounds]}" for name, rounds in served.items())
    )


if __name__ == "__main__":
    main()
