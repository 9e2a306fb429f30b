"""The access log of a real server process: one JSON line a request, with the architecture
document's fields, the request id on every line, never a token or a payload."""

from __future__ import annotations

import json
import time
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from tests.processes import call, migrated_sqlite, running_server

pytestmark = pytest.mark.e2e
SECRET = "eyJ-not-a-real-token-but-secret"


def send(port: int, method: str, path: str, body: object = None, **headers: str) -> int:
    return call(port, method, path, body, headers)[0]


def lines(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def served(tmp_path: Path, **env: str) -> AbstractContextManager[int]:
    database = migrated_sqlite(tmp_path, "log.db")
    return running_server({"APP_DATABASE_URL": database, "APP_LOG_LEVEL": "info", **env}, tmp_path)


def test_one_line_a_request_with_the_seeds_fields_and_no_secret(tmp_path: Path) -> None:
    with served(tmp_path) as port:
        created = send(
            port,
            "POST",
            "/data",
            {"user_id": "alice", "payload": {"card": "4111-1111"}},
            **{"X-Request-ID": "req-abc-1", "Authorization": f"Bearer {SECRET}"},
        )
        missing = send(port, "GET", "/data/nope", **{"X-Request-ID": "req-abc-2"})
        time.sleep(0.3)
    log = next(tmp_path.glob("server-*.log"))
    access = {line["request_id"]: line for line in lines(log) if line.get("event") == "request"}

    assert created == 201 and missing == 404
    first = access["req-abc-1"]
    assert {
        "timestamp",
        "level",
        "service",
        "request_id",
        "user_id",
        "endpoint",
        "duration_ms",
        "status",
        "payload_size",
        "method",
    } <= set(first)
    assert (first["service"], first["endpoint"], first["status"], first["method"]) == (
        "data-service",
        "/data",
        201,
        "POST",
    )
    assert first["payload_size"] > 0 and first["duration_ms"] > 0 and first["level"] == "info"
    assert first["user_id"] == "alice"  # the user the request acted for, with authentication off too
    assert access["req-abc-2"]["endpoint"] == "/data/{id}" and access["req-abc-2"]["error"] == "not-found"
    text = log.read_text()
    assert SECRET not in text and "4111-1111" not in text


def test_errors_only_leaves_successes_out(tmp_path: Path) -> None:
    with served(tmp_path, APP_ACCESS_LOG="errors") as port:
        ok = send(port, "GET", "/data?user_id=alice", **{"X-Request-ID": "fine-1"})
        refused = send(port, "GET", "/data", **{"X-Request-ID": "bad-1"})  # no user_id: 422
        time.sleep(0.3)
    log = next(tmp_path.glob("server-*.log"))
    logged = {line["request_id"] for line in lines(log) if line.get("event") == "request"}

    assert (ok, refused) == (200, 422)
    assert "bad-1" in logged and "fine-1" not in logged


def test_sampling_keeps_every_write_and_every_error(tmp_path: Path) -> None:
    with served(tmp_path, APP_ACCESS_LOG="sample:1000000") as port:
        reads = [send(port, "GET", "/health", **{"X-Request-ID": f"read-{i}"}) for i in range(20)]
        wrote = send(
            port, "POST", "/data", {"user_id": "alice", "payload": {}}, **{"X-Request-ID": "write-1"}
        )
        refused = send(port, "GET", "/data/nope", **{"X-Request-ID": "bad-1"})
        time.sleep(0.3)
    log = next(tmp_path.glob("server-*.log"))
    logged = {line["request_id"] for line in lines(log) if line.get("event") == "request"}

    assert set(reads) == {200} and (wrote, refused) == (201, 404)
    assert {"write-1", "bad-1"} <= logged and not any(r.startswith("read-") for r in logged)
