"""PostgreSQL clusters the tests start for themselves: a primary and streaming replicas made with
initdb and `pg_basebackup -R -X stream -C -S <slot> -c fast`, on free loopback ports, in a temporary
folder, as the `postgres` user when the tests run as root; each stopped and removed after.

Replica lag is made on purpose with pg_wal_replay_pause() / pg_wal_replay_resume(). Where the
PostgreSQL binaries are missing the tests skip, and under CI=true they fail instead.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.processes import free_port, required

DATABASE = "app"


def postgres_bin_dir() -> Path | None:
    """Where PostgreSQL's programs are (Debian keeps them out of PATH, a folder a version)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def as_postgres(command: list[str]) -> list[str]:
    """The command as the postgres user when running as root (initdb refuses root)."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@dataclass
class Node:
    """One PostgreSQL server of the cluster."""

    name: str
    port: int
    data: Path
    bin_dir: Path
    log: Path

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def sql(self, statement: str, database: str = DATABASE) -> str:
        """One statement through psql; its output, unaligned."""
        done = subprocess.run(
            [str(self.bin_dir / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
             "-d", database, "-Atqc", statement],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        return done.stdout.strip()

    def start(self, *settings: str) -> None:
        options = " ".join(
            [f"-p {self.port}", f"-k {self.data.parent}", "-c listen_addresses=127.0.0.1", *settings]
        )
        subprocess.run(
            as_postgres([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-o", options,
                          "-l", str(self.log), "-w", "-t", "60", "start"]),
            check=True, capture_output=True, timeout=90,
        )  # fmt: skip

    def create(self) -> None:
        """A new server (initdb) started as a primary that can stream its WAL."""
        subprocess.run(
            as_postgres([str(self.bin_dir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                          "--no-sync", "-E", "UTF8"]),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        self.start("-c wal_level=replica", "-c max_wal_senders=10", "-c fsync=off")

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            as_postgres([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"]),
            capture_output=True, timeout=90,
        )  # fmt: skip

    def position(self) -> int:
        """The primary's insert position, or a replica's replay position (bytes)."""
        return int(
            self.sql(
                "SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()"
                " ELSE pg_current_wal_insert_lsn() END - '0/0'::pg_lsn)::bigint",
                "postgres",
            )
        )


@dataclass
class Replication:
    """A primary and its streaming replicas."""

    primary: Node
    replicas: list[Node]

    def pause(self, replica: Node) -> None:
        """Stop the replica replaying WAL: it lags from now on, by as much as the primary writes."""
        replica.sql("SELECT pg_wal_replay_pause()", "postgres")

    def resume(self, replica: Node) -> None:
        replica.sql("SELECT pg_wal_replay_resume()", "postgres")

    def caught_up(self, timeout: float = 10.0) -> None:
        """Wait until every replica has replayed what the primary has written so far."""
        target = self.primary.position()
        ends = time.monotonic() + timeout
        for replica in self.replicas:
            while replica.position() < target:
                if time.monotonic() > ends:
                    raise TimeoutError(f"{replica.name} did not catch up")
                time.sleep(0.02)


def _programs_and_folder(programs: str, prefix: str) -> tuple[Path, Path]:
    """PostgreSQL's server programs (or a skip naming them) and a new folder the servers own."""
    found = postgres_bin_dir()
    bin_dir = Path(
        required(
            str(found) if found else None, f"the PostgreSQL server binaries ({programs}) are not installed"
        )
    )
    root = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
    return bin_dir, root


@contextmanager
def primary_with_replicas(count: int = 1) -> Iterator[Replication]:
    """A primary with `count` streaming replicas, each with a replication slot of its own."""
    bin_dir, root = _programs_and_folder("initdb, pg_ctl, pg_basebackup", "replication-")
    primary = Node("primary", free_port(), root / "primary", bin_dir, root / "primary.log")
    nodes = [primary]
    try:
        primary.create()
        primary.sql(f"CREATE DATABASE {DATABASE}", "postgres")
        replicas = []
        for number in range(1, count + 1):
            replica = Node(f"replica{number}", free_port(), root / f"replica{number}", bin_dir,
                           root / f"replica{number}.log")  # fmt: skip
            subprocess.run(
                as_postgres([str(bin_dir / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port),
                              "-U", "postgres", "-D", str(replica.data), "-R", "-X", "stream", "-C",
                              "-c", "fast", "-S", f"replica{number}"]),
                check=True, capture_output=True, timeout=120,
            )  # fmt: skip
            replica.start("-c hot_standby=on")
            nodes.append(replica)
            replicas.append(replica)
        yield Replication(primary, replicas)
    finally:
        for node in reversed(nodes):
            node.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def servers(*names: str) -> Iterator[list[Node]]:
    """Independent PostgreSQL servers, one a name, each with an empty `app` database."""
    bin_dir, root = _programs_and_folder("initdb, pg_ctl", "servers-")
    nodes: list[Node] = []
    try:
        for name in names:
            node = Node(name, free_port(), root / name, bin_dir, root / f"{name}.log")
            nodes.append(node)
            node.create()
            node.sql(f"CREATE DATABASE {DATABASE}", "postgres")
        yield nodes
    finally:
        for node in reversed(nodes):
            node.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
