"""Read-only mode: APP_READ_ONLY and PUT /admin/read-only refuse writes with 503 `read-only`;
reads go on; with Redis the switch reaches every process."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app.cli import apply_migrations as migrate
from app.main import assemble, create_app
from app.settings import Settings
from tests.api.tokens import auth, token, with_tokens
from tests.conftest import ServiceClient
from tests.processes import free_port

READ_ONLY = "urn:data-service:problem:read-only"
RECORD = {"user_id": "alice", "payload": {"n": 1}}


def writes(client: TestClient) -> list[int]:
    """The status of each kind of write."""
    return [
        client.post("/data", json=RECORD).status_code,
        client.post("/data/bulk", json={"items": [RECORD]}).status_code,
        client.post("/data", json=RECORD, headers={"Idempotency-Key": '"k"'}).status_code,
    ]


def test_started_read_only_every_write_is_503_and_reads_go_on(
    make_client: Callable[..., TestClient], stored_count: Callable[[str], int]
) -> None:
    client = make_client(read_only=True)

    refused = client.post("/data", json=RECORD)

    assert writes(client) == [503, 503, 503]
    assert refused.json()["type"] == READ_ONLY and refused.headers["retry-after"] == "30"
    assert client.get("/data", params={"user_id": "alice"}).status_code == 200
    assert stored_count("alice") == 0


@pytest.fixture
def operated(make_client: Callable[..., ServiceClient]) -> ServiceClient:
    """A client of the app with an admin port, where operators switch read-only mode."""
    return make_client(metrics_port=free_port())


def test_the_admin_endpoint_switches_writes_off_and_on(operated: ServiceClient) -> None:
    client = operated
    assert client.admin("GET", "/admin/read-only").json()["read_only"] is False
    switched = client.admin("PUT", "/admin/read-only", json={"read_only": True, "reason": "database upgrade"})

    refused = client.post("/data", json=RECORD)
    shown = client.admin("GET", "/admin/read-only").json()
    back = client.admin("PUT", "/admin/read-only", json={"read_only": False})

    assert switched.status_code == 200 and switched.json()["read_only"] is True
    assert refused.status_code == 503 and refused.json()["detail"].endswith("database upgrade")
    assert shown["read_only"] is True and shown["reason"] == "database upgrade" and shown["since"] > 0
    assert back.status_code == 200 and writes(client) == [201, 201, 201]


@pytest.mark.parametrize(
    "body",
    [{}, {"read_only": "yes"}, {"read_only": True, "extra": 1}, {"read_only": True, "reason": "x" * 201}],
)
def test_a_bad_switch_is_422_and_changes_nothing(operated: ServiceClient, body: dict) -> None:
    answer = operated.admin("PUT", "/admin/read-only", json=body)

    assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"
    assert operated.admin("GET", "/admin/read-only").json()["read_only"] is False


def test_without_tokens_the_public_port_serves_no_administration(
    client: TestClient, operated: ServiceClient
) -> None:
    for each in (client, operated):  # with an admin port, and without one
        switched = each.put("/admin/read-only", json={"read_only": True})
        assert switched.status_code == 404 and each.get("/admin/read-only").status_code == 404
        assert "/admin/read-only" not in each.get("/openapi.json").json()["paths"]
        assert each.post("/data", json=RECORD).status_code == 201


@pytest.fixture
def secured(settings: Settings, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(with_tokens(settings, tmp_path))) as test_client:
        yield test_client


def test_with_tokens_only_an_admin_switches(secured: TestClient) -> None:
    writer = auth(token("alice", ["writer"]))
    admin = auth(token("root", ["admin"]))

    assert secured.put("/admin/read-only", json={"read_only": True}, headers=writer).status_code == 403
    assert secured.get("/admin/read-only", headers=writer).status_code == 403
    assert secured.put("/admin/read-only", json={"read_only": True}).status_code == 401
    assert secured.put("/admin/read-only", json={"read_only": True}, headers=admin).status_code == 200
    assert secured.post("/data", json=RECORD, headers=writer).status_code == 503


def test_with_redis_the_switch_reaches_every_process(
    settings: Settings, make_client: Callable[..., ServiceClient]
) -> None:
    if not settings.redis_url:
        pytest.skip("one process and no Redis: nothing to share")
    first, second = make_client(metrics_port=free_port()), make_client()

    first.admin("PUT", "/admin/read-only", json={"read_only": True, "reason": "drill"})
    deadline = time.monotonic() + 5
    while second.post("/data", json=RECORD).status_code != 503 and time.monotonic() < deadline:
        time.sleep(0.1)
    followed_after = 5 - (deadline - time.monotonic())
    third = make_client()  # started later: takes the shared mode
    refused_by_third = third.post("/data", json=RECORD).status_code
    first.admin("PUT", "/admin/read-only", json={"read_only": False})
    time.sleep(1.5)

    assert followed_after < 2.5  # polled every second
    assert refused_by_third == 503
    assert writes(second) == [201, 201, 201] and writes(third)[0] == 201


def test_with_redis_away_the_switch_is_503_and_nothing_changes(tmp_path: Path) -> None:
    configured = Settings(
        database_url=f"sqlite:///{tmp_path / 'r.db'}",
        redis_url="redis://127.0.0.1:1",
        log_level="critical",
        metrics_port=free_port(),
    )
    migrate(configured)
    with ServiceClient(assemble(configured), configured.metrics_port) as client:
        answer = client.admin("PUT", "/admin/read-only", json={"read_only": True})
        assert answer.status_code == 503 and "no process was switched" in answer.json()["detail"]
        assert client.admin("GET", "/admin/read-only").json()["read_only"] is False
