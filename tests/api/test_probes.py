"""Liveness and readiness as Kubernetes sees them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from app.lifecycle import Lifecycle
from app.main import create_app
from app.routes.probes import ProbeRoutes
from app.settings import Settings


def test_health_answers_healthy(client: TestClient) -> None:
    response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "healthy"}


def test_ready_reports_each_check(client: TestClient) -> None:
    response = client.get("/ready")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "cache": "ok"},
        "process": "serving",
    }


def test_a_failing_shared_dependency_is_degraded_not_unready(tmp_path: Path) -> None:
    """Every replica sees the same database: failing them all at once would be a total outage."""
    unmigrated = Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}", log_level="warning")

    with TestClient(create_app(unmigrated)) as client:
        ready = client.get("/ready")
        health = client.get("/health")

    assert ready.status_code == 200
    assert ready.json()["status"] == "degraded" and ready.json()["process"] == "serving"
    assert ready.json()["checks"]["database"].startswith("error")
    assert ready.json()["checks"]["cache"] == "ok"
    assert health.status_code == 200


def test_strict_readiness_fails_while_a_dependency_fails(tmp_path: Path) -> None:
    unmigrated = Settings(
        database_url=f"sqlite:///{tmp_path / 'empty.db'}", log_level="warning", ready_strict=True
    )

    with TestClient(create_app(unmigrated)) as client:
        ready = client.get("/ready")

    assert ready.status_code == 503
    assert ready.json()["status"] == "not_ready"
    assert ready.json()["checks"]["database"].startswith("error")


@pytest.mark.anyio
@pytest.mark.parametrize("state", ["starting", "draining"])
async def test_a_process_starting_or_draining_is_not_ready_whatever_its_dependencies(state: str) -> None:
    async def fine() -> None:
        return None

    lifecycle = Lifecycle()
    lifecycle.state = state
    probes = ProbeRoutes({"database": fine}, lifecycle=lifecycle)

    response = await probes.ready(None)  # type: ignore[arg-type]  # the probe reads nothing of it

    assert response.status_code == 503
    assert json.loads(bytes(response.body)) == {
        "status": "not_ready",
        "checks": {"database": "not checked"},
        "process": state,
    }


def test_once_shutdown_begins_the_process_says_it_is_draining(settings: Settings) -> None:
    app = create_app(settings)
    ready = next(r for r in app.routes if isinstance(r, Route) and r.path == "/ready")
    with TestClient(app) as client:
        assert client.get("/ready").json()["process"] == "serving"

    response = asyncio.run(ready.endpoint(None))  # what a probe arriving now is answered

    assert response.status_code == 503 and json.loads(bytes(response.body))["process"] == "draining"


def test_database_failure_on_a_request_is_503_not_500(tmp_path: Path) -> None:
    unmigrated = Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}", log_level="warning")

    with TestClient(create_app(unmigrated)) as client:
        response = client.post("/data", json={"user_id": "alice", "payload": {}})

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "no such table" not in response.text  # driver messages stay in the log


def test_a_database_never_migrated_is_named_in_ready_in_answers_and_in_the_log(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    fresh = Settings(database_url=f"sqlite:///{tmp_path / 'never-migrated.db'}", log_level="info")
    with TestClient(create_app(fresh)) as client:
        ready = client.get("/ready").json()
        answers = [client.get("/data", params={"user_id": "alice"}) for _ in range(3)]
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")]

    assert ready["checks"]["database"] == "error: schema not migrated, run data-service migrate"
    assert all(a.status_code == 503 for a in answers)
    assert answers[0].json()["type"] == "urn:data-service:problem:schema-not-migrated"
    started = [line for line in lines if line["event"] == "schema not migrated"]
    causes = [line for line in lines if line["event"] == "unavailable"]
    assert started and "data-service migrate" in started[0]["hint"]
    assert len(causes) == 1  # three failing requests, one line: throttled
    assert causes[0]["problem"] == "schema-not-migrated" and causes[0]["cause"] == "OperationalError"
