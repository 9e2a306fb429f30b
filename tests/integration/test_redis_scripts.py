"""The Lua scripts on a real Redis that lost them (a restart without persistence, a SCRIPT
FLUSH): every call made meanwhile is answered, the scripts are loaded again, and nothing is
counted against Redis's breaker."""

from __future__ import annotations

import hashlib

import redis
from starlette.testclient import TestClient

from app.adapters.redis.client import LUA
from app.main import create_app
from app.settings import Settings
from tests.scrape import samples, value


def test_scripts_redis_lost_are_loaded_again_and_every_call_is_answered(
    postgres_db: str, redis_url: str
) -> None:
    # Every read asks Redis (no lease), and a page is cached from its first read.
    settings = Settings(
        database_url=postgres_db, redis_url=redis_url, log_level="warning", lease_seconds=0, cache_min_uses=1
    )
    with (
        TestClient(create_app(settings)) as client,
        redis.Redis.from_url(redis_url) as r,
    ):
        assert client.post("/data", json={"user_id": "lost", "payload": {"n": 1}}).status_code == 201
        assert client.get("/data", params={"user_id": "lost"}).json()["total"] == 1
        r.script_flush()
        read = client.get("/data", params={"user_id": "lost"})
        written = client.post("/data", json={"user_id": "lost", "payload": {"n": 2}})
        again = client.get("/data", params={"user_id": "lost"})
        scraped = samples(client)
        reloaded = r.script_exists(sha("gate"), sha("invalidate"))

    assert read.status_code == 200 and read.json()["total"] == 1
    assert written.status_code == 201
    assert again.status_code == 200 and again.json()["total"] == 2  # the write's invalidation ran
    assert reloaded == [True, True]
    assert value(scraped, "breaker_state", dependency="redis", state="closed") == 1  # no outage counted


def sha(name: str) -> str:
    """The SHA Redis knows a script of lua/ by."""
    return hashlib.sha1((LUA / f"{name}.lua").read_bytes()).hexdigest()
