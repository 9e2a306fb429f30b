"""Two processes of the service on one PostgreSQL and one Redis, as a Kubernetes Deployment
runs them: one budget per user, no stale page after a write, whichever process answers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.processes import call, running_server

pytestmark = pytest.mark.e2e


@pytest.fixture
def two_processes(postgres_db: str, redis_url: str, tmp_path: Path) -> Iterator[tuple[int, int]]:
    env = {"APP_DATABASE_URL": postgres_db, "APP_REDIS_URL": redis_url, "APP_RATE_LIMIT_PER_MINUTE": "100"}
    with running_server(env, tmp_path) as first, running_server(env, tmp_path) as second:
        yield first, second


def test_the_limit_holds_across_processes_under_a_thousand_concurrent_requests(
    two_processes: tuple[int, int],
) -> None:
    ports = two_processes

    async def burst() -> tuple[list[int], list[int], float]:
        limits = httpx2.Limits(max_connections=400, max_keepalive_connections=400)
        async with httpx2.AsyncClient(limits=limits, timeout=30) as client:
            started = time.monotonic()
            hot = await asyncio.gather(
                *(
                    client.get(f"http://127.0.0.1:{ports[i % 2]}/data", params={"user_id": "hot"})
                    for i in range(1000)
                )
            )
            elapsed = time.monotonic() - started
            cool = await asyncio.gather(
                *(
                    client.get(f"http://127.0.0.1:{ports[i % 2]}/data", params={"user_id": "cool"})
                    for i in range(10)
                )
            )
        return [r.status_code for r in hot], [r.status_code for r in cool], elapsed

    hot, cool, elapsed = asyncio.run(burst())

    admitted = hot.count(200)
    refill = elapsed * 100 / 60  # the bucket refills continuously while the burst runs
    assert 100 <= admitted <= 100 + refill + 1, (admitted, elapsed)
    assert hot.count(429) == 1000 - admitted
    assert cool == [200] * 10


def test_a_write_on_one_process_is_read_on_the_other(two_processes: tuple[int, int]) -> None:
    writer, reader = two_processes
    for n in range(1, 21):
        before = call(reader, "GET", "/data?user_id=ryw&page_size=100")  # now cached in both tiers
        assert before[0] == 200

        created = call(writer, "POST", "/data", {"user_id": "ryw", "payload": {"n": n}})
        after = call(reader, "GET", "/data?user_id=ryw&page_size=100")

        assert created[0] == 201
        ids = [item["id"] for item in httpx2.Response(200, content=after[2]).json()["items"]]
        assert httpx2.Response(200, content=created[2]).json()["id"] in ids
        assert len(ids) == n


def test_a_change_or_delete_on_one_process_is_read_on_the_other(two_processes: tuple[int, int]) -> None:
    writer, reader = two_processes
    status, headers, body = call(writer, "POST", "/data", {"user_id": "lifecycle", "payload": {"n": 0}})
    assert status == 201
    record_id = httpx2.Response(200, content=body).json()["id"]
    tag = headers["etag"]
    merge = {"content-type": "application/merge-patch+json"}
    for n in range(1, 11):
        before = call(reader, "GET", "/data?user_id=lifecycle")  # now cached (and leased) there
        assert before[0] == 200

        changed = call(writer, "PATCH", f"/data/{record_id}", {"n": n}, {**merge, "if-match": tag})
        after = call(reader, "GET", "/data?user_id=lifecycle")

        assert changed[0] == 200, changed
        tag = changed[1]["etag"]
        (item,) = httpx2.Response(200, content=after[2]).json()["items"]
        assert item["payload"] == {"n": n} and f'"{item["version"]}"' == tag
    assert call(reader, "GET", f"/data/{record_id}", headers={"if-none-match": tag})[0] == 304

    assert call(writer, "DELETE", f"/data/{record_id}", headers={"if-match": tag})[0] == 204
    after = httpx2.Response(200, content=call(reader, "GET", "/data?user_id=lifecycle")[2]).json()
    assert after["items"] == [] and after["total"] == 0
    assert call(reader, "GET", f"/data/{record_id}")[0] == 404
