"""A private Redis frozen (SIGSTOP), then killed, then started again under the service: requests
keep succeeding, each within the Redis timeout's budget, and the shared state comes back."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from starlette.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.processes import free_port
from tests.scrape import samples, value

REDIS_TIMEOUT = 0.25

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server to break")


class PrivateRedis:
    """A redis-server of the test's own, to freeze and kill."""

    def __init__(self, where: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._where = where
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            cwd=self._where,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                with redis.Redis.from_url(self.url, socket_timeout=0.2) as r:
                    r.ping()
                return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def signal(self, number: int) -> None:
        assert self.process is not None
        os.kill(self.process.pid, number)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(5)

    def script_calls(self) -> int:
        with redis.Redis.from_url(self.url) as r:
            stats = r.info("commandstats")
        return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.signal(signal.SIGCONT)
        server.kill()


def timed_reads(client: TestClient, users: list[str]) -> list[tuple[int, float]]:
    answers = []
    for user in users:
        started = time.monotonic()
        status = client.get("/data", params={"user_id": user}).status_code
        answers.append((status, time.monotonic() - started))
    return answers


def test_redis_frozen_then_killed_then_back(postgres_db: str, private_redis: PrivateRedis) -> None:
    settings = Settings(
        database_url=postgres_db,
        redis_url=private_redis.url,
        redis_timeout_seconds=REDIS_TIMEOUT,
        log_level="critical",
    )
    users = [f"user{i}" for i in range(30)]  # each read a user this process holds no lease for
    with TestClient(create_app(settings)) as client:
        assert [s for s, _ in timed_reads(client, users[:5])] == [200] * 5

        private_redis.signal(signal.SIGSTOP)  # frozen: connections hang, nothing answers
        frozen = timed_reads(client, users[5:15])
        private_redis.signal(signal.SIGCONT)
        private_redis.kill()  # then gone: connections are refused
        killed = timed_reads(client, users[15:25])
        degraded = client.get("/ready").json()

        private_redis.start()  # back, empty, on the same port
        time.sleep(1.2)  # the breaker's reset time
        before = private_redis.script_calls()
        back = timed_reads(client, users[25:30])
        ready = client.get("/ready").json()
        found = samples(client)

    assert [s for s, _ in frozen + killed + back] == [200] * 25
    assert max(took for _, took in frozen) < REDIS_TIMEOUT + 0.5  # one timeout at most, then open
    assert sum(took > REDIS_TIMEOUT / 2 for _, took in frozen) <= 1  # the others did not wait
    assert max(took for _, took in killed) < REDIS_TIMEOUT + 0.5
    assert degraded["status"] == "degraded" and degraded["checks"]["cache"] != "ok"
    assert private_redis.script_calls() > before  # the gate (budget, pages, leases) is used again
    assert ready["status"] == "ready" and ready["checks"]["cache"] == "ok"
    # what an operator sees of it: lookups Redis could not answer, the breaker's round trip
    assert value(found, "cache_operations_total", operation="get", result="error", tier="redis") >= 20
    assert value(found, "breaker_transitions_total", dependency="redis", to="open") >= 1
    assert value(found, "breaker_transitions_total", dependency="redis", to="closed") >= 1
