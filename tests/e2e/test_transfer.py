"""`data-service import` and `export` as an operator runs them: in a subprocess, against a served
process, with their output, files and exit codes."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import shlex
import signal
import struct
import subprocess
import sys
import termios
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import call, migrated_sqlite, running_server

pytestmark = pytest.mark.e2e
FAST = {"APP_RATE_LIMIT_PER_MINUTE": "1000000"}


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "app", *args]


def cli(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "DATA_SERVICE_"))} | env
    return subprocess.run(command(*args), capture_output=True, text=True, env=full, timeout=timeout)


def total(port: int, user: str) -> int:
    status, _, body = call(port, "GET", f"/data?user_id={user}&page_size=1")
    assert status == 200, body
    return int(json.loads(body)["total"])


def write_rows(path: Path, rows: int, users: list[str]) -> None:
    with path.open("w") as out:
        for n in range(rows):
            out.write(
                json.dumps({"user_id": users[n % len(users)], "payload": {"type": "order", "n": n}}) + "\n"
            )


def new_rows(tmp_path: Path, prefix: str, *, users: int, rows: int) -> tuple[Path, list[str]]:
    """An NDJSON file of `rows` rows spread over `users` new users; the file and the users."""
    names = [f"{prefix}-{uuid.uuid4().hex[:8]}-{n}" for n in range(users)]
    source = tmp_path / "in.ndjson"
    write_rows(source, rows, names)
    return source, names


@pytest.fixture(scope="module")
def sqlite_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    folder = tmp_path_factory.mktemp("transfer")
    with running_server({"APP_DATABASE_URL": migrated_sqlite(folder, "t.db"), **FAST}, folder) as port:
        yield port


@pytest.fixture(scope="module")
def postgres_port(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    folder = tmp_path_factory.mktemp("transfer-pg")
    with running_server({"APP_DATABASE_URL": postgres_url, **FAST}, folder) as port:
        yield port


def test_import_stores_rows_in_batches_and_writes_the_rejected_ones_with_their_reason(
    sqlite_port: int, tmp_path: Path
) -> None:
    source, users = new_rows(tmp_path, "imp", users=3, rows=2_500)
    with source.open("a") as out:
        out.write("not json\n")
        out.write(json.dumps({"user_id": "no spaces allowed", "payload": {}}) + "\n")

    done = cli("import", str(source), "--batch", "400", "--url", f"http://127.0.0.1:{sqlite_port}")

    assert done.returncode == 1, done.stderr  # rows were rejected
    assert "imported 2,502 rows" in done.stdout and "2,500 stored, 2 rejected" in done.stdout
    assert sum(total(sqlite_port, user) for user in users) == 2_500
    rejected = [
        json.loads(line) for line in (tmp_path / "in.ndjson.rejected.ndjson").read_text().splitlines()
    ]
    assert [r["row"] for r in rejected] == [2_501, 2_502]
    assert "malformed" in rejected[0]["reason"] and rejected[0]["input"] == "not json"
    assert "regex" in rejected[1]["reason"]  # the service's own reason for its user id rule


def test_an_export_imports_back_in_both_formats(sqlite_port: int, tmp_path: Path) -> None:
    source, users = new_rows(tmp_path, "exp", users=2, rows=300)
    url = f"http://127.0.0.1:{sqlite_port}"
    assert cli("import", str(source), "--url", url).returncode == 0

    for form in ("ndjson", "csv"):
        exported = tmp_path / f"out.{form}"
        done = cli("export", *(f"--user={u}" for u in users), "-o", str(exported), "--url", url)
        assert done.returncode == 0, done.stderr
        assert "exported 300 rows of 2 user(s)" in done.stderr
        if form == "csv":
            assert exported.read_text().count("id,user_id,created_at") == 1  # one header
        # Into other users' names, so the copies are told apart from the originals.
        moved = exported.read_text().replace("exp-", "cpy-")
        copy = tmp_path / f"copy.{form}"
        copy.write_text(moved)
        assert cli("import", str(copy), "--url", url).returncode == 0
        for user in users:
            copied = user.replace("exp-", "cpy-")
            assert total(sqlite_port, copied) == 150
            _, _, body = call(sqlite_port, "GET", f"/data/export?user_id={copied}")
            seen = sorted(json.loads(line)["payload"]["n"] for line in body.splitlines())
            assert seen == sorted(range(users.index(user), 300, 2))
        for user in users:  # the next format's copies start from none
            for line in call(sqlite_port, "GET", f"/data/export?user_id={user.replace('exp-', 'cpy-')}")[
                2
            ].splitlines():
                call(sqlite_port, "DELETE", f"/data/{json.loads(line)['id']}")


def test_export_to_standard_output_is_the_data_alone(sqlite_port: int, tmp_path: Path) -> None:
    user = f"out-{uuid.uuid4().hex[:8]}"
    source = tmp_path / "in.ndjson"
    write_rows(source, 10, [user])
    url = f"http://127.0.0.1:{sqlite_port}"
    assert cli("import", str(source), "--url", url).returncode == 0

    done = cli("export", "--user", user, "--url", url)

    assert done.returncode == 0
    assert [json.loads(line)["user_id"] for line in done.stdout.splitlines()] == [user] * 10


def test_the_progress_bar_on_a_terminal_shows_rows_per_second_and_time_left(
    sqlite_port: int, tmp_path: Path
) -> None:
    source = tmp_path / "in.ndjson"
    write_rows(source, 3_000, [f"tty-{uuid.uuid4().hex[:8]}"])
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 110, 0, 0))
    try:
        process = subprocess.Popen(
            command("import", str(source), "--batch", "200", "--url", f"http://127.0.0.1:{sqlite_port}"),
            stdout=subprocess.DEVNULL,
            stderr=terminal,
        )
        os.close(terminal)
        drawn = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal closed: the command ended
                break
            if not chunk:
                break
            drawn += chunk
        assert process.wait(timeout=60) == 0
    finally:
        os.close(controller)

    text = drawn.decode(errors="replace")
    assert "\r" in text  # redrawn in place
    assert re.search(r"import: +\d+%\|.*\| [\d,]+ rows, [\d,]+ rows/s \[\d\d:\d\d<\d\d:\d\d\]", text), text
    assert "100%" in text


def test_progress_is_a_plain_line_every_few_seconds_when_not_on_a_terminal(
    sqlite_port: int, tmp_path: Path
) -> None:
    source = tmp_path / "in.ndjson"
    write_rows(source, 3_000, [f"log-{uuid.uuid4().hex[:8]}"])

    done = cli(
        "import",
        str(source),
        "--batch",
        "100",
        "--progress-every",
        "0.05",
        "--url",
        f"http://127.0.0.1:{sqlite_port}",
    )

    assert done.returncode == 0
    lines = done.stderr.splitlines()
    assert len(lines) >= 2 and "\r" not in done.stderr and "\x1b" not in done.stderr
    assert all(
        re.fullmatch(r"import: [\d,]+ rows, [\d,]+ rows/s, \d+% done, about \d:\d\d:\d\d left", line)
        for line in lines
    ), lines


def test_an_interrupted_import_says_how_to_resume_and_the_resumed_one_stores_each_row_once(
    postgres_port: int, tmp_path: Path
) -> None:
    source, users = new_rows(tmp_path, "int", users=4, rows=60_000)
    url = f"http://127.0.0.1:{postgres_port}"
    process = subprocess.Popen(
        command("import", str(source), "--batch", "250", "--progress-every", "0.05", "--url", url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    first = process.stderr.readline()  # a progress line: some batches are stored
    assert first.startswith("import: "), first
    process.send_signal(signal.SIGINT)
    _, said = process.communicate(timeout=60)

    assert process.returncode == 130
    found = re.search(r"stopped after row ([\d,]+); to resume: data-service (import .+)$", said, re.MULTILINE)
    assert found, said
    done_rows = int(found.group(1).replace(",", ""))
    assert 0 < done_rows < 60_000
    assert sum(total(postgres_port, user) for user in users) >= done_rows

    resumed = cli(*shlex.split(found.group(2)), "--url", url, "--progress-every", "0")

    assert resumed.returncode == 0, resumed.stderr
    assert f"imported {60_000 - done_rows:,} rows" in resumed.stdout
    assert [total(postgres_port, user) for user in users] == [15_000] * 4  # none lost, none twice


def _peak_rss_mib(source: Path, url: str) -> tuple[float, str]:
    """The import's own peak resident memory (its rusage alone, not the test's other children)."""
    said = source.with_suffix(".out")
    with said.open("wb") as out:
        process = subprocess.Popen(
            command("import", str(source), "--progress-every", "0", "--url", url), stdout=out, stderr=out
        )
        _, _, usage = os.wait4(process.pid, 0)
        process.returncode = 0  # reaped by wait4
    return usage.ru_maxrss / 1024, said.read_text()


def test_an_import_twenty_times_larger_takes_the_same_memory(postgres_port: int, tmp_path: Path) -> None:
    # (The million-row figure is in docs/performance.md; twenty times the rows shows the same
    # flat memory in a fifth of the suite's time.)
    users = [f"big-{uuid.uuid4().hex[:8]}-{n}" for n in range(10)]
    small, large = tmp_path / "small.ndjson", tmp_path / "large.ndjson"
    write_rows(small, 10_000, users)
    write_rows(large, 200_000, users)
    url = f"http://127.0.0.1:{postgres_port}"

    small_peak, _ = _peak_rss_mib(small, url)
    large_peak, said = _peak_rss_mib(large, url)

    assert "imported 200,000 rows" in said and "200,000 stored, 0 rejected" in said, said
    assert sum(total(postgres_port, user) for user in users) == 210_000
    # Twenty times the rows, the same memory: nothing of a row is kept once its batch is sent.
    assert large_peak - small_peak < 16, (small_peak, large_peak)


def test_without_a_service_or_with_a_bad_file_it_is_one_line_and_exit_2(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("id,body\r\n1,{}\r\n")
    port = 9  # discard: nothing listens

    nobody = cli("import", str(source), "--url", f"http://127.0.0.1:{port}")
    missing = cli("import", str(tmp_path / "nope.ndjson"), "--url", f"http://127.0.0.1:{port}")

    assert nobody.returncode == 2 and len(nobody.stderr.splitlines()) == 1
    assert (
        f"no service answers at http://127.0.0.1:{port}" in nobody.stderr or "needs user_id" in nobody.stderr
    )
    assert (
        missing.returncode == 2 and "No such file" in missing.stderr and len(missing.stderr.splitlines()) == 1
    )


def test_a_bad_csv_header_is_one_line_and_exit_2(sqlite_port: int, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("id,body\r\n1,{}\r\n")

    done = cli("import", str(source), "--url", f"http://127.0.0.1:{sqlite_port}")

    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1
    assert "the CSV header names id, body: it needs user_id and payload" in done.stderr


def test_a_refused_token_stops_the_import_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path
    env = {
        "APP_DATABASE_URL": migrated_sqlite(folder, "auth.db"),
        "APP_AUTH_MODE": "jwt",
        "APP_JWT_SECRET": "0123456789abcdef0123456789abcdef",
        "APP_JWT_AUDIENCE": "data-service",
        "APP_JWT_ISSUER": "https://idp.example/",
    }
    source = tmp_path / "in.ndjson"
    write_rows(source, 10, ["someone"])
    with running_server(env, folder) as port:
        done = cli("import", str(source), "--url", f"http://127.0.0.1:{port}", "--token", "not-a-token")

    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1
    assert "POST /data/bulk answered HTTP 401" in done.stderr and "to resume" in done.stderr
