"""`make bench-abuse`: what abusive clients do to one served worker on PostgreSQL + Redis, on
loopback, bounded in time, printed as a table (docs/performance.md, "Abusive clients").

    python -m bench.abuse [--flood 3000] [--bodies 200] [--slow 200] [--soak-minutes 30]

- flood: one client opens --flood connections (half after one request, half silent) and leaves
  them idle; 50 new clients, one after another, each time their first answer.
- slow: --slow clients send their headers a byte a second while 50 new clients are timed.
- bodies: --bodies clients POST a body just under 1 MiB at once: answers by status, p50, the
  worker's RSS before, at its peak and 5 s after the burst.
- soak: a mix of cached reads and writes (wrk) for --soak-minutes in one-minute runs: the
  worker's RSS slope, throughput of the first and last 5 minutes, open file descriptors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.harness import ROOT, descendants, require_wrk, service, table, wrk
from bench.seeding import REDIS, flush, fresh_database, seed

BODY = 1_040_000  # just under the 1 MiB limit on a record's body


def worker(pid: int) -> int:
    """The server's worker process (the deepest below it)."""
    return descendants(pid)[-1]


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


async def first_answer(port: int) -> tuple[float, bytes]:
    """Seconds a new client waits for its first answer on a new connection, and its status."""
    started = time.monotonic()
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 120)
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 120)
    writer.close()
    return time.monotonic() - started, answer[9:12]


