"""The database's own rate for what the service's scenarios ask of it: pgbench, 64 clients,
prepared, running the service's own statements (sql/postgres/*.sql) on the same seeded rows, so
that every report shows the service as a fraction of its database (the "database" target). The
cached scenarios reach no database: their yardstick is the bare framework (the "ceiling")."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from app.adapters.db.ids import created_window
from app.adapters.db.postgres.statements import FAR_FUTURE, FAR_PAST
from bench.harness import ROOT
from bench.seeding import sql
from tests.clusters import postgres_bin_dir

PGBENCH = shutil.which("pgbench") or str((postgres_bin_dir() or Path()) / "pgbench")
OPEN_BOUNDS = {
    "created_from": "'0001-01-01'::timestamptz",
    "created_to": "'9999-12-31'::timestamptz",
    "after_created_at": "'9999-12-31'::timestamptz",
    "after_id": "'ffffffff-ffff-ffff-ffff-ffffffffffff'",
    "type": "NULL",
    "status": "NULL",
    "offset": "0",
}

POST_ID = (
    "(lpad(to_hex((extract(epoch FROM now()) * 1000)::bigint), 12, '0')"
    " || '7' || lpad(to_hex(:r::bigint), 19, '0'))::uuid"
)
# A colon never comes before a name here: pgbench would take it for one of its variables.
POST_PAYLOAD = (
    '(\'{"title": "load test record", "seq": \' || :w || \', "score": 12.5, "active": true,'
    ' "tags": ["alpha", "beta", "gamma"], "attrs": {"color": "blue", "ratio": 0.25},'
    " \"body\": \"' || repeat('0123456789abcdef', 52) || '\"}')::jsonb"
)


def statement(name: str, **binds: str) -> str:
    """A statement's file with its binds replaced: pgbench variables or SQL literals."""
    text = (ROOT / "sql" / "postgres" / f"{name}.sql").read_text()
    body = " ".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    values = {**OPEN_BOUNDS, **binds}
    # Binds outside quoted literals only: a format such as 'HH24:MI:SS' holds none.
    parts = re.split(r"('(?:[^']|'')*')", body)
    return (  # braces doubled: the scripts go through str.format for their counts
        "".join(
            part if part.startswith("'") else re.sub(r"(?<!:):(\w+)", lambda m: values[m.group(1)], part)
            for part in parts
        )
        .strip()
        .replace("{", "{{")
        .replace("}", "}}")
        + ";"
    )


def _insert(user: str) -> str:
    """One record and its audit row for `user`, committed on its own, shaped like post's body
    (~1 KB); its id a UUIDv7-like one: the statement's millisecond, then random bits."""
    return statement(
        "insert_records",
        ids=f"ARRAY[{POST_ID}]",
        user_ids=f"ARRAY[{user}]",
        payloads=f"ARRAY[{POST_PAYLOAD}]",
        actors="ARRAY['bench']",
        request_ids="ARRAY['bench']",
    )


# One of 10,000 writers, and the random bits of its record's id.
WRITER = "\\set w random(1, 10000)\n\\set r random(1, 9223372036854775806)\n"
SCRIPTS = {
    # A page of 10 to 100 rows with its count, as the service reads it: what get_cold's
    # requests ask.
    "get_cold": "\\set n random(1, {users})\n\\set size random(10, 100)\n"
    + statement("list_records_counted", user_id="'u' || :n", limit=":size")
    + "\n",
    # One record by a sampled id, within the window its id names as the service reads it (the
    # sample's lookup adds a primary-key probe of a small table).
    "get_by_id": "\\set k random(1, {ids})\n"
    + "SELECT id, created_from, created_to FROM bench_ceiling_ids WHERE n = :k \\gset\n"
    + statement("get_record", id=":id", created_from=":created_from", created_to=":created_to")
    + "\n",
    # One record to one of 10,000 writers.
    "post": WRITER + _insert("'w' || :w") + "\n",
    # A write, then the page of 20 of its writer that the write made the cache drop, with its
    # count: two of write_read's requests a transaction.
    "write_read": WRITER
    + _insert("'r' || :w")
    + "\n"
    + statement("list_records_counted", user_id="'r' || :w", limit="20")
    + "\n",
}


def database_ceiling(
    url: str, ids: list[str], users: int, duration: str, folder: Path
) -> list[dict[str, object]]:
    """A row a scenario pgbench can play: the database target's transactions per second."""
    parts = urlsplit(url)
    connect = [
        "-h",
        parts.hostname or "127.0.0.1",
        "-p",
        str(parts.port or 5432),
        "-U",
        parts.username or "postgres",
    ]
    database = parts.path.lstrip("/")
    asyncio.run(
        sql(
            url,
            "DROP TABLE IF EXISTS bench_ceiling_ids",
            "CREATE TABLE bench_ceiling_ids"
            " (n int PRIMARY KEY, id uuid, created_from timestamptz, created_to timestamptz)",
            "INSERT INTO bench_ceiling_ids SELECT n, id::uuid, f, t FROM"
            " unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) WITH ORDINALITY AS s(id, f, t, n)",
            args=(ids, *zip(*(created_window(i) or (FAR_PAST, FAR_FUTURE) for i in ids), strict=True)),
        )
    )
    asyncio.run(sql(url, "ANALYZE bench_ceiling_ids"))
    seconds = int("".join(c for c in duration if c.isdigit()) or 10)  # wrk's form: 5s
    rows: list[dict[str, object]] = []
    for scenario, script in SCRIPTS.items():
        path = folder / f"{scenario}.pgbench"
        path.write_text(script.format(users=users, ids=len(ids)))
        done = subprocess.run(
            [
                PGBENCH,
                *connect,
                "-n",
                "-M",
                "prepared",
                "-c",
                "64",
                "-j",
                "2",
                "-T",
                str(seconds),
                "-f",
                str(path),
                database,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        tps = re.search(r"tps = ([\d.]+)", done.stdout)
        requests = 2 if scenario == "write_read" else 1  # the service's requests a transaction
        latency = re.search(r"latency average = ([\d.]+) ms", done.stdout)
        rows.append(
            {
                "target": "database",
                "scenario": scenario,
                "req_s": requests * float(tps.group(1)) if tps else 0.0,
                "p50_ms": float(latency.group(1)) if latency else 0.0,  # pgbench's average
                "p99_ms": 0.0,  # pgbench reports no percentile: no bar
                "status_429": 0.0,
                "other_non2xx": 0.0,
            }
        )
    return rows
