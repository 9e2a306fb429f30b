"""GET /metrics: the Prometheus text format, with the seed's metrics and bounded labels."""

from __future__ import annotations

import random
import shutil
import string
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app.errors import ConfigError
from app.main import create_app
from app.settings import Settings
from tests.api.tokens import with_tokens
from tests.conftest import ServiceClient
from tests.scrape import samples, total, value


def test_requests_records_cache_and_limits_are_counted(client: TestClient) -> None:
    created = client.post("/data", json={"user_id": "alice", "payload": {"n": 1}})
    client.post(
        "/data/bulk", json={"items": [{"user_id": "alice", "payload": {}}, {"user_id": "bob", "payload": {}}]}
    )
    client.get(f"/data/{created.json()['id']}")
    client.get("/data/not-a-record")
    for _ in range(3):
        client.get("/data", params={"user_id": "alice"})

    found = samples(client)

    assert value(found, "requests_total", method="POST", endpoint="/data", status="201") == 1
    assert value(found, "requests_total", method="POST", endpoint="/data/bulk", status="201") == 1
    assert value(found, "requests_total", method="GET", endpoint="/data/{id}", status="200") == 1
    assert value(found, "requests_total", method="GET", endpoint="/data/{id}", status="404") == 1
    assert value(found, "requests_total", method="GET", endpoint="/data", status="200") == 3
    assert value(found, "request_duration_seconds_count", method="GET", endpoint="/data", status="200") == 3
    assert value(found, "data_records_created_total") == 3
    assert value(found, "payload_size_bytes_count") == 3
    # Cached from its second read (APP_CACHE_MIN_USES, 2 by default): two misses, then a hit.
    assert total(found, "cache_operations_total", operation="get", result="miss") == 2
    assert total(found, "cache_operations_total", operation="get", result="hit") == 1
    assert value(found, "rate_limit_decisions_total", decision="admitted") == 6  # a read by id names no user
    assert value(found, "breaker_state", dependency="database", state="closed") == 1
    assert value(found, "breaker_state", dependency="database", state="open") == 0
    build = dict(next(labels for (name, labels) in found if name == "build_info"))
    assert build["dialect"] in ("sqlite", "postgres") and build["server"] == "granian" and build["version"]


def test_refusals_by_the_limit_are_counted(make_client: Callable[..., TestClient]) -> None:
    client = make_client(rate_limit_per_minute=2)
    statuses = [client.get("/data", params={"user_id": "carol"}).status_code for _ in range(4)]

    found = samples(client)

    assert statuses.count(429) == 2
    assert value(found, "rate_limit_decisions_total", decision="refused") == 2
    assert value(found, "requests_total", method="GET", endpoint="/data", status="429") == 2


def test_labels_stay_bounded_whatever_paths_and_methods_clients_send(client: TestClient) -> None:
    noise = random.Random(12)
    for _ in range(300):
        path = "/" + "".join(
            noise.choices(string.ascii_letters + string.digits + "/._-", k=noise.randint(1, 40))
        )
        method = noise.choice(
            ["GET", "POST", "BREW", "PROPFIND", "".join(noise.choices(string.ascii_uppercase, k=8))]
        )
        client.request(method, path)

    found = samples(client)

    endpoints = {dict(labels)["endpoint"] for name, labels in found if name == "requests_total"}
    methods = {dict(labels)["method"] for name, labels in found if name == "requests_total"}
    assert endpoints <= {"unmatched", "/data", "/data/{id}", "/data/bulk", "/metrics", "/health", "/ready"}
    assert methods <= {"GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "other"}
    series = [labels for name, labels in found if name == "requests_total"]
    assert len(series) <= 40  # a few statuses for each endpoint and method, not one per request


def test_metrics_are_public_when_tokens_are_on(settings: Settings, tmp_path: Path) -> None:
    with TestClient(create_app(with_tokens(settings, tmp_path))) as secured:
        assert secured.get("/data", params={"user_id": "alice"}).status_code == 401
        assert secured.get("/metrics").status_code == 200


def test_promtool_accepts_the_exposition(client: TestClient) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    client.post("/data", json={"user_id": "alice", "payload": {}})
    text = client.get("/metrics").text

    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)

    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_unique_users_are_counted_per_window_without_their_ids(client: ServiceClient) -> None:
    for user in ("alice", "bob", "alice", "carol", "bob"):
        client.get("/data", params={"user_id": user})
    client.count_active_users()

    answer = client.get("/metrics").text
    found = samples(client)

    for window in ("5m", "1h", "24h"):
        assert value(found, "unique_users_active", time_window=window) == 3
    assert "alice" not in answer and "carol" not in answer


def test_connection_pools_report_their_own_counters(client: TestClient, settings: Settings) -> None:
    client.get("/data", params={"user_id": "alice"})

    found = samples(client)

    database = settings.database_dialect
    pools = {dict(labels)["pool"] for (name, labels) in found if name == "pool_connections_max"}
    if database == "postgres":
        assert pools == {"primary"}
        assert (
            value(found, "pool_connections_max", pool="primary", database=database)
            == settings.pg_pool_max_size
        )
        assert (
            value(found, "pool_connections_open", pool="primary", database=database)
            >= settings.pg_pool_min_size
        )
    else:
        assert pools == {"writer", "readers"}
        assert (
            value(found, "pool_connections_max", pool="readers", database=database) == settings.sqlite_readers
        )
    assert (
        value(found, "active_connections", pool=next(iter(pools)), database=database) == 0
    )  # between requests


def test_metrics_off_serves_records_but_no_metrics(make_client: Callable[..., ServiceClient]) -> None:
    client = make_client(metrics=False)
    for user in ("alice", "bob"):
        assert client.get("/data", params={"user_id": user}).status_code == 200
    client.count_active_users()  # drains the users seen, counts none

    assert client.get("/metrics").status_code == 404
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]
    assert client.get("/ready").status_code == 200


def test_the_process_and_the_interpreter_are_measured_beside_the_service(client: TestClient) -> None:
    names = {name for name, _ in samples(client)}

    assert {"process_cpu_seconds_total", "process_resident_memory_bytes", "python_info"} <= names
    assert any(name.startswith("python_gc_") for name in names)


def test_a_namespace_prefixes_the_services_own_metrics_only(make_client: Callable[..., TestClient]) -> None:
    client = make_client(metrics_namespace="records")
    client.get("/data", params={"user_id": "alice"})

    names = {name for name, _ in samples(client)}

    assert {"records_requests_total", "records_build_info", "records_cache_operations_total"} <= names
    assert not {"requests_total", "build_info"} & names
    assert "process_cpu_seconds_total" in names  # the standard ones keep their names


def test_a_namespace_that_is_no_metric_name_stops_the_start() -> None:
    with pytest.raises(ConfigError, match="APP_METRICS_NAMESPACE"):
        Settings(metrics_namespace="data-service")
