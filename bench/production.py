"""The production path under load: the service on PostgreSQL and Redis, side by side with the
peer implementation and the bare-framework ceiling when BENCH_PEER_DIR names the yardstick
folder (the one holding peers/fastapi_ref and peers/ceiling).

    python -m bench.production [--duration 10s] [--records 100000] [--users 10000] [--baseline REF]

Environment: BENCH_POSTGRES_URL (a server where the bench may create databases; default
TEST_POSTGRES_URL or postgresql://postgres@127.0.0.1:5432/postgres), BENCH_REDIS_URL (default
redis://127.0.0.1:6379; databases 2 and 1 are flushed), BENCH_PEER_DIR (optional).
Every target gets the same seeded rows and the same wrk scenarios. All targets run at once
(idle but for the one under load); round after round, each scenario runs on each target back
to back, and the figures are each target's median round (--rounds, 3 by default).

--baseline REF (or BENCH_BASELINE=REF, e.g. `make bench BENCH_BASELINE=main`) also serves the
service as it was at that git commit, on the same database, so that a change is measured
before and after in one sitting and reported as a ratio.

--variant LABEL:NAME=VALUE[,NAME=VALUE...] (repeatable) also serves this tree with those APP_*
settings changed, e.g. `--variant no-log:APP_ACCESS_LOG=off`, reported against the baseline
(or against the target --reference names: `--variant off:APP_METRICS=false,APP_ACCESS_LOG=off
--reference off` measures what the defaults cost over everything off, in one build).

A ratio against the baseline is the median of the rounds' ratios: each round's figures were
taken minutes apart, so the machine's drift falls on both of a pair and mostly cancels.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bench.ceiling import database_ceiling
from bench.harness import (
    FINDING,
    ROOT,
    arguments,
    checkout,
    external,
    peak_rss_mib,
    require_wrk,
    service,
    worker_peak_rss_mib,
    wrk,
)
from bench.report import draw, report
from bench.seeding import POSTGRES, REDIS, flush, fresh_database, seed, sql
from tests.backing import with_database
from tests.clusters import primary_with_replicas
from tests.poolers import pgbouncer, through
from tests.redis_cluster import redis_cluster
from tests.shards import user_sharded


@dataclass(frozen=True)
class Target:
    """One server under test, and what its scenarios need."""

    label: str
    url: str
    pid: int
    env: dict[str, str]
    reset: Callable[[], None] | None  # empties the target's Redis before each scenario
    scenarios: tuple[str, ...]
    database: str | None = None  # where `post` writes; its rows are deleted after each round


def page_tags(target: Target, users: int, where: Path) -> dict[str, str]:
    """TAGS_FILE for get_hot_304: each hot user's page 1 and its ETag, as a client kept them."""
    lines = []
    for n in range(1, users + 1):
        with urllib.request.urlopen(f"{target.url}/data?user_id=u{n}&page=1&page_size=20") as answer:
            tag = answer.headers.get("etag")
        if tag:  # a build without list ETags (a baseline) answers 200s instead
            lines.append(f"u{n}\t{tag}")
    where.write_text("\n".join(lines or ["u1\tnone"]) + "\n")
    return {"TAGS_FILE": str(where)}


def measure(target: Target, scenario: str, args: argparse.Namespace) -> dict[str, object]:
    """One warm-up and one measured wrk run of a scenario against a target."""
    env = target.env
    if scenario == "get_hot_304":
        where = Path(tempfile.gettempdir()) / f"bench-tags-{target.label}.txt"
        env = {**env, **page_tags(target, args.hot_users, where)}
    if target.reset is not None:
        target.reset()
    wrk(target.url, scenario, duration=args.warmup, connections=args.connections, env=env)
    result = wrk(target.url, scenario, duration=args.duration, connections=args.connections, env=env)
    if scenario in ("post", "write_read") and target.database:  # the next reads see the seeded rows
        asyncio.run(
            sql(
                target.database,
                "DELETE FROM data_records WHERE user_id LIKE 'w%' OR user_id LIKE 'r%'",
                "VACUUM ANALYZE data_records",
                "CHECKPOINT",  # the writes' flush does not fall on whoever runs next
                "SELECT 1",
            )
        )
    print(
        f"{target.label:8} {scenario:10} {result['req_s']:9.0f} req/s  p50 {result['p50_ms']:7.2f} ms"
        f"  p99 {result['p99_ms']:7.2f} ms  429 {result['status_429']:.0f}"
        f"  other {result['other_non2xx']:.0f}",
        flush=True,
    )
    return {"target": target.label, "scenario": scenario, **result}


