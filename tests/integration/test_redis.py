"""The Redis cache and limiter against a real Redis (and PostgreSQL behind the cache)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import redis
from redis.crc import key_slot
from starlette.testclient import TestClient

from app.adapters.db.postgres import PostgresRecordRepository
from app.adapters.db.sqlfiles import load_queries
from app.adapters.redis.audience import RedisAudience
from app.adapters.redis.client import connect, redis_failed
from app.adapters.redis.gate import RedisReadGate
from app.adapters.redis.keys import asked_key, bucket_key, lease_key, page_keys
from app.adapters.redis.leases import Budget, Leases
from app.adapters.redis.limiter import RedisLimiter
from app.adapters.redis.pages import RedisPageCache
from app.auth import Caller
from app.main import create_app
from app.resilience.breakers import Breaker
from app.schemas.records import ListQuery
from app.services.records import RecordService
from app.settings import DEFAULT_SQL_DIR, Settings
from tests.reads import list_queries
from tests.scrape import Samples, samples, total, value

pytestmark = pytest.mark.anyio


class CountingRepository:
    """A real PostgreSQL repository that counts the list queries it runs."""

    def __init__(self, inner: PostgresRecordRepository) -> None:
        self.inner = inner
        self.list_queries = 0

    async def get_by_user(self, *args: Any, **kwargs: Any) -> Any:
        self.list_queries += 1
        return await self.inner.get_by_user(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_hundred_concurrent_misses_on_one_key_make_one_query(postgres_db: str, redis_url: str) -> None:
    repository = CountingRepository(
        PostgresRecordRepository(
            postgres_db, load_queries(DEFAULT_SQL_DIR, "postgres"), min_size=1, max_size=8, timeout=10
        )
    )
    client = connect(redis_url, timeout=1, pool_size=100)
    breaker = Breaker("redis", fail_max=1, reset_seconds=1.0, counts=redis_failed)
    leases = Leases(client, None, seconds=5.0, max_tokens=16, budget=Budget(rate=1000, window=60))
    cache = RedisPageCache(client, ttl_seconds=300, local_max_bytes=1 << 20, breaker=breaker, leases=leases)
    service = RecordService(
        repository,  # type: ignore[arg-type]
        cache,
        limiter := RedisLimiter(breaker=breaker, leases=leases),
        RedisReadGate(cache, limiter, breaker=breaker, leases=leases),
    )
    await repository.open()
    try:
        pages = await asyncio.gather(
            *(
                service.list_page(ListQuery(user_id="dogpile"), Caller(principal=None, request_id="t"))
                for _ in range(100)
            )
        )
    finally:
        await repository.close()
        await client.aclose()

    assert repository.list_queries == 1
    assert len(set(pages)) == 1


@pytest.fixture
def client(settings_pg_redis: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings_pg_redis)) as test_client:
        yield test_client


@pytest.fixture
def settings_pg_redis(postgres_db: str, redis_url: str) -> Settings:
    return Settings(database_url=postgres_db, redis_url=redis_url, log_level="warning")


def test_cache_hits_are_the_bytes_stored_in_redis_after_their_tag(client: TestClient, redis_url: str) -> None:
    client.post("/data", json={"user_id": "bytes", "payload": {"type": "t"}})

    first = client.get("/data", params={"user_id": "bytes"})
    second = client.get("/data", params={"user_id": "bytes"})

    with redis.Redis.from_url(redis_url) as r:
        stored = r.hvals(page_keys("bytes")[0])
    tag = first.headers["etag"].removeprefix('W/"').removesuffix('"').encode()
    assert stored == [tag + first.content] and second.content == first.content


def test_with_leases_off_every_read_asks_redis_and_still_sees_writes(
    settings_pg_redis: Settings, redis_url: str
) -> None:
    with TestClient(create_app(replace(settings_pg_redis, lease_seconds=0))) as client:
        client.get("/data", params={"user_id": "nolease"})
        client.post("/data", json={"user_id": "nolease", "payload": {"n": 1}})
        page = client.get("/data", params={"user_id": "nolease"}).json()
        with redis.Redis.from_url(redis_url) as r:
            assert not r.exists(lease_key("nolease"))  # nobody holds a read lease
            assert float(r.hget(bucket_key("nolease"), "t")) == pytest.approx(97, abs=0.2)

    assert page["total"] == 1


def test_keys_of_one_user_share_a_cluster_slot() -> None:
    """The gate script touches the bucket and both cache keys: Redis Cluster needs one slot."""
    for user in ("alice", "user-42", "a.b@c|d"):
        assert (
            len(
                {
                    key_slot(key.encode())
                    for key in [bucket_key(user), *page_keys(user), lease_key(user), asked_key(user)]
                }
            )
            == 1
        )


def test_a_page_is_cached_from_its_second_read_and_one_read_once_is_never_written(
    client: TestClient, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = f"twice-{time.monotonic_ns()}"
    client.post("/data", json={"user_id": user, "payload": {"n": 1}})
    reads = list_queries(monkeypatch)
    with redis.Redis.from_url(redis_url) as r:
        first = client.get("/data", params={"user_id": user})
        kept_first, counted_for = r.hlen(page_keys(user)[0]), r.pttl(asked_key(user))
        second = client.get("/data", params={"user_id": user})
        kept_second = r.hlen(page_keys(user)[0])
        third = client.get("/data", params={"user_id": user})

    assert kept_first == 0 and 0 < counted_for <= 300_000  # the misses are counted for one TTL
    assert kept_second == 1 and len(reads) == 2, "the third read is the cache's"
    assert first.content == second.content == third.content


def test_a_page_in_demand_is_cached_again_at_its_first_read_after_a_write(
    client: TestClient, redis_url: str
) -> None:
    user = f"demand-{time.monotonic_ns()}"
    for _ in range(2):
        client.get("/data", params={"user_id": user})
    client.post("/data", json={"user_id": user, "payload": {"n": 1}})

    page = client.get("/data", params={"user_id": user}).json()

    with redis.Redis.from_url(redis_url) as r:
        assert r.hlen(page_keys(user)[0]) == 1
    assert page["total"] == 1


def test_with_min_uses_one_every_page_read_is_cached_and_no_miss_counted(
    settings_pg_redis: Settings, redis_url: str
) -> None:
    user = f"once-{time.monotonic_ns()}"
    with TestClient(create_app(replace(settings_pg_redis, cache_min_uses=1))) as client:
        client.get("/data", params={"user_id": user})
        with redis.Redis.from_url(redis_url) as r:
            assert (r.hlen(page_keys(user)[0]), r.exists(asked_key(user))) == (1, 0)


def test_invalidation_drops_the_page_hash_and_moves_the_generation(
    client: TestClient, redis_url: str
) -> None:
    for _ in range(2):  # a page is cached from its second read
        client.get("/data", params={"user_id": "gen"})
    with redis.Redis.from_url(redis_url) as r:
        assert r.exists(page_keys("gen")[0])
        client.post("/data", json={"user_id": "gen", "payload": {}})
        assert not r.exists(page_keys("gen")[0])
        first = int(r.get(page_keys("gen")[1]))
        assert 0 < r.ttl(page_keys("gen")[1]) <= 86_400
        client.post("/data", json={"user_id": "gen", "payload": {}})
        assert int(r.get(page_keys("gen")[1])) == first + 1


def test_a_lost_generation_starts_again_above_every_earlier_one(client: TestClient, redis_url: str) -> None:
    """Redis restarted empty, or the counter expired: a page copy a process keeps under an old
    generation must not match the new one, or it would be served after a write."""
    with redis.Redis.from_url(redis_url) as r:
        client.post("/data", json={"user_id": "lost", "payload": {"n": 1}})
        before = int(r.get(page_keys("lost")[1]))
        stale = client.get("/data", params={"user_id": "lost"}).json()
        r.flushdb()  # every key gone, the process's local copy still held

        client.post("/data", json={"user_id": "lost", "payload": {"n": 2}})
        after = client.get("/data", params={"user_id": "lost"}).json()

        assert int(r.get(page_keys("lost")[1])) > before
    assert len(stale["items"]) == 1 and len(after["items"]) == 2


def test_the_bucket_lives_in_redis_with_a_ttl_of_one_window(
    settings_pg_redis: Settings, redis_url: str
) -> None:
    with redis.Redis.from_url(redis_url) as r:
        with TestClient(create_app(settings_pg_redis)) as client:
            client.get("/data", params={"user_id": "ttl"})
            client.get("/data", params={"user_id": "ttl"})

            assert 0 < r.pttl(bucket_key("ttl")) <= 60_000
            # The process took more than the two tokens spent: spare ones, which the user's
            # next requests there spend without asking Redis.
            assert float(r.hget(bucket_key("ttl"), "t")) < 97

        # Stopping, the process gave back what it did not spend.
        assert float(r.hget(bucket_key("ttl"), "t")) == pytest.approx(98, abs=0.2)


@pytest.fixture
def silent_redis() -> Iterator[str]:
    """A TCP server that accepts connections and never answers: a hung Redis."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


