"""The operator's disaster-recovery runbook (docs/operations.md) on real PostgreSQL servers the tests
start: a primary whose WAL streams continuously into an archive (`pg_receivewal --synchronous`
on a replication slot), a base backup (`pg_basebackup`), the primary destroyed (stopped at once,
its data folder removed), and a new primary restored from the backup and the archive, to the
latest point or to a point in time (`restore_command`, `recovery_target_time`), on the same
address, so that running services reconnect to it by themselves."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tests.clusters import DATABASE, Node, as_postgres, postgres_bin_dir
from tests.processes import free_port, required

SLOT = "archiver"


@dataclass
class Archived:
    """A primary, its WAL archive and its base backup."""

    primary: Node
    archive: Path
    backup: Path
    root: Path
    receiver: subprocess.Popen[bytes] | None = None

    def stream_wal(self) -> None:
        """pg_receivewal into the archive, flushing what it receives at once, from the slot."""
        self.receiver = subprocess.Popen(
            as_postgres([str(self.primary.bin_dir / "pg_receivewal"), "-h", "127.0.0.1",
                         "-p", str(self.primary.port), "-U", "postgres", "-D", str(self.archive),
                         "-S", SLOT, "--synchronous", "--no-loop", "-n"]),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def base_backup(self) -> None:
        subprocess.run(
            as_postgres([str(self.primary.bin_dir / "pg_basebackup"), "-h", "127.0.0.1",
                         "-p", str(self.primary.port), "-U", "postgres", "-D", str(self.backup),
                         "-X", "none", "-c", "fast"]),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    def destroy(self) -> None:
        """The primary lost: stopped without a checkpoint, its data folder gone."""
        self.primary.stop("immediate")
        shutil.rmtree(self.primary.data)
        if self.receiver is not None:  # it loses its server and ends, its last segment `.partial`
            self.receiver.wait(timeout=30)

    def restore(self, target_time: datetime | None = None) -> float:
        """A new primary from the base backup and the archive, on the old one's port, promoted
        once it has replayed the archive (or reached `target_time`). Returns the seconds it took."""
        started = time.monotonic()
        for partial in self.archive.glob("*.partial"):  # the segment being streamed when the primary died
            whole = partial.with_suffix("")
            if not whole.exists():
                shutil.copy(partial, whole)
        _give_to_postgres(self.archive)
        shutil.copytree(self.backup, self.primary.data)
        _give_to_postgres(self.primary.data)
        settings = [f"restore_command = 'cp {self.archive}/%f \"%p\"'", "recovery_target_action = 'promote'"]
        if target_time is not None:
            settings.append(f"recovery_target_time = '{target_time.isoformat()}'")
        with (self.primary.data / "postgresql.auto.conf").open("a") as conf:
            conf.write("\n".join(settings) + "\n")
        (self.primary.data / "recovery.signal").touch()
        _give_to_postgres(self.primary.data)
        self.primary.start("-c wal_level=replica", "-c fsync=off", "-c hot_standby=off")
        for _ in range(600):  # accepting writes: recovery has ended and the server is promoted
            try:
                if self.primary.sql("SELECT pg_is_in_recovery()", "postgres") == "f":
                    break
            except subprocess.CalledProcessError:
                pass
            time.sleep(0.05)
        return time.monotonic() - started

    def identity(self) -> tuple[str, str]:
        """Which history of the database this is: the system identifier and the timeline."""
        system = self.primary.sql("SELECT system_identifier FROM pg_control_system()", "postgres")
        timeline = self.primary.sql("SELECT timeline_id FROM pg_control_checkpoint()", "postgres")
        return system, timeline


def _give_to_postgres(path: Path) -> None:
    if os.geteuid() != 0:
        return
    owner = pwd.getpwnam("postgres")
    for folder, _, files in os.walk(path):
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        for name in files:
            os.chown(os.path.join(folder, name), owner.pw_uid, owner.pw_gid)
    os.chmod(path, 0o700)


@contextmanager
def archived_primary() -> Iterator[Archived]:
    """A primary with the service's database, its WAL streamed into an archive from the start."""
    found = postgres_bin_dir()
    message = "PostgreSQL's server programs (initdb, pg_ctl, pg_basebackup, pg_receivewal) are not installed"
    bin_dir = Path(required(str(found) if found else None, message))
    root = Path(tempfile.mkdtemp(prefix="recovery-"))
    archive = root / "archive"
    archive.mkdir()
    _give_to_postgres(root)
    os.chmod(root, 0o755)
    primary = Node("primary", free_port(), root / "primary", bin_dir, root / "primary.log")
    archived = Archived(primary, archive, root / "backup", root)
    try:
        primary.create()
        primary.sql(f"SELECT pg_create_physical_replication_slot('{SLOT}', true)", "postgres")
        archived.stream_wal()
        primary.sql(f"CREATE DATABASE {DATABASE}", "postgres")
        yield archived
    finally:
        if archived.receiver is not None and archived.receiver.poll() is None:
            archived.receiver.kill()
        if primary.data.exists():
            primary.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