async def timed_clients(port: int, count: int = 50) -> dict[str, object]:
    answers = [await first_answer(port) for _ in range(count)]
    waits = sorted(seconds for seconds, _ in answers)
    statuses = Counter(status.decode() or "none" for _, status in answers)
    return {
        "new_p50_ms": waits[len(waits) // 2] * 1000,
        "new_p99_ms": waits[-1] * 1000,
        "new_status": " ".join(f"{k}:{v}" for k, v in sorted(statuses.items())),
    }


async def flood(port: int, connections: int) -> dict[str, object]:
    async def one(i: int) -> asyncio.StreamWriter | None:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
            if i % 2 == 0:
                writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            return writer
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            return None

    held = await asyncio.gather(*(one(i) for i in range(connections)))
    try:
        return {"held": sum(w is not None for w in held), **await timed_clients(port)}
    finally:
        for writer in held:
            if writer is not None:
                writer.close()


async def slow(port: int, clients: int) -> dict[str, object]:
    request = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"
    cut: list[float] = []

    async def drip() -> None:
        started = time.monotonic()
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            for byte in request:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(1)
        except OSError:
            pass
        cut.append(time.monotonic() - started)

    dripping = [asyncio.create_task(drip()) for _ in range(clients)]
    await asyncio.sleep(2)
    timed = await timed_clients(port)
    await asyncio.wait(dripping, timeout=120)
    for task in dripping:
        task.cancel()
    return {"held": clients, **timed, "slow_cut_after_s": statistics.median(cut) if cut else None}


async def bodies(port: int, pid: int, clients: int) -> dict[str, object]:
    payload = {"lines": ["x" * 10_000] * (BODY // 10_004)}

    def request(i: int) -> bytes:  # each client a user of its own: no rate limit in the way
        body = json.dumps({"user_id": f"big{i}", "payload": payload}).encode()
        return (
            b"POST /data HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )

    before = rss_mib(pid)
    peak = before

    async def one(i: int) -> tuple[int, float]:
        started = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request(i))
        answer = await reader.read()
        writer.close()
        return int(answer.split(b" ", 2)[1]), time.monotonic() - started

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, rss_mib(pid))
            await asyncio.sleep(0.02)

    watching = asyncio.create_task(watch())
    answers = await asyncio.gather(*(one(i) for i in range(clients)))
    watching.cancel()
    await asyncio.sleep(5)
    statuses = Counter(status for status, _ in answers)
    return {
        "answers": " ".join(f"{s}:{n}" for s, n in sorted(statuses.items())),
        "p50_s": statistics.median(t for _, t in answers),
        "rss_before_mib": before,
        "rss_peak_mib": peak,
        "rss_after_mib": rss_mib(pid),
    }


def soak(url: str, pid: int, minutes: int, env: dict[str, str]) -> dict[str, object]:
    rates: list[float] = []
    samples: list[tuple[float, float]] = []
    started = time.monotonic()
    for minute in range(minutes):
        scenario = "post" if minute % 4 == 3 else "get_hot"  # a write-minute every four
        rates.append(wrk(url, scenario, duration="60s", connections=64, env=env)["req_s"])
        samples.append(((time.monotonic() - started) / 60, rss_mib(pid)))
    slope = statistics.linear_regression(*zip(*samples, strict=True)).slope if len(samples) > 1 else 0.0
    window = min(5, len(rates))
    return {
        "minutes": minutes,
        "rss_first_mib": samples[0][1],
        "rss_last_mib": samples[-1][1],
        "rss_slope_mib_per_min": slope,
        "req_s_first": statistics.mean(rates[:window]),
        "req_s_last": statistics.mean(rates[-window:]),
        "open_fds": len(os.listdir(f"/proc/{pid}/fd")),
    }


def log_volume(env: dict[str, str], load: dict[str, str], folder: Path) -> list[dict[str, object]]:
    """Access-log bytes a million requests at 9 reads to 1 write, for each APP_ACCESS_LOG."""
    rows: list[dict[str, object]] = []
    for policy in ("all", "sample:100", "errors"):
        log = folder / f"log-{policy.replace(':', '-')}.log"
        with service({**env, "APP_ACCESS_LOG": policy, "APP_LOG_LEVEL": "warning"}, log=log) as (url, _):
            started = log.stat().st_size
            reads = wrk(url, "get_hot", duration="10s", connections=32, env=load)["requests"]
            after_reads = log.stat().st_size
            writes = wrk(url, "post", duration="5s", connections=32, env=load)["requests"]
        per_read = (after_reads - started) / reads
        per_write = (log.stat().st_size - after_reads) / writes
        rows.append(
            {
                "abuse": f"log {policy}",
                "bytes_a_read": per_read,
                "bytes_a_write": per_write,
                "mb_a_million_9_to_1": (0.9 * per_read + 0.1 * per_write),  # bytes x 1e6 / 1e6
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--flood", type=int, default=3000)
    parser.add_argument("--slow", type=int, default=200)
    parser.add_argument("--bodies", type=int, default=200)
    parser.add_argument("--soak-minutes", type=int, default=30)
    parser.add_argument("--log", help="a folder to keep the service's log in")
    parser.add_argument("--only", nargs="+", default=["flood", "slow", "bodies", "logs"])
    args = parser.parse_args()
    require_wrk()
    url_db = fresh_database("bench_abuse")
    subprocess.run(
        [sys.executable, "-m", "app", "migrate"],
        check=True,
        capture_output=True,
        env={**os.environ, "APP_DATABASE_URL": url_db},
    )
    seed(url_db, 20_000, 2_000)
    flush(4)
    env = {"APP_DATABASE_URL": url_db, "APP_REDIS_URL": f"{REDIS}/4", "APP_SERVER": "granian"}
    rows: list[dict[str, object]] = []
    log = Path(args.log or tempfile.mkdtemp(prefix="abuse-")) / "service.log"
    with service(env, log=log) as (url, pid):
        port = int(url.rsplit(":", 1)[1])
        target = worker(pid)
        load = {"HOT_USERS": "2000", "COLD_USERS": "2000"}
        for name, run in (
            ("flood", lambda: flood(port, args.flood)),
            ("slow", lambda: slow(port, args.slow)),
            ("bodies", lambda: bodies(port, target, args.bodies)),
        ):
            if name not in args.only:
                continue
            print(f"{name} ...", flush=True)
            rows.append({"abuse": name, **asyncio.run(run())})
        if "logs" in args.only:
            print("log volume ...", flush=True)
            rows += log_volume(env, load, log.parent)
        if args.soak_minutes:
            print(f"soak, {args.soak_minutes} min ...", flush=True)
            rows.append({"abuse": "soak", **soak(url, target, args.soak_minutes, load)})
    columns = list(dict.fromkeys(k for row in rows for k in row))
    print(table(rows, columns))
    print(f"(a worker of {ROOT.name}, one process, PostgreSQL + Redis, loopback)")


if __name__ == "__main__":
    main()
