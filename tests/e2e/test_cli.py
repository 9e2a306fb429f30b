"""The data-service command as a person runs it: in a subprocess, its output and exit code."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import jwt
import pytest

pytestmark = pytest.mark.e2e
SECRET = "0123456789abcdef0123456789abcdef"


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`data-service ARGS` (the console script when installed, else `python -m app`)."""
    script = shutil.which("data-service", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "app"]
    full = {k: v for k, v in os.environ.items() if not k.startswith("APP_")} | env
    return subprocess.run([*command, *args], capture_output=True, text=True, env=full, timeout=60)


def test_every_command_has_help() -> None:
    for command in ([], ["serve"], ["migrate"], ["check-sql"], ["token"], ["import"], ["export"]):
        answer = run(*command, "--help")
        assert answer.returncode == 0 and "Usage: data-service" in answer.stdout, command


def test_migrate_status_dry_run_and_an_edited_file(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'cli.db'}"

    before = run("migrate", "--status", APP_DATABASE_URL=database)
    planned = run("migrate", "--dry-run", APP_DATABASE_URL=database)
    applied = run("migrate", APP_DATABASE_URL=database)
    after = run("migrate", "--status", APP_DATABASE_URL=database)
    nothing = run("migrate", "--dry-run", APP_DATABASE_URL=database)
    sql = tmp_path / "sql"
    shutil.copytree(Path(__file__).resolve().parents[2] / "sql", sql)
    first = next((sql / "sqlite" / "migrations").glob("V0001__*.sql"))
    first.write_text(first.read_text() + "\n-- edited after release\n")
    edited = run("migrate", "--status", APP_DATABASE_URL=database, APP_SQL_DIR=str(sql))

    assert before.returncode == 0 and before.stdout.count("pending") == 5
    assert planned.returncode == 0 and "CREATE TABLE" in planned.stdout and "-- V0005" in planned.stdout
    assert applied.returncode == 0
    assert "applied 5 migration(s): V0001, V0002, V0003, V0004, V0005" in applied.stdout
    assert after.stdout.count("applied") == 5 and "pending" not in after.stdout
    assert "nothing pending" in nothing.stdout
    assert edited.returncode == 1 and "V0001  EDITED since it was applied" in edited.stdout


def test_a_database_that_cannot_be_used_is_one_line_and_exit_2() -> None:
    answer = run("migrate", APP_DATABASE_URL="postgresql://postgres@127.0.0.1:1/nowhere")

    assert answer.returncode == 2
    assert answer.stderr.count("\n") == 1 and answer.stderr.startswith(
        "data-service: the database cannot be used"
    )


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        answer = run("serve", "--port", str(port), APP_DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")

    assert answer.returncode == 2
    assert answer.stderr == f"data-service: port {port} on 127.0.0.1 is in use; set --port or APP_PORT\n"


def test_a_bad_setting_is_one_line_and_exit_2() -> None:
    answer = run("serve", APP_SERVER="nginx")

    assert answer.returncode == 2 and answer.stderr.count("\n") == 1
    assert "configuration error: APP_SERVER must be one of" in answer.stderr


def test_check_sql_checks_every_dialect_and_names_a_mismatch(tmp_path: Path) -> None:
    sql = tmp_path / "sql"
    shutil.copytree(Path(__file__).resolve().parents[2] / "sql", sql)

    clean = run("check-sql", APP_SQL_DIR=str(sql))
    (sql / "postgres" / "get_record.sql").write_text("SELECT * FROM data_records WHERE id = :record_id")
    broken = run("check-sql", APP_SQL_DIR=str(sql))

    assert clean.returncode == 0 and all(d in clean.stdout for d in ("sqlite:", "postgres:", "oracle:"))
    assert broken.returncode == 1 and "postgres: get_record" in broken.stderr


def test_token_signs_a_development_token_and_refuses_production_keys(tmp_path: Path) -> None:
    configured = {
        "APP_AUTH_MODE": "jwt",
        "APP_JWT_SECRET": SECRET,
        "APP_JWT_AUDIENCE": "data-service",
        "APP_JWT_ISSUER": "dev",
    }
    signed = run("token", "--sub", "alice", "--roles", "reader,admin", "--ttl", "60", **configured)
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')
    production = run(
        "token", "--sub", "alice",
        APP_AUTH_MODE="jwt", APP_JWT_JWKS_FILE=str(jwks), APP_JWT_AUDIENCE="a", APP_JWT_ISSUER="i",
    )  # fmt: skip

    claims = jwt.decode(
        signed.stdout.strip(), SECRET, algorithms=["HS256"], audience="data-service", issuer="dev"
    )
    assert signed.returncode == 0 and claims["sub"] == "alice" and claims["roles"] == ["reader", "admin"]
    assert claims["exp"] - claims["iat"] == 60 and claims["jti"]
    assert production.returncode == 2 and "JWKS" in production.stderr
