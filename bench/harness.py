"""Pieces every benchmark shares: seeding, starting the service, wrk runs, peak RSS."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).resolve().parent / "lua" / "scenario.lua"
SCENARIOS = (
    "post",
    "get_hot",
    "get_hot_gzip",
    "get_hot_304",
    "get_cold",
    "get_by_id",
    "write_read",
    "health",
)
# The service's own finding (named on --scenarios; the peer has no such parameters).
FINDING = ("get_filtered", "get_searched")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def payload(i: int) -> str:
    """About 1 KB of JSON, shaped like the shared harness's seed."""
    return json.dumps(
        {
            "title": f"record {i}",
            "seq": i,
            "score": (i * 7919) % 1000 / 3,
            "active": i % 2 == 0,
            "type": "order" if i % 3 else "refund",
            "status": "open" if i % 2 else "paid",
            "tags": ["alpha", "beta", "gamma", f"tag{i % 97}"],
            "attrs": {"color": "blue", "size": i % 13, "ratio": 0.25},
            "body": f"{i:032x}" * 26,
        },
        separators=(",", ":"),
    )


def seed_sqlite(path: Path, records: int, users: int) -> None:
    """`records` rows spread evenly over users u1..u`users`, newest first by row number."""
    subprocess.run(
        [sys.executable, "-m", "app", "migrate"],
        check=True,
        cwd=ROOT,
        env={**os.environ, "APP_DATABASE_URL": f"sqlite:///{path}"},
        capture_output=True,
    )
    now = datetime.now(UTC)
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO data_records VALUES (?, ?, ?, ?, ?)",
            (
                (str(uuid.uuid4()), f"u{(i - 1) % users + 1}", payload(i), stamp, stamp)
                for i in range(1, records + 1)
                for stamp in [(now - timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")]
            ),
        )
    with sqlite3.connect(path) as conn:
        conn.execute("ANALYZE")


def sample_ids(path: Path, count: int) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM data_records ORDER BY random() LIMIT ?", (count,))]


def copy_database(source: Path, target: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")


def descendants(pid: int) -> list[int]:
    """This process and every process below it."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found += descendants(int(child))
    return found


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory of a process and its children (e.g. server workers), in MiB."""
    total = 0
    for p in set(descendants(pid)):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def worker_peak_rss_mib(pid: int) -> float:
    """Peak resident memory of the largest process in the tree (a server's worker), in MiB."""
    peaks = []
    for p in set(descendants(pid)):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]))
        except OSError:
            continue
    return max(peaks, default=0) / 1024


@contextmanager
def service(env: dict[str, str], *, log: Path, root: Path = ROOT) -> Iterator[tuple[str, int]]:
    """Serve the app with these APP_* settings (the tree at `root`: another build of the
    service, for a side-by-side run); yields its base URL and PID."""
    port = free_port()
    full_env = {
        **os.environ,
        "APP_HOST": "127.0.0.1",
        "APP_PORT": str(port),
        "APP_LOG_LEVEL": "warning",
        **env,
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve"],
            cwd=root,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the service did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.2)
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def wrk(url: str, scenario: str, *, duration: str, connections: int, env: dict[str, str]) -> dict[str, float]:
    """One wrk run of a scenario; its RESULT line as numbers."""
    output = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration}",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(SCRIPT),
            url,
        ],
        env={**os.environ, **env, "SCENARIO": scenario},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next((ln for ln in output.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no RESULT for {scenario}: {output[-1000:]}")
    return dict(json.loads(line[len("RESULT ") :]))


def arguments(doc: str | None) -> argparse.ArgumentParser:
    """The options every load benchmark takes: data size and the wrk run's shape."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=[*SCENARIOS, *FINDING])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--warmup", default="3s")
    parser.add_argument("--duration", default="10s")
    parser.add_argument("--connections", type=int, default=64)
    return parser


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        sys.exit("make bench needs wrk (Debian: apt-get install wrk)")


RESULT_COLUMNS = ["req_s", "p50_ms", "p99_ms", "status_429", "other_non2xx"]  # what wrk() measures


def table(rows: Sequence[Mapping[str, object]], columns: list[str]) -> str:
    """A Markdown table of the rows."""

    def cell(value: object) -> str:
        return (
            f"{value:,.0f}"
            if isinstance(value, float) and value >= 100
            else (f"{value:.1f}" if isinstance(value, float) else str(value))
        )

    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---:" if i else "---" for i in range(len(columns))) + "|",
    ]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def checkout(ref: str, where: Path) -> Path:
    """The service's files at a git commit, in a folder of their own."""
    where.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    return where


@contextmanager
def external(command: list[str], env: dict[str, str], url: str, log: Path) -> Iterator[int]:
    """A yardstick server started by its own script; yields its PID once /health answers."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 600  # the first start builds the peer's virtualenv
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{command[0]} did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.5)
        yield process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)
