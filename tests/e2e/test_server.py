"""The real server process on each ASGI server, spoken to over TCP."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.settings import SERVERS

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def call(port: int, method: str, path: str, body: object = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers={"content-type": "application/json"})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def start(server: str, tmp_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        **os.environ,
        "APP_SERVER": server,
        "APP_PORT": str(port),
        "APP_LOG_LEVEL": "warning",
        "APP_DATABASE_URL": f"sqlite:///{tmp_path / 'e2e.db'}",
    }
    subprocess.run([sys.executable, "-m", "app", "migrate"], env=env, check=True, capture_output=True)
    log = tmp_path / f"{server}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{server} exited with {process.returncode}: {log.read_text()}")
        try:
            if call(port, "GET", "/health")[0] == 200:
                return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    pytest.fail(f"{server} did not answer /health within 20 s")


@pytest.fixture(params=SERVERS)
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[int]:
    process, port = start(request.param, tmp_path)
    try:
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail(f"{request.param} did not stop on SIGTERM")


def test_post_then_get_over_tcp(served: int) -> None:
    status, headers, body = call(served, "POST", "/data", {"user_id": "e2e", "payload": {"type": "t"}})
    assert status == 201, body
    record = json.loads(body)

    got = call(served, "GET", headers["location"])
    listed = call(served, "GET", "/data?user_id=e2e")

    assert got[0] == 200 and json.loads(got[2]) == record
    assert listed[0] == 200 and json.loads(listed[2])["items"] == [record]
    assert "server" not in {k.lower() for k in headers} or "uvicorn" not in headers.get("server", "")


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
