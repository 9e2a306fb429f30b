"""PgBouncer in transaction mode, started by the tests in front of a PostgreSQL server: a
generated ini in a temporary folder, a free loopback port, stopped and removed after. Its pool
is kept smaller than the service's, so that the service's connections share server connections
between transactions, as they do in production. Where pgbouncer is missing the tests skip, and
under CI=true they fail instead (.ci/run installs Debian's package)."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tests.processes import free_port, required

SERVER_POOL = 3  # server connections per database: fewer than the service's pool of 8


def _binary() -> str:
    found = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin")
    return required(found, "pgbouncer is not installed (Debian: apt-get install pgbouncer)")


@contextmanager
def pgbouncer(host: str, port: int, *, user: str = "postgres", pool_size: int = SERVER_POOL) -> Iterator[int]:
    """PgBouncer on a free port, every database of host:port behind it as `user` with
    `pool_size` server connections each; its port."""
    binary = _binary()
    root = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    listen = free_port()
    (root / "pgbouncer.ini").write_text(
        "\n".join(
            [
                "[databases]",
                f"* = host={host} port={port} user={user}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {listen}",
                "unix_socket_dir =",
                "auth_type = any",
                "pool_mode = transaction",
                f"default_pool_size = {pool_size}",
                "max_client_conn = 1000",
                "ignore_startup_parameters = extra_float_digits",
                f"logfile = {root / 'pgbouncer.log'}",
                f"pidfile = {root / 'pgbouncer.pid'}",
                "",
            ]
        )
    )
    command = [binary, str(root / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
        for path in root.iterdir():
            os.chown(path, owner.pw_uid, owner.pw_gid)
        command = [binary, "-u", "postgres", str(root / "pgbouncer.ini")]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _listening(listen, process, root)
        yield listen
    finally:
        process.send_signal(signal.SIGINT)  # immediate shutdown
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)


def _listening(port: int, process: subprocess.Popen[bytes], root: Path) -> None:
    ends = time.monotonic() + 10
    while time.monotonic() < ends:
        if process.poll() is not None:
            log = (root / "pgbouncer.log").read_text() if (root / "pgbouncer.log").exists() else ""
            raise RuntimeError(f"pgbouncer stopped: {log[-2000:]}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError("pgbouncer did not listen")


def through(url: str, port: int) -> str:
    """The same database's URL through the pooler on `port`."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.username or 'postgres'}@127.0.0.1:{port}"))
