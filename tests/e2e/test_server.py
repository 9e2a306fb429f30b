"""The real server process on each ASGI server, spoken to over TCP."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app.errors import ConfigError
from app.main import create_app
from app.settings import SERVERS, Settings
from tests.processes import call, free_port, migrated_sqlite, on_sqlite, running_server

pytestmark = pytest.mark.e2e


@pytest.fixture(params=SERVERS)
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[int]:
    with on_sqlite(request.param, tmp_path) as port:
        yield port


def test_post_then_get_over_tcp(served: int) -> None:
    status, headers, body = call(served, "POST", "/data", {"user_id": "e2e", "payload": {"type": "t"}})
    assert status == 201, body
    record = json.loads(body)

    got = call(served, "GET", headers["location"])
    listed = call(served, "GET", "/data?user_id=e2e")

    assert got[0] == 200 and json.loads(got[2]) == record
    assert listed[0] == 200 and json.loads(listed[2])["items"] == [record]
    banner = headers.get("server", "")  # no server sends its version
    assert not any(c.isdigit() for c in banner), banner


def test_chunked_body_over_the_limit_is_413(served: int) -> None:
    """No Content-Length: the server refuses once the streamed body passes 1 MiB."""
    with socket.create_connection(("127.0.0.1", served), timeout=10) as sock:
        sock.sendall(
            b"POST /data HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
        try:
            for _ in range(64):  # 4 MiB offered
                sock.sendall(chunk)
        except OSError:
            pass  # the server may stop reading once it has answered
        answer = sock.recv(4096)

    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_headers_over_the_limit_get_the_services_own_431(served: int) -> None:
    """Headers past APP_MAX_HEADER_BYTES (16 KiB) and within twice it reach the service, on
    every server, which refuses them as it refuses everything: a problem body."""
    with socket.create_connection(("127.0.0.1", served), timeout=10) as sock:
        sock.sendall(
            b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431"), head[:100]
    assert b"application/problem+json" in head.lower()
    assert json.loads(body)["type"] == "urn:data-service:problem:headers-too-large"


def test_oversized_headers_are_refused_not_crashed(served: int) -> None:
    """A 64 KiB header is refused by the server (431 or 400) and the server keeps serving."""
    with socket.create_connection(("127.0.0.1", served), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n")
        try:
            answer = sock.recv(4096)
        except ConnectionResetError:
            answer = b""

    assert answer == b"" or answer.split(b" ", 2)[1] in (b"400", b"413", b"431"), answer[:100]
    assert call(served, "GET", "/health")[0] == 200


@pytest.mark.parametrize("server", SERVERS)
def test_the_metrics_port_serves_metrics_and_probes_and_the_public_port_no_metrics(
    server: str, tmp_path: Path
) -> None:
    database = migrated_sqlite(tmp_path, "metrics-port.db")
    metrics_port = free_port()
    env = {"APP_SERVER": server, "APP_DATABASE_URL": database, "APP_METRICS_PORT": str(metrics_port)}
    with running_server(env, tmp_path) as port:
        assert call(port, "POST", "/data", {"user_id": "m", "payload": {}})[0] == 201
        scraped = call(metrics_port, "GET", "/metrics")
        public = call(port, "GET", "/metrics")
        probes = [call(p, "GET", path)[0] for p in (port, metrics_port) for path in ("/health", "/ready")]
        documented = json.loads(call(port, "GET", "/openapi.json")[2])["paths"]

    assert scraped[0] == 200 and scraped[1]["content-type"].startswith("text/plain")
    assert b'requests_total{endpoint="/data",method="POST",status="201"} 1.0' in scraped[2]
    assert public[0] == 404
    assert probes == [200] * 4
    assert "/metrics" not in documented and "/ready" in documented


def test_a_metrics_port_in_use_stops_the_start_with_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = Settings(
            database_url=migrated_sqlite(tmp_path, "taken.db"), metrics_port=taken.getsockname()[1]
        )
        with (
            pytest.raises(OSError, match=r"APP_METRICS_PORT \d+ cannot be bound"),
            TestClient(create_app(settings)),
        ):
            pass


def test_the_otel_variables_turn_tracing_on_in_the_served_process(tmp_path: Path) -> None:
    database = migrated_sqlite(tmp_path, "traced.db")
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    env = {"APP_DATABASE_URL": database, "OTEL_TRACES_EXPORTER": "console", "APP_SERVER_TIMING": "true"}
    with running_server(env, tmp_path) as port:
        status, headers, _ = call(
            port, "GET", "/data?user_id=t", headers={"traceparent": f"00-{trace_id}-b7ad6b7169203331-01"}
        )
    output = (tmp_path / f"server-{port}.log").read_text()

    assert status == 200 and "total;dur=" in headers["server-timing"]
    assert f'"trace_id": "0x{trace_id}"' in output  # the console exporter's span, sent at shutdown
    assert '"name": "GET /data"' in output


def processes_serving(port: int) -> int:
    """Processes started with APP_PORT=port in their environment: the server and its workers."""
    count = 0
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if f"APP_PORT={port}".encode() in environ.read_bytes().split(b"\0"):
                count += 1
        except OSError:
            continue
    return count


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_app_workers_serves_with_that_many_worker_processes(server: str, tmp_path: Path) -> None:
    database = migrated_sqlite(tmp_path, "workers.db")
    env = {"APP_SERVER": server, "APP_DATABASE_URL": database, "APP_WORKERS": "2"}
    with running_server(env, tmp_path) as port:
        answers = {call(port, "GET", "/health")[0] for _ in range(20)}
        serving = processes_serving(port)
        # Each worker says once it has started (authentication is off here); the first one
        # answers before the second has, and granian does not stop on a SIGTERM that comes
        # while a worker is still starting.
        log = tmp_path / f"server-{port}.log"
        deadline = time.monotonic() + 20
        while log.read_text().count("authentication is off") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)

    assert answers == {200}
    assert serving >= 3  # the server's main process and two workers


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"workers": 0}, "APP_WORKERS"),
        ({"workers": 2, "server": "hypercorn"}, "APP_WORKERS"),
        ({"workers": 2, "metrics_port": 9090}, "APP_METRICS_PORT"),
    ],
)
def test_worker_counts_that_cannot_work_are_refused_at_start(
    settings: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings(**settings)  # type: ignore[arg-type]


@pytest.mark.parametrize("server", SERVERS)
def test_everything_a_server_writes_is_json_lines(server: str, tmp_path: Path) -> None:
    with on_sqlite(server, tmp_path, APP_LOG_LEVEL="info") as port:
        assert call(port, "GET", "/health")[0] == 200
    (log,) = tmp_path.glob("server-*.log")
    lines = [line for line in log.read_text().splitlines() if line.strip()]

    events = [json.loads(line)["event"] for line in lines]  # every line one JSON object
    assert "started" in events and len(events) > 2  # the server's own lines among them
