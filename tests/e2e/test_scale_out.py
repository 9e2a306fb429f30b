"""Three processes of the service behind nginx (round robin), on a PostgreSQL primary and a
streaming replica and one Redis, all started by the tests: a client's write read back through
any process while the replica lags, one user's budget shared by the processes, a write dropping
the cached page in every process, and a process killed under load with no acknowledged write
lost and no read failed."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import backing
from tests.balancers import nginx
from tests.clusters import Replication, primary_with_replicas
from tests.processes import call, serving

pytestmark = pytest.mark.e2e
RATE = 60  # each user's budget a minute


@dataclass
class Deployment:
    """nginx's port, and each process's port and pid."""

    port: int
    processes: list[tuple[int, int]]
    cluster: Replication


@pytest.fixture(scope="module")
def cluster() -> Iterator[Replication]:
    with primary_with_replicas(1) as running:
        backing.migrate_in_thread(running.primary.url)
        yield running


@pytest.fixture
def deployment(cluster: Replication, redis_url: str, tmp_path: Path) -> Iterator[Deployment]:
    env = {
        "APP_DATABASE_URL": cluster.primary.url,
        "APP_DATABASE_READ_URLS": cluster.replicas[0].url,
        "APP_DATABASE_READ_MAX_LAG_SECONDS": "60",
        "APP_REDIS_URL": redis_url,
        "APP_RATE_LIMIT_PER_MINUTE": str(RATE),
        "APP_ACCESS_LOG": "errors",
    }
    cluster.resume(cluster.replicas[0])
    with ExitStack() as stack:
        processes = [stack.enter_context(serving(env, tmp_path)) for _ in range(3)]
        port = stack.enter_context(nginx([p for p, _ in processes]))
        yield Deployment(port, processes, cluster)
        cluster.resume(cluster.replicas[0])


def test_a_write_is_read_back_at_once_through_any_process_while_the_replica_lags(
    deployment: Deployment,
) -> None:
    deployment.cluster.pause(deployment.cluster.replicas[0])
    user = f"rw-{uuid.uuid4().hex[:8]}"
    written = []
    for n in range(6):
        status, headers, _ = call(deployment.port, "POST", "/data", {"user_id": user, "payload": {"n": n}})
        assert status == 201
        record_id = headers["location"].rsplit("/", 1)[1]
        written.append(record_id)
        for port in [deployment.port] + [p for p, _ in deployment.processes]:
            assert call(port, "GET", f"/data/{record_id}")[0] == 200
            status, _, body = call(port, "GET", f"/data?user_id={user}&page_size=100")
            assert status == 200 and body.count(b'"id"') == n + 1


def test_one_users_budget_is_shared_by_every_process(deployment: Deployment) -> None:
    user = f"budget-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    statuses = [call(deployment.port, "GET", f"/data?user_id={user}")[0] for _ in range(3 * RATE)]
    elapsed = time.monotonic() - started

    admitted = statuses.count(200)
    assert set(statuses) <= {200, 429}
    refill = int(RATE * elapsed / 60) + 1
    assert RATE // 2 <= admitted <= RATE + refill  # one budget, not one a process (3 x RATE)


def test_a_write_through_one_process_drops_the_page_in_every_process(deployment: Deployment) -> None:
    user = f"inv-{uuid.uuid4().hex[:8]}"
    ports = [p for p, _ in deployment.processes]
    call(ports[0], "POST", "/data", {"user_id": user, "payload": {"n": 0}})
    for port in ports * 2:  # every process has the page cached now
        assert call(port, "GET", f"/data?user_id={user}")[2].count(b'"id"') == 1

    assert call(ports[0], "POST", "/data", {"user_id": user, "payload": {"n": 1}})[0] == 201

    assert [call(port, "GET", f"/data?user_id={user}")[2].count(b'"id"') for port in ports] == [2, 2, 2]


def test_a_process_killed_under_load_loses_no_acknowledged_write(deployment: Deployment) -> None:
    run = uuid.uuid4().hex[:8]
    stop = threading.Event()
    reads: list[int] = []
    acknowledged: dict[str, str] = {}  # Idempotency-Key -> record id
    failures: list[str] = []

    def read() -> None:
        while not stop.is_set():
            reader = f"kill-r-{uuid.uuid4().hex[:12]}"  # a budget of its own: every read is admitted
            reads.append(call(deployment.port, "GET", f"/data?user_id={reader}&page_size=5")[0])

    def write(writer: int) -> None:
        n = 0
        while not stop.is_set():
            key = f"{writer}-{n}"
            for _ in range(20):  # what a client does with a write whose answer it lost
                try:
                    status, headers, _ = call(
                        deployment.port,
                        "POST",
                        "/data",
                        {"user_id": f"kill-{run}-{key}", "payload": {"n": n}},
                        {"Idempotency-Key": f'"{key}"'},
                    )
                except OSError:
                    status, headers = 0, {}
                if status == 201:
                    acknowledged[key] = headers["location"].rsplit("/", 1)[1]
                    break
                if status not in (0, 429, 502, 503):
                    failures.append(f"{key}: {status}")
                    break
                time.sleep(0.05)
            n += 1

    threads = [threading.Thread(target=read) for _ in range(3)] + [
        threading.Thread(target=write, args=(w,)) for w in range(2)
    ]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    os.kill(deployment.processes[1][1], signal.SIGKILL)
    time.sleep(2.0)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)

    assert failures == []
    assert len(reads) > 100 and set(reads) == {200}  # no read failed: nginx tried the next process
    assert len(acknowledged) >= 10
    for record_id in acknowledged.values():  # every acknowledged write is there
        assert call(deployment.port, "GET", f"/data/{record_id}")[0] == 200
    stored = deployment.cluster.primary.sql(
        f"SELECT user_id, count(*) FROM data_records WHERE user_id LIKE 'kill-{run}-%' GROUP BY user_id"
    )
    counts = dict(line.split("|") for line in stored.splitlines())
    acknowledged_users = {f"kill-{run}-{key}" for key in acknowledged}
    assert acknowledged_users <= set(counts)  # every acknowledged write was stored
    assert set(counts.values()) == {"1"}  # and none twice, whatever the retries
