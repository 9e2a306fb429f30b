"""Liveness and readiness as Kubernetes sees them."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from app.main import create_app
from app.settings import Settings


def test_health_answers_healthy(client: TestClient) -> None:
    response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "healthy"}


def test_ready_reports_each_check(client: TestClient) -> None:
    response = client.get("/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "cache": "ok"}}


def test_not_ready_names_the_failing_check_while_health_stays_up(tmp_path: Path) -> None:
    unmigrated = Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}", log_level="warning")

    with TestClient(create_app(unmigrated)) as client:
        ready = client.get("/ready")
        health = client.get("/health")

    assert ready.status_code == 503
    assert ready.json()["status"] == "not_ready"
    assert ready.json()["checks"]["database"].startswith("error")
    assert ready.json()["checks"]["cache"] == "ok"
    assert health.status_code == 200


def test_database_failure_on_a_request_is_503_not_500(tmp_path: Path) -> None:
    unmigrated = Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}", log_level="warning")

    with TestClient(create_app(unmigrated)) as client:
        response = client.post("/data", json={"user_id": "alice", "payload": {}})

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "no such table" not in response.text  # driver messages stay in the log
