"""GET /data/export served by a real server on PostgreSQL: memory stays flat whatever the
export's size, a slow client slows the query instead of filling memory, and a client that
leaves ends the query."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from bench.harness import peak_rss_mib
from tests.backing import run_async
from tests.processes import serving

pytestmark = pytest.mark.e2e

SEED = """
INSERT INTO data_records (user_id, payload, created_at, updated_at)
SELECT $1, jsonb_build_object('seq', i, 'type', 'order', 'body', repeat(md5(i::text), 8)),
       now() - make_interval(secs => i), now() - make_interval(secs => i)
FROM generate_series(1, $2) AS s(i)
"""
EXPORT_SQL = "%FROM data_records%ORDER BY created_at DESC, id DESC%"


async def _sql(url: str, statement: str, *args: object) -> object:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(statement, *args)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def seeded(postgres_url: str) -> str:
    from tests import backing

    backing.truncate(postgres_url)
    run_async(_sql(postgres_url, SEED, "small", 20_000))
    run_async(_sql(postgres_url, SEED, "big", 200_000))
    return postgres_url


@pytest.fixture
def server(seeded: str, tmp_path: Path) -> Iterator[tuple[int, int]]:
    env = {"APP_DATABASE_URL": seeded, "APP_RATE_LIMIT_PER_MINUTE": "1000"}
    with serving(env, tmp_path) as found:
        yield found


def export(port: int, user: str) -> tuple[int, bytes]:
    """Lines of the user's NDJSON export, and its first line."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", f"/data/export?user_id={user}")
        answer = conn.getresponse()
        assert answer.status == 200 and answer.getheader("content-type") == "application/x-ndjson"
        lines, first, rest = 0, b"", b""
        while chunk := answer.read(1 << 16):
            rest += chunk
            *complete, rest = rest.split(b"\n")
            if complete and not first:
                first = complete[0]
            lines += len(complete)
        assert rest == b""
        return lines, first
    finally:
        conn.close()


def open_cursors(url: str) -> int:
    """The service's transactions holding the export's query open."""
    return int(
        run_async(
            _sql(
                url,
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'data-service'"
                " AND state IN ('active', 'idle in transaction')"
                " AND (query LIKE $1 OR query LIKE 'FETCH % FROM export')",  # the cursor's last fetch
                EXPORT_SQL,
            )
        )
    )


def test_peak_memory_stays_flat_from_20_thousand_rows_to_200_thousand(server: tuple[int, int]) -> None:
    port, pid = server
    assert export(port, "small")[0] == 20_000
    after_small = peak_rss_mib(pid)

    lines, first = export(port, "big")

    grown_mib = peak_rss_mib(pid) - after_small
    assert lines == 200_000
    assert json.loads(first)["payload"]["seq"] == 1  # newest first
    # The big export is ~80 MiB of JSON: held in memory, it would show many times over.
    assert grown_mib < 16, f"peak RSS grew {grown_mib:.1f} MiB for 180,000 more rows"


def test_a_slow_reader_slows_the_query_and_one_that_leaves_ends_it(
    server: tuple[int, int], seeded: str
) -> None:
    port, pid = server
    export(port, "small")  # the process's working set, warmed
    before = peak_rss_mib(pid)
    reader = socket.create_connection(("127.0.0.1", port))
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
    reader.sendall(b"GET /data/export?user_id=big HTTP/1.1\r\nHost: test\r\n\r\n")
    assert reader.recv(1 << 16).startswith(b"HTTP/1.1 200")

    time.sleep(3)  # the reader takes nothing more: the server must wait, not read on

    grown_mib = peak_rss_mib(pid) - before
    assert open_cursors(seeded) == 1, "the export's query should still be waiting for the reader"
    assert grown_mib < 16, f"peak RSS grew {grown_mib:.1f} MiB while the reader read nothing"

    reader.close()
    deadline = time.monotonic() + 10
    while open_cursors(seeded) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert open_cursors(seeded) == 0, "the query went on after the client left"


def test_exports_past_the_limit_wait_their_turn_with_a_503(seeded: str, tmp_path: Path) -> None:
    env = {"APP_DATABASE_URL": seeded, "APP_RATE_LIMIT_PER_MINUTE": "1000", "APP_EXPORTS_MAX": "1"}
    with serving(env, tmp_path) as (port, _):
        holder = socket.create_connection(("127.0.0.1", port))
        holder.sendall(b"GET /data/export?user_id=big HTTP/1.1\r\nHost: test\r\n\r\n")
        assert holder.recv(1 << 16).startswith(b"HTTP/1.1 200")  # running, its reader slow

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/data/export?user_id=small")
        refused = conn.getresponse()
        refused.read()
        conn.close()
        reads_meanwhile = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        reads_meanwhile.request("GET", "/data?user_id=small")
        answer = reads_meanwhile.getresponse()
        listed = answer.status
        answer.read()
        reads_meanwhile.close()

        holder.close()
        deadline = time.monotonic() + 10
        while open_cursors(seeded) and time.monotonic() < deadline:
            time.sleep(0.1)
        lines, _ = export(port, "small")

    assert refused.status == 503 and refused.getheader("retry-after") == "5"
    assert listed == 200  # the pool still serves everything else
    assert lines == 20_000
