"""SIGTERM under load, on each ASGI server: every request accepted before the signal is
answered, /ready fails at once, new connections are refused, and the process exits in time."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from app.settings import SERVERS
from tests.processes import call, free_port, migrated_sqlite

pytestmark = pytest.mark.e2e
GRACE = 5  # APP_SHUTDOWN_GRACE_SECONDS here
# Big enough that a request takes well over the 50 ms margin below, on a fast machine too.
BULK = {"items": [{"user_id": "alice", "payload": {"n": i, "pad": "x" * 200}} for i in range(1000)]}


def start(server: str, tmp_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    env = {**os.environ, "APP_DATABASE_URL": migrated_sqlite(tmp_path, "shutdown.db")}
    port = free_port()
    env |= {
        "APP_SERVER": server,
        "APP_PORT": str(port),
        "APP_LOG_LEVEL": "warning",
        "APP_SHUTDOWN_GRACE_SECONDS": str(GRACE),
        "APP_RATE_LIMIT_PER_MINUTE": "1000000",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if call(port, "GET", "/health")[0] == 200:
                return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    pytest.fail(f"{server} did not start")


@pytest.mark.parametrize("server", SERVERS)
def test_sigterm_under_load_fails_no_accepted_request(server: str, tmp_path: Path) -> None:
    process, port = start(server, tmp_path)
    signalled = threading.Event()
    outcomes: list[tuple[float, float, int | str]] = []  # sent, answered (monotonic), status or error
    lock = threading.Lock()

    def load() -> None:
        body = json.dumps(BULK).encode()
        while True:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=GRACE + 10)
            sent = time.monotonic()
            try:
                conn.request("POST", "/data/bulk", body=body, headers={"content-type": "application/json"})
                sent = time.monotonic()
                status: int | str = conn.getresponse().status
            except OSError as exc:
                status = type(exc).__name__
            finally:
                conn.close()
            with lock:
                outcomes.append((sent, time.monotonic(), status))
            if signalled.is_set() and isinstance(status, str):
                return  # refused: the server has stopped listening

    threads = [threading.Thread(target=load) for _ in range(6)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    signal_at = time.monotonic()
    process.send_signal(signal.SIGTERM)
    signalled.set()
    time.sleep(0.05)
    asked = time.monotonic()
    ready_after = [_ready(port) for _ in range(3)]
    asked_for = time.monotonic() - asked
    try:
        process.wait(timeout=GRACE + 10)
    finally:
        if process.poll() is None:
            process.kill()
    exited_after = time.monotonic() - signal_at
    for thread in threads:
        thread.join(timeout=GRACE + 10)

    accepted = [o for o in outcomes if o[0] < signal_at - 0.05]  # sent well before the signal
    in_flight = [o for o in accepted if o[1] > signal_at]
    assert accepted and in_flight, "the load did not overlap the signal"
    assert [o[2] for o in accepted] == [201] * len(accepted)
    assert all(o[2] != 500 and not (isinstance(o[2], int) and o[2] >= 500 and o[2] != 503) for o in outcomes)
    assert 200 not in ready_after  # /ready fails (503, or the connection is refused) at once
    assert asked_for < 1.5, f"new connections held {asked_for:.1f} s while draining, not refused"
    # uvicorn re-raises the signal once it has shut down: killed by SIGTERM, after a clean stop
    assert process.returncode in (0, -signal.SIGTERM) and exited_after < GRACE + 5


def _ready(port: int) -> int | str:
    try:
        return call(port, "GET", "/ready")[0]
    except OSError as exc:
        return type(exc).__name__


def test_while_granian_drains_a_request_new_connections_are_refused_not_held(tmp_path: Path) -> None:
    """A worker that drains a request in flight keeps no copy of its listening socket open (the
    watch on connections beyond its cap, http/overflow.py, closes its own at the signal): a new
    client is refused at once, and goes to another pod, instead of waiting in a dead queue."""
    process, port = start("granian", tmp_path)
    try:
        with socket.create_connection(("127.0.0.1", port)) as held:  # a body that never ends
            held.sendall(b"POST /data HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
            held.sendall(b'Content-Length: 100\r\n\r\n{"user_id"')
            time.sleep(0.3)
            process.send_signal(signal.SIGTERM)
            time.sleep(0.5)  # the worker drains the held request, for up to the grace period
            asked = time.monotonic()
            answer = _ready(port)
            waited = time.monotonic() - asked
            assert process.poll() is None, "the worker stopped before the held request was drained"
    finally:
        process.wait(timeout=GRACE + 10)

    assert answer in ("ConnectionRefusedError", 503) and waited < 1.0, f"{answer} after {waited:.1f} s"
