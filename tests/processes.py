"""The service as a real process: started with `python -m app serve`, spoken to over TCP."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def required(found: str | None, message: str) -> str:
    """A program the test starts: its path; where it is missing, a skip that says so, and under
    CI=true (where .ci/run installs it) a failure."""
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def migrated_sqlite(tmp_path: Path, name: str) -> str:
    """The URL of a new SQLite database under tmp_path, migrated by `python -m app migrate`."""
    database = f"sqlite:///{tmp_path / name}"
    env = {**os.environ, "APP_DATABASE_URL": database}
    subprocess.run([sys.executable, "-m", "app", "migrate"], check=True, capture_output=True, env=env)
    return database


def call(
    port: int, method: str, path: str, body: object = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request on a new connection: status, headers (names in lower case) and body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers={"content-type": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


@contextmanager
def running_server(env: dict[str, str], tmp_path: Path) -> Iterator[int]:
    """`python -m app serve` with these APP_* settings until the block ends; yields its port.
    It must stop within 15 s of SIGTERM."""
    with serving(env, tmp_path) as (port, _):
        yield port


@contextmanager
def on_sqlite(server: str, tmp_path: Path, **env: str) -> Iterator[int]:
    """running_server on APP_SERVER=server and a new migrated SQLite file, with these other
    APP_* settings; yields its port."""
    database = migrated_sqlite(tmp_path, f"{server}.db")
    with running_server({"APP_SERVER": server, "APP_DATABASE_URL": database, **env}, tmp_path) as port:
        yield port


@contextmanager
def serving(env: dict[str, str], tmp_path: Path) -> Iterator[tuple[int, int]]:
    """As running_server, yielding its port and the server process's PID."""
    port = free_port()
    full_env = {**os.environ, "APP_PORT": str(port), "APP_LOG_LEVEL": "warning", **env}
    log = tmp_path / f"server-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve"],
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a group of its own: its workers go with it (below)
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited with {process.returncode}: {log.read_text()}")
            try:
                if call(port, "GET", "/health")[0] == 200:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"the server did not answer /health within 20 s: {log.read_text()}")
                time.sleep(0.1)
        yield port, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail("the server did not stop on SIGTERM")
        finally:
            # A worker whose server process a test killed (SIGKILL) outlives it: never past the test.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)


@contextmanager
def daemon(
    command: list[str], port: int, root: Path, log: Path, stop: signal.Signals, name: str
) -> Iterator[int]:
    """A helper server (nginx, PgBouncer) started from `command`: yields `port` once it
    listens (or raises with the end of its log), then stops it with `stop` and removes `root`."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ends = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                said = log.read_text() if log.exists() else ""
                raise RuntimeError(f"{name} stopped: {said[-2000:]}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > ends:
                raise TimeoutError(f"{name} did not listen")
            time.sleep(0.05)
        yield port
    finally:
        process.send_signal(stop)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)
