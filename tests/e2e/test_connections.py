"""Connections on each ASGI server, over TCP: one client holding thousands of idle connections
does not stall the next client, idle connections are closed after APP_IDLE_TIMEOUT_SECONDS, and
a connection beyond APP_MAX_CONNECTIONS gets a 503 within a second instead of a place in a
queue (uvicorn answers it itself; under granian the worker's watch does)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import subprocess
import sys
import time
from collections.abc import Awaitable, Iterator
from pathlib import Path

import pytest

from app.settings import SERVERS
from tests.balancers import PER_CLIENT, nginx
from tests.processes import call, migrated_sqlite, on_sqlite, running_server

pytestmark = pytest.mark.e2e
FLOOD = 3000  # the abusive client's connections: more than a worker held before its cap was set
REQUEST = b"GET /health HTTP/1.1\r\nHost: flood\r\n\r\n"


@pytest.fixture(params=SERVERS)
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[int]:
    with on_sqlite(request.param, tmp_path, APP_IDLE_TIMEOUT_SECONDS="2") as port:
        yield port


async def hold(port: int, count: int) -> list[asyncio.StreamWriter]:
    """`count` connections left open, half after one answered request, half silent."""

    async def one(i: int) -> asyncio.StreamWriter | None:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
        except (OSError, TimeoutError):
            return None
        if i % 2 == 0:
            writer.write(REQUEST)
            with contextlib.suppress(OSError, TimeoutError, asyncio.IncompleteReadError):
                await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        return writer

    opened = await asyncio.gather(*(one(i) for i in range(count)))
    return [w for w in opened if w is not None]


async def answered_in(port: int) -> float:
    """Seconds a new client waits for its answer to GET /health on a new connection."""
    started = time.monotonic()
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
    return time.monotonic() - started


def test_a_client_holding_thousands_of_idle_connections_does_not_stall_the_next(served: int) -> None:
    async def run() -> list[float]:
        held = await hold(served, FLOOD)
        try:
            return [await answered_in(served) for _ in range(20)]
        finally:
            for writer in held:
                writer.close()

    waits = asyncio.run(run())

    assert max(waits) < 1.0, f"new clients waited up to {max(waits):.1f} s"


def test_an_idle_kept_alive_connection_is_closed_after_the_idle_timeout(served: int) -> None:
    async def run() -> float:
        reader, writer = await asyncio.open_connection("127.0.0.1", served)
        writer.write(REQUEST)
        await reader.readuntil(b"\r\n\r\n")
        answered = time.monotonic()
        try:
            while await asyncio.wait_for(reader.read(65536), 10):  # the rest of the answer, then EOF
                pass
        finally:
            writer.close()
        return time.monotonic() - answered

    assert 1.5 < asyncio.run(run()) < 5, "closed about APP_IDLE_TIMEOUT_SECONDS (2 s) after its last answer"


@pytest.mark.parametrize("server", ["granian", "hypercorn"])  # uvicorn has no such timer
def test_a_request_whose_headers_never_end_is_cut_after_the_idle_timeout(server: str, tmp_path: Path) -> None:
    with on_sqlite(server, tmp_path, APP_IDLE_TIMEOUT_SECONDS="2") as port:
        waited, answer = asyncio.run(unfinished_headers(port))

    assert waited < 5, f"held {waited:.1f} s"
    assert answer == b"" or answer.split(b" ", 2)[1] in (b"400", b"408"), answer[:100]


async def unfinished_headers(port: int) -> tuple[float, bytes]:
    """Seconds until the server gives up on headers that never end, and what it answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # and nothing more
    try:
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    return time.monotonic() - started, answer


@pytest.mark.parametrize("server", ["granian", "hypercorn"])  # uvicorn has no such timer
def test_a_connection_that_never_sends_a_byte_is_closed_after_the_idle_timeout(
    server: str, tmp_path: Path
) -> None:
    with on_sqlite(server, tmp_path, APP_IDLE_TIMEOUT_SECONDS="2") as port:
        waited = asyncio.run(silent(port))

    assert 1.5 < waited < 5, f"held {waited:.1f} s"


