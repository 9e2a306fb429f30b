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
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tests.processes import daemon, free_port, required

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
    # SIGINT: immediate shutdown
    with daemon(command, listen, root, root / "pgbouncer.log", signal.SIGINT, "pgbouncer") as port:
        yield port


def through(url: str, port: int) -> str:
    """The same database's URL through the pooler on `port`."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.username or 'postgres'}@127.0.0.1:{port}"))