def median_row(runs: list[dict[str, object]], target: Target) -> dict[str, object]:
    """A target's scenario over every round: the median of each figure (one stall in one round
    moves a p99 a lot), the sum of the refusals, and the worker's peak memory over the
    whole sitting."""
    row: dict[str, object] = {"target": target.label, "scenario": runs[0]["scenario"]}
    for column in ("req_s", "p50_ms", "p99_ms"):
        row[column] = statistics.median(float(str(r[column])) for r in runs)
    for column in ("status_429", "other_non2xx"):
        row[column] = sum(float(str(r[column])) for r in runs)
    row["rounds"] = ", ".join(f"{float(str(r['req_s'])):,.0f}" for r in runs)
    row["worker_rss_mib"] = worker_peak_rss_mib(target.pid)
    row["total_rss_mib"] = peak_rss_mib(target.pid)
    return row


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--hot-users", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3, help="times each scenario runs on each target")
    parser.add_argument(
        "--baseline",
        default=os.environ.get("BENCH_BASELINE") or None,
        metavar="REF",
        help="also serve the service at this git commit, side by side",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LABEL:NAME=VALUE,...",
        help="also serve this tree with these settings changed",
    )
    parser.add_argument(
        "--scale-out",
        action="store_true",
        help="run on a PostgreSQL primary and streaming replica the bench starts, PgBouncer in front"
        " of the primary; a variant's values may name {replica} and {pgbouncer}, the service's"
        " database there",
    )
    parser.add_argument(
        "--redis-cluster",
        action="store_true",
        help="also start a Redis Cluster (3 masters, 3 replicas); a variant's values may name"
        " {redis_cluster}, its URL",
    )
    parser.add_argument(
        "--sharded",
        action="store_true",
        help="also start PostgreSQL sharded by user (a coordinator and two shards through"
        " postgres_fdw), seeded alike; a variant's values may name {sharded}, the coordinator",
    )
    parser.add_argument(
        "--reference",
        default="baseline",
        metavar="LABEL",
        help="the target the ratios are against: baseline (default) or a variant's label",
    )
    parser.add_argument(
        "--chart",
        default=str(ROOT / "docs" / "performance.png"),
        metavar="PNG",
        help="draw req/s and p99 of every target and scenario here (docs/performance.png; empty: none)",
    )
    args = parser.parse_args()
    require_wrk()
    peer_dir = os.environ.get("BENCH_PEER_DIR")

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp, ExitStack() as running:
        work = Path(tmp)
        base_env = {"HOT_USERS": str(args.hot_users), "COLD_USERS": str(args.users)}
        targets: list[Target] = []

        server, places = POSTGRES, {}
        if args.scale_out:
            cluster = running.enter_context(primary_with_replicas(1))
            server = with_database(cluster.primary.url, "postgres")
        ours = fresh_database("bench_service", server)
        if args.scale_out:
            # As many server connections as the service's pool: the pooler's own cost, not a cap.
            bouncer = running.enter_context(pgbouncer("127.0.0.1", cluster.primary.port, pool_size=8))
            replica = with_database(cluster.replicas[0].url, "bench_service")
            places = {"replica": replica, "pgbouncer": through(ours, bouncer)}
        subprocess.run(
            [sys.executable, "-m", "app", "migrate"],
            check=True,
            capture_output=True,
            env={**os.environ, "APP_DATABASE_URL": ours},
        )
        print(f"seeding {args.records:,} records for {args.users:,} users ...", flush=True)
        sample = seed(ours, args.records, args.users)
        (work / "ids.txt").write_text("\n".join(sample) + "\n")
        if args.scale_out:
            cluster.caught_up(timeout=120)
        redis_nodes = running.enter_context(redis_cluster()) if args.redis_cluster else None
        if redis_nodes is not None:
            places["redis_cluster"] = redis_nodes.url
        own_ids: dict[str, str] = {}  # a place seeded apart: its ids file
        if args.sharded:
            places["sharded"] = running.enter_context(user_sharded(2)).coordinator.url
            sharded_ids = seed(places["sharded"], args.records, args.users)
            (work / "sharded_ids.txt").write_text("\n".join(sharded_ids) + "\n")
            own_ids["sharded"] = str(work / "sharded_ids.txt")
        env = {"APP_DATABASE_URL": ours, "APP_REDIS_URL": f"{REDIS}/2", "APP_SERVER": "granian"}
        url, pid = running.enter_context(service(env, log=work / "service.log"))
        ids = {**base_env, "IDS_FILE": str(work / "ids.txt")}
        targets.append(Target("service", url, pid, ids, partial(flush, 2), tuple(args.scenarios), ours))
        for number, variant in enumerate(args.variant, start=4):
            label, _, changes = variant.partition(":")
            changed = {
                name: value.format(**places)
                for name, value in (change.split("=", 1) for change in changes.split(",") if change)
            }
            variant_env = {**env, "APP_REDIS_URL": f"{REDIS}/{number}", **changed}
            url, pid = running.enter_context(service(variant_env, log=work / f"{label}.log"))
            reset: Callable[[], None] = partial(flush, number)
            if redis_nodes is not None and "{redis_cluster}" in changes:
                reset = redis_nodes.flush
            apart = [place for place in own_ids if f"{{{place}}}" in changes]
            variant_ids = {**ids, "IDS_FILE": own_ids[apart[0]]} if apart else ids
            database = places[apart[0]] if apart else ours
            targets.append(Target(label, url, pid, variant_ids, reset, tuple(args.scenarios), database))
        if args.baseline:
            tree = checkout(args.baseline, work / "baseline")
            env = {**env, "APP_REDIS_URL": f"{REDIS}/3"}
            url, pid = running.enter_context(service(env, log=work / "baseline.log", root=tree))
            targets.append(Target("baseline", url, pid, ids, partial(flush, 3), tuple(args.scenarios), ours))

        if peer_dir:
            peer = fresh_database("bench_peer")
            peer_env = {
                "DATABASE_URL": peer.replace("postgresql://", "postgresql+asyncpg://", 1),
                "REDIS_URL": f"{REDIS}/1",
            }
            peer_url = "http://127.0.0.1:8081"
            pid = running.enter_context(
                external([f"{peer_dir}/peers/fastapi_ref/run.sh"], peer_env, peer_url, work / "peer.log")
            )
            (work / "peer_ids.txt").write_text("\n".join(seed(peer, args.records, args.users)) + "\n")
            ids = {**base_env, "IDS_FILE": str(work / "peer_ids.txt")}
            peer_scenarios = tuple(s for s in args.scenarios if s not in FINDING)
            targets.append(Target("peer", peer_url, pid, ids, partial(flush, 1), peer_scenarios, peer))
            ceiling_url = "http://127.0.0.1:8082"
            pid = running.enter_context(
                external(
                    [f"{peer_dir}/peers/ceiling/run.sh"],
                    {"CEILING_SERVER": "granian"},
                    ceiling_url,
                    work / "ceiling.log",
                )
            )
            scenarios = tuple(s for s in args.scenarios if s in ("get_hot", "health"))
            targets.append(Target("ceiling", ceiling_url, pid, base_env, None, scenarios))

        # Round after round, each scenario runs on every target back to back, so the machine's
        # drift (it is shared) falls on all of them alike; each figure is the median round.
        # Writes come last in a round, and their rows go, so every read runs on the seeded rows.
        order = sorted(args.scenarios, key=lambda s: s == "post")
        runs: dict[tuple[str, str], list[dict[str, object]]] = {}
        for round_number in range(1, args.rounds + 1):
            print(f"round {round_number} of {args.rounds}", flush=True)
            # Every other round the targets go in the reverse order: none always runs first.
            in_turn = targets if round_number % 2 else targets[::-1]
            for scenario in order:
                for target in in_turn:
                    if scenario in target.scenarios:
                        runs.setdefault((target.label, scenario), []).append(measure(target, scenario, args))
        rows = [
            median_row(runs[(target.label, scenario)], target)
            for target in targets
            for scenario in target.scenarios
        ]
        if not args.scale_out:  # the database's own rate for the same reads, in the same sitting
            print("the database alone (pgbench, 64 clients, the service's statements) ...", flush=True)
            alone = database_ceiling(ours, sample, args.users, args.duration, work)
            rows += [row for row in alone if row["scenario"] in args.scenarios]
        labels = ["service", *(v.partition(":")[0] for v in args.variant)]
        report(
            rows, runs, args.scenarios, [label for label in labels if label != args.reference], args.reference
        )
        if args.chart:
            draw(rows, args.scenarios, Path(args.chart))
            print(f"\nchart: {args.chart}")


if __name__ == "__main__":
    main()