async def silent(port: int) -> float:
    """Seconds until the server closes a connection on which nothing was sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    try:
        await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    return time.monotonic() - started


def test_beyond_its_connection_cap_granian_answers_503_within_a_second(tmp_path: Path) -> None:
    """granian itself would keep a new client in the backlog until a silent connection ahead of
    it timed out (APP_IDLE_TIMEOUT_SECONDS, 75 s here); the worker's watch answers it 503 with
    a problem and Retry-After instead (http/overflow.py). Below the cap nothing is answered so,
    and once the silent connections are gone new clients are served again."""
    with on_sqlite("granian", tmp_path, APP_MAX_CONNECTIONS="20") as port:
        below = asyncio.run(answered_while_held(port, silently(port, 10)))
        at_cap = asyncio.run(answered_while_held(port, silently(port, 20)))
        beyond = asyncio.run(answered_while_held(port, silently(port, 40)))
        status = call(port, "GET", "/health")[0]
        counted = call(port, "GET", "/metrics")[2].decode()

    assert below[1] == 200 and below[0] < 0.2, f"below the cap: {below}"
    for waited, answered in (at_cap, beyond):
        assert answered == 503 and waited < 1.0, f"answered {answered} after {waited:.1f} s"
    assert status == 200
    refused = [line for line in counted.splitlines() if line.startswith("connections_refused_total")]
    assert refused and float(refused[0].split()[-1]) >= 2 + 20, refused


def test_a_connection_beyond_granians_cap_is_told_why_and_when_to_come_back(tmp_path: Path) -> None:
    with on_sqlite("granian", tmp_path, APP_MAX_CONNECTIONS="5") as port:
        _, (status, headers, body) = asyncio.run(called_while_held(port, silently(port, 5)))

    assert status == 503 and headers["retry-after"] == "1" and headers["connection"] == "close"
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["type"] == "urn:data-service:problem:connections-full"


def test_beyond_its_connection_cap_uvicorn_answers_503_at_once(tmp_path: Path) -> None:
    with on_sqlite("uvicorn", tmp_path, APP_MAX_CONNECTIONS="20") as port:
        waited, status = asyncio.run(answered_while_held(port, hold(port, 40)))

    assert status == 503 and waited < 1.0


async def silently(port: int, count: int) -> list[asyncio.StreamWriter]:
    """`count` connections on which nothing is sent."""
    return [(await asyncio.open_connection("127.0.0.1", port))[1] for _ in range(count)]


async def called_while_held(
    port: int, holding: Awaitable[list[asyncio.StreamWriter]]
) -> tuple[float, tuple[int, dict[str, str], bytes]]:
    """Seconds a new client waits for GET /health while the connections `holding` opens stay
    open, and the answer it gets."""
    held = await holding
    try:
        started = time.monotonic()
        answer = await asyncio.to_thread(call, port, "GET", "/health")
        return time.monotonic() - started, answer
    finally:
        for writer in held:
            writer.close()


async def answered_while_held(port: int, holding: Awaitable[list[asyncio.StreamWriter]]) -> tuple[float, int]:
    """As called_while_held, with the answer's status only."""
    waited, answer = await called_while_held(port, holding)
    return waited, answer[0]


CAP = """
import resource
from app.server import RESERVED_FILES, connection_cap
from app.settings import Settings

from app.main import start_warnings

settings = Settings(max_connections=3000)
cap = connection_cap(settings)
print(cap, resource.getrlimit(resource.RLIMIT_NOFILE)[0], RESERVED_FILES)
print(*start_warnings(settings, authenticated=True, served=True), sep=chr(10))
"""


@pytest.mark.parametrize(("soft", "hard"), [(1024, 20_000), (1024, 1024)])
def test_the_open_files_limit_is_raised_for_the_cap_or_the_cap_lowered_to_it(soft: int, hard: int) -> None:
    """A container's usual soft limit is 1,024 files, its hard limit far above: a worker raises
    its own; where the hard limit is low too, the cap is what it allows."""
    if resource.getrlimit(resource.RLIMIT_NOFILE)[1] < hard:
        pytest.skip(f"this machine's hard open-files limit is below {hard}")
    done = subprocess.run(
        [sys.executable, "-c", CAP],
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard)),
    )
    figures, *warned = done.stdout.strip().splitlines()
    cap, limit, reserved = map(int, figures.split())

    if hard >= 3000 + reserved:
        assert cap == 3000 and limit == 3000 + reserved and warned == []
    else:
        assert cap == hard - reserved and limit == hard
        assert warned == [
            f"the open-files limit holds each worker to {cap} connections, not APP_MAX_CONNECTIONS=3000:"
            " raise the container's nofile limit"
        ]


def test_behind_nginx_a_flood_stays_with_nginx_and_one_client_has_at_most_its_share(tmp_path: Path) -> None:
    """The scale-out tests' nginx (tests/balancers.py, as docs/deploy.md): idle client connections
    never reach the service, and requests one address has in flight beyond PER_CLIENT get 503 at
    once."""
    env = {"APP_DATABASE_URL": migrated_sqlite(tmp_path, "proxied.db"), "APP_ACCESS_LOG": "off"}
    with running_server(env, tmp_path) as port, nginx([port]) as proxy:

        async def run() -> tuple[list[float], list[bytes]]:
            held = await hold(proxy, FLOOD)
            try:
                waits = [await answered_in(proxy) for _ in range(10)]
                # Requests whose bodies never come: each holds its place in the client's share.
                stalled = [await asyncio.open_connection("127.0.0.1", proxy) for _ in range(PER_CLIENT + 20)]
                for _, writer in stalled:
                    writer.write(b"POST /data HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
                answers = await asyncio.gather(
                    *(asyncio.wait_for(reader.read(12), 2) for reader, _ in stalled), return_exceptions=True
                )
                for _, writer in stalled:
                    writer.close()
                return waits, [a for a in answers if isinstance(a, bytes)]
            finally:
                for writer in held:
                    writer.close()

        waits, refused = asyncio.run(run())

    assert max(waits) < 1.0, f"new clients waited up to {max(waits):.1f} s"
    assert len(refused) == 20 and set(refused) == {b"HTTP/1.1 503"}