@pytest.mark.parametrize("kind", ["hung", "refusing"])
def test_a_dead_redis_does_not_stall_requests(
    settings_pg_redis: Settings, silent_redis: str, kind: str
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    url = silent_redis if kind == "hung" else f"redis://127.0.0.1:{closed_port}/0"
    settings = replace(settings_pg_redis, redis_url=url)

    with TestClient(create_app(settings)) as client:
        started = time.monotonic()
        created = client.post("/data", json={"user_id": "nocache", "payload": {"n": 1}})
        statuses = [client.get("/data", params={"user_id": "nocache"}).status_code for _ in range(20)]
        elapsed = time.monotonic() - started
        ready = client.get("/ready")

    assert created.status_code == 201 and statuses == [200] * 20
    # 21 requests; with redis-py's default retries each would wait on the dead server.
    assert elapsed < 3.0, elapsed
    assert ready.status_code == 200 and ready.json()["status"] == "degraded"  # reported, still serving
    assert ready.json()["checks"]["cache"] != "ok"
    assert ready.json()["checks"]["database"] == "ok"


def test_while_redis_is_away_the_process_keeps_each_users_budget_itself(settings_pg_redis: Settings) -> None:
    settings = replace(settings_pg_redis, redis_url="redis://127.0.0.1:1/0", rate_limit_per_minute=5)

    with TestClient(create_app(settings)) as client:
        reads = [client.get("/data", params={"user_id": "alone"}) for _ in range(7)]
        other = client.get("/data", params={"user_id": "someone-else"})

    assert [r.status_code for r in reads] == [200] * 5 + [429] * 2  # refused for the budget, not for Redis
    assert int(reads[-1].headers["retry-after"]) >= 1
    assert reads[0].headers["ratelimit-policy"].endswith("q=5;w=60")
    assert other.status_code == 200


def test_reads_fall_back_to_the_database_and_stay_correct_while_redis_is_away(
    settings_pg_redis: Settings,
) -> None:
    settings = replace(settings_pg_redis, redis_url="redis://127.0.0.1:1/0")

    with TestClient(create_app(settings)) as client:
        client.post("/data", json={"user_id": "away", "payload": {"n": 1}})
        page = client.get("/data", params={"user_id": "away"}).json()

    assert page["total"] == 1 and page["items"][0]["payload"] == {"n": 1}


def test_revoking_while_redis_is_away_is_503_not_a_silent_success(
    settings_pg_redis: Settings, tmp_path
) -> None:
    import json as _json
    import time as _time

    import jwt as _jwt
    from cryptography.hazmat.primitives.asymmetric import ec as _ec

    key = _ec.generate_private_key(_ec.SECP256R1())
    public = _json.loads(_jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    (tmp_path / "jwks.json").write_text(_json.dumps({"keys": [{**public, "kid": "k", "alg": "ES256"}]}))
    settings = replace(
        settings_pg_redis,
        redis_url="redis://127.0.0.1:1/0",
        auth_mode="jwt",
        jwt_jwks_file=str(tmp_path / "jwks.json"),
        jwt_audience="a",
        jwt_issuer="i",
    )
    now = int(_time.time())
    token = _jwt.encode(
        {"sub": "alice", "roles": ["writer"], "aud": "a", "iss": "i", "exp": now + 60, "jti": "j-1"},
        key,
        algorithm="ES256",
        headers={"kid": "k"},
    )

    with TestClient(create_app(settings)) as client:
        response = client.post("/auth/revoke", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"


async def test_processes_count_their_users_together_in_hyperloglogs(redis_url: str) -> None:
    now = 1_800_000_000.0
    clients = [connect(redis_url, timeout=1, pool_size=2) for _ in range(2)]
    breaker = Breaker("redis", fail_max=1, reset_seconds=1.0, counts=redis_failed)
    first, second = (RedisAudience(c, breaker) for c in clients)
    try:
        await first.add({f"user{i}" for i in range(0, 600)}, now)
        await second.add({f"user{i}" for i in range(400, 1000)}, now + 20)
        together = await first.counts(now + 20)
        await second.add({"late"}, now + 900)
        later = await second.counts(now + 900)
    finally:
        for c in clients:
            await c.aclose()

    assert all(abs(count - 1000) <= 30 for count in together.values()), together  # HLL: ~1% error
    assert later["5m"] == 1 and abs(later["1h"] - 1001) <= 30


def test_the_cache_tier_that_answered_redis_round_trips_and_read_leases_are_counted(
    client: TestClient, settings_pg_redis: Settings
) -> None:
    user = f"tiers-{time.monotonic_ns()}"
    client.post("/data", json={"user_id": user, "payload": {}})
    before = samples(client)
    for _ in range(4):
        assert client.get("/data", params={"user_id": user}).status_code == 200
    read = samples(client)
    with TestClient(create_app(settings_pg_redis)) as other:  # a process that never read the page
        assert other.get("/data", params={"user_id": user}).status_code == 200
        elsewhere = samples(other)
    client.post("/data", json={"user_id": user, "payload": {}})  # drops the lease this process holds
    written = samples(client)

    def grew(found: Samples, name: str, **labels: str) -> float:
        return total(found, name, **labels) - total(before, name, **labels)

    assert grew(read, "cache_operations_total", result="miss", tier="redis") == 2  # cached by the second
    assert grew(read, "cache_operations_total", result="hit", tier="local") == 2  # this process's copy
    assert grew(read, "cache_operations_total", result="error") == 0
    assert value(elsewhere, "cache_operations_total", operation="get", result="hit", tier="redis") == 1
    assert 0 < grew(read, "redis_round_trips_total") <= 4  # a read asks once at most, and pipelined
    assert grew(read, "read_leases_total", event="granted") == 1
    assert grew(written, "read_leases_total", event="revoked") == 1


def test_a_page_another_process_cached_revalidates_here_without_the_database(
    client: TestClient, settings_pg_redis: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = f"revalidate-{time.monotonic_ns()}"
    client.post("/data", json={"user_id": user, "payload": {"n": 1}})
    client.get("/data", params={"user_id": user})  # a page is cached from its second read
    tag = client.get("/data", params={"user_id": user}).headers["etag"]
    reads = list_queries(monkeypatch)
    with TestClient(create_app(settings_pg_redis)) as other:  # no copy of its own: Redis's answers
        unchanged = other.get("/data", params={"user_id": user}, headers={"if-none-match": tag})
        client.post("/data", json={"user_id": user, "payload": {"n": 2}})  # a write in the first process
        changed = other.get("/data", params={"user_id": user}, headers={"if-none-match": tag})

    assert (unchanged.status_code, unchanged.headers["etag"]) == (304, tag)
    assert len(reads) == 1, "only the read after the write went to the database"
    assert changed.status_code == 200 and changed.json()["total"] == 2 and changed.headers["etag"] != tag
