"""Every use of Redis on a real Redis Cluster (three masters, three replicas, started by the
test): APP_REDIS_CLUSTER=true and APP_REDIS_URL naming one node. The budget, the cached pages and
their generations, read leases and their channel, the read-only switch, revoked tokens, write
positions and the users seen; each key where its user's slot says."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.testclient import TestClient

from app.adapters.redis.audience import RedisAudience
from app.adapters.redis.client import connect, redis_failed
from app.adapters.redis.keys import bucket_key, page_keys
from app.adapters.redis.mode import RedisModeStore
from app.adapters.redis.positions import RedisPositions
from app.auth.revocation import revocation_key
from app.main import create_app
from app.ports.maintenance import WriteMode
from app.resilience.breakers import Breaker
from app.settings import Settings
from tests.backing import run_async
from tests.redis_cluster import Cluster, redis_cluster
from tests.scrape import samples, total


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with redis_cluster() as started:
        yield started


@pytest.fixture
def settings(cluster: Cluster, postgres_db: str) -> Settings:
    cluster.flush()
    return Settings(database_url=postgres_db, redis_url=cluster.url, redis_cluster=True, log_level="warning")


def hget_all(cluster: Cluster, key: str) -> dict[bytes, bytes]:
    """A hash read on the master that serves its slot, and nowhere else."""
    with cluster.master_of(key).client() as node:
        return node.hgetall(key)


def test_the_budget_is_kept_in_the_users_slot_and_refuses_past_it(
    cluster: Cluster, settings: Settings
) -> None:
    with TestClient(create_app(replace(settings, rate_limit_per_minute=5))) as client:
        answers = [client.get("/data", params={"user_id": "budget"}).status_code for _ in range(7)]

    assert answers == [200] * 5 + [429] * 2
    assert float(hget_all(cluster, bucket_key("budget"))[b"t"]) < 1  # the bucket, on its slot's master


def test_pages_are_cached_in_the_users_slot_and_a_write_moves_the_generation(
    cluster: Cluster, settings: Settings
) -> None:
    user = "pages"
    with TestClient(create_app(settings)) as client:
        client.post("/data", json={"user_id": user, "payload": {"n": 1}})
        client.get("/data", params={"user_id": user})  # a page is cached from its second read
        first = client.get("/data", params={"user_id": user}).json()
        cached = hget_all(cluster, page_keys(user)[0])
        with cluster.master_of(page_keys(user)[1]).client() as node:
            generation = int(node.get(page_keys(user)[1]))
        client.post("/data", json={"user_id": user, "payload": {"n": 2}})
        dropped = hget_all(cluster, page_keys(user)[0])
        with cluster.master_of(page_keys(user)[1]).client() as node:
            moved = int(node.get(page_keys(user)[1]))
        second = client.get("/data", params={"user_id": user}).json()
        trips = total(samples(client), "redis_round_trips_total")

    assert first["total"] == 1 and len(cached) == 1
    assert trips > 0  # counted on the cluster's connections too
    assert dropped == {} and moved == generation + 1
    assert second["total"] == 2


def test_a_write_in_one_process_ends_the_read_lease_of_another_which_reads_it_at_once(
    settings: Settings,
) -> None:
    user = "leases"
    with TestClient(create_app(settings)) as one, TestClient(create_app(settings)) as other:
        for _ in range(50):  # both processes subscribed to their channels: leases may be granted
            if (
                total(samples(one), "read_leases_total", event="granted") >= 1
                and total(samples(other), "read_leases_total", event="granted") >= 1
            ):
                break
            one.get("/data", params={"user_id": user})
            other.get("/data", params={"user_id": user})
            time.sleep(0.05)
        leased = total(samples(other), "read_leases_total", event="granted")
        written = one.post("/data", json={"user_id": user, "payload": {"n": 1}})
        seen = other.get("/data", params={"user_id": user}).json()
        revoked = total(samples(other), "read_leases_total", event="revoked")

    assert leased >= 1  # the other process answered from its own copy under a lease
    assert written.status_code == 201
    assert seen["total"] == 1  # told on its channel, through the cluster, before the write was acknowledged
    assert revoked >= 1


def test_the_read_only_switch_reaches_every_process(settings: Settings) -> None:
    def switch(mode: WriteMode) -> None:
        async def write() -> None:
            client = connect(settings.redis_url, timeout=1, pool_size=2, cluster=True)
            try:
                await RedisModeStore(client, breaker()).write(mode)
            finally:
                await client.aclose()

        run_async(write())

    with TestClient(create_app(settings)) as client:
        switch(WriteMode(read_only=True, reason="cluster test", since=time.time()))  # as an operator would
        refused = None
        for _ in range(40):  # each process reads the shared mode about once a second
            refused = client.post("/data", json={"user_id": "mode", "payload": {}})
            if refused.status_code == 503:
                break
            time.sleep(0.1)
        switch(WriteMode(read_only=False, since=time.time()))

    assert refused is not None and refused.status_code == 503
    assert refused.json()["detail"].endswith("cluster test")


def test_a_revoked_token_is_refused_by_every_process(
    cluster: Cluster, settings: Settings, tmp_path: Path
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [{**public, "kid": "k", "alg": "ES256"}]}))
    secured = replace(
        settings, auth_mode="jwt", jwt_jwks_file=str(tmp_path / "jwks.json"), jwt_audience="a", jwt_issuer="i"
    )
    claims = {"sub": "alice", "roles": ["writer"], "aud": "a", "iss": "i", "exp": int(time.time()) + 60}
    token = jwt.encode({**claims, "jti": "j-1"}, key, algorithm="ES256", headers={"kid": "k"})
    bearer = {"Authorization": f"Bearer {token}"}

    with TestClient(create_app(secured)) as one, TestClient(create_app(secured)) as other:
        before = other.get("/data", params={"user_id": "alice"}, headers=bearer).status_code
        revoked = one.post("/auth/revoke", headers=bearer).status_code
        after = other.get("/data", params={"user_id": "alice"}, headers=bearer).status_code

    assert (before, revoked, after) == (200, 204, 401)
    with cluster.master_of(revocation_key("j-1")).client() as node:
        assert 0 < node.pttl(revocation_key("j-1")) <= 60_000  # kept until the token would expire


def test_write_positions_and_the_users_seen_are_kept_on_the_cluster(settings: Settings) -> None:
    async def scenario() -> tuple[int | None, int | None, dict[str, int]]:
        client = connect(settings.redis_url, timeout=1, pool_size=4, cluster=True)
        try:
            positions = RedisPositions(client, breaker(), keep_seconds=10)
            assert await positions.advance("writer", 42)
            await positions.advance("writer", 41)  # a write that finished later, from further back
            audience = RedisAudience(client, breaker())
            now = 1_800_000_000.0
            await audience.add({f"user{i}" for i in range(300)}, now)
            await audience.add({f"user{i}" for i in range(200, 500)}, now + 20)
            return await positions.of("writer"), await positions.of("nobody"), await audience.counts(now + 20)
        finally:
            await client.aclose()

    position, none, seen = run_async(scenario())

    assert (position, none) == (42, 0)
    assert all(abs(count - 500) <= 15 for count in seen.values()), seen


def breaker() -> Breaker:
    return Breaker("redis", fail_max=1, reset_seconds=1.0, counts=redis_failed)
