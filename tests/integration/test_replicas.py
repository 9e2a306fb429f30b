"""Read replicas on a real PostgreSQL primary and streaming replica (tests/clusters.py): reads
routed to the replica, a writer reading its writes at once from any process while the replica
lags, and a replica that lags, stops or freezes leaving rotation without a 5xx and coming back."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from starlette.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests import backing
from tests.clusters import Replication, primary_with_replicas
from tests.faults import BLACK_HOLE, PASS, FaultProxy, fault_proxy
from tests.scrape import samples, value

MAX_LAG = 1.0  # seconds: a replica further behind serves no reads
TICK = 0.25  # how often the service learns the replicas' positions (adapters/db/replicas.py)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Replication]:
    with primary_with_replicas(1) as running:
        backing.migrate_in_thread(running.primary.url)
        yield running


@pytest.fixture(autouse=True)
def replaying(cluster: Replication) -> Iterator[None]:
    """Every test starts with the replica replaying and caught up, and leaves it so."""
    cluster.resume(cluster.replicas[0])
    cluster.caught_up()
    yield
    replica = cluster.replicas[0]
    if replica.data.exists() and not _answers(replica.port):
        replica.start("-c hot_standby=on")
    cluster.resume(replica)


def _answers(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def serving(primary: str, replica: str, **overrides: Any) -> Iterator[TestClient]:
    chosen: dict[str, Any] = {
        "database_read_max_lag_seconds": MAX_LAG,
        "database_read_timeout_seconds": 1.0,
        "db_breaker_failures": 3,
        "log_level": "critical",
    }
    settings = Settings(database_url=primary, database_read_urls=replica, **(chosen | overrides))
    with TestClient(create_app(settings)) as client:
        yield client


def reads(client: TestClient) -> tuple[float, float]:
    """Reads served so far by the primary and by the replica."""
    found = samples(client)
    return (
        value(found, "database_reads_total", target="primary"),
        value(found, "database_reads_total", target="replica-1"),
    )


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    ends = time.monotonic() + timeout
    while not check():
        if time.monotonic() > ends:
            raise AssertionError("not within the time allowed")
        time.sleep(0.05)


def breaker(client: TestClient, dependency: str, state: str) -> float:
    return value(samples(client), "breaker_state", dependency=dependency, state=state)


def learned(cluster: Replication) -> None:
    """The replica has replayed everything, and the service has learned it (two ticks)."""
    cluster.caught_up()
    time.sleep(2 * TICK)


def write(client: TestClient, user: str) -> dict[str, Any]:
    answer = client.post("/data", json={"user_id": user, "payload": {"n": uuid.uuid4().hex}})
    assert answer.status_code == 201
    return answer.json()  # type: ignore[no-any-return]


def test_reads_go_to_the_replica_and_writes_to_the_primary(cluster: Replication) -> None:
    primary = cluster.primary
    with serving(primary.url, cluster.replicas[0].url) as client:
        record = write(client, "spread")
        learned(cluster)
        before = reads(client)
        listed = client.get("/data", params={"user_id": "spread", "count": "exact"})
        one = client.get(f"/data/{record['id']}")
        exported = client.get("/data/export", params={"user_id": "spread"})
        after = reads(client)

    assert listed.status_code == one.status_code == exported.status_code == 200
    assert listed.json()["items"] == [record] and one.json() == record
    assert after[1] - before[1] == 3  # page (with its count), record and export: all on the replica
    assert after[0] == before[0]


def test_a_writer_reads_its_write_at_once_while_the_replica_lags(cluster: Replication) -> None:
    replica = cluster.replicas[0]
    with serving(cluster.primary.url, replica.url, database_read_max_lag_seconds=30.0) as client:
        write(client, "reader")  # another user, who has read nothing yet
        learned(cluster)
        cluster.pause(replica)
        record = write(client, "writer")
        primary_before, replica_before = reads(client)
        one = client.get(f"/data/{record['id']}")
        page = client.get("/data", params={"user_id": "writer"})
        others = client.get("/data", params={"user_id": "reader"})
        primary_after, replica_after = reads(client)

    assert one.status_code == 200 and one.json() == record  # the replica has not replayed it
    assert page.json()["items"] == [record]
    assert others.status_code == 200 and len(others.json()["items"]) == 1
    assert replica_after - replica_before >= 1  # the other user's page: still the replica's
    assert primary_after - primary_before == 2  # the writer's own reads: the primary's


def test_read_your_writes_holds_across_processes_through_redis(cluster: Replication, redis_url: str) -> None:
    replica = cluster.replicas[0]
    shared = {"redis_url": redis_url, "database_read_max_lag_seconds": 30.0}
    with (
        serving(cluster.primary.url, replica.url, **shared) as one,
        serving(cluster.primary.url, replica.url, **shared) as other,
    ):
        cluster.pause(replica)
        record = write(one, f"roamer-{uuid.uuid4().hex[:8]}")
        found = other.get(f"/data/{record['id']}")
        page = other.get("/data", params={"user_id": record["user_id"]})

    assert found.status_code == 200 and found.json() == record
    assert page.json()["items"] == [record]


def test_a_replica_past_the_lag_bound_leaves_rotation_and_comes_back(cluster: Replication) -> None:
    replica = cluster.replicas[0]
    with serving(cluster.primary.url, replica.url) as client:
        write(client, "steady")
        learned(cluster)
        cluster.pause(replica)
        write(client, "busy")  # the primary moves on; the replica does not follow
        eventually(lambda: value(samples(client), "replica_lag_seconds", replica="replica-1") > MAX_LAG)
        ready = client.get("/ready").json()
        before = reads(client)
        statuses = [client.get("/data", params={"user_id": "steady"}).status_code for _ in range(5)]
        during = reads(client)
        cluster.resume(replica)
        eventually(lambda: value(samples(client), "replica_lag_seconds", replica="replica-1") == 0)
        client.get("/data", params={"user_id": "steady", "page_size": 3})
        after = reads(client)
        back = client.get("/ready").json()

    assert statuses == [200] * 5
    # Two loads (a page is cached from its second read); the others were cached.
    assert during[1] == before[1] and during[0] - before[0] == 2
    assert ready["checks"]["replica-1"] == "error: Lagging", ready
    assert ready["status"] == "degraded" and ready["checks"]["replica-1"] == "error: Lagging"
    assert after[1] == during[1] + 1  # the replica serves again
    assert back["status"] == "ready" and back["checks"]["replica-1"] == "ok"


def test_a_stopped_replica_leaves_rotation_without_a_5xx_and_comes_back(cluster: Replication) -> None:
    replica = cluster.replicas[0]
    with serving(cluster.primary.url, replica.url) as client:
        write(client, "lasting")
        learned(cluster)
        replica.stop("immediate")
        statuses = [
            client.get("/data", params={"user_id": "lasting", "page": n}).status_code for n in range(1, 11)
        ]
        found = samples(client)
        replica.start("-c hot_standby=on")
        eventually(
            lambda: value(samples(client), "breaker_state", dependency="replica-1", state="closed") == 1
        )
        before = reads(client)
        eventually(
            lambda: (
                client.get("/data", params={"user_id": "lasting", "page_size": 7}).status_code == 200
                and reads(client)[1] > before[1]
            )
        )

    assert statuses == [200] * 10
    assert value(found, "breaker_state", dependency="database", state="closed") == 1
    assert value(found, "retries_total", dependency="database") == 0  # nothing reached the primary's retries
    assert value(found, "breaker_state", dependency="replica-1", state="closed") == 0


def test_a_frozen_replica_leaves_rotation_without_a_5xx(cluster: Replication) -> None:
    replica = cluster.replicas[0]
    with fault_proxy("127.0.0.1", replica.port) as proxy:
        through = f"postgresql://postgres@127.0.0.1:{proxy.port}/app"
        with serving(cluster.primary.url, through) as client:
            write(client, "icy")
            learned(cluster)
            _frozen(proxy)
            started = time.monotonic()
            statuses = [
                client.get("/data", params={"user_id": "icy", "page": n}).status_code for n in range(1, 6)
            ]
            took = time.monotonic() - started
            found = samples(client)
            proxy.mode = PASS

    assert statuses == [200] * 5
    assert took < 5 * 1.0 + 2  # each at most the replica's timeout before the primary answers
    assert value(found, "breaker_state", dependency="database", state="closed") == 1


def _frozen(proxy: FaultProxy) -> None:
    proxy.mode = BLACK_HOLE
