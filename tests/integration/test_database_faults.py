"""The database cut or frozen under the service (PostgreSQL behind a TCP fault proxy): requests
answer 503 with Retry-After within the deadline, the breaker opens after its threshold and
then answers without a network call, and everything recovers once the database is back."""

from __future__ import annotations

import asyncio
import gc
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from starlette.testclient import TestClient

from app.adapters.db.postgres import PostgresRecordRepository
from app.adapters.db.sqlfiles import load_queries
from app.errors import StorageUnavailable
from app.main import create_app
from app.resilience import deadline
from app.settings import DEFAULT_SQL_DIR, Settings
from tests.faults import BLACK_HOLE, LOSE_REPLIES, PASS, RESET, FaultProxy, fault_proxy
from tests.scrape import samples, value

TIMEOUT = 0.5  # the database timeout the service runs with here: the most one call takes
DEADLINE = 1.0  # the request deadline: the most a request waits for the database in all
SLACK = 0.3  # what the test's own client and threads may add on a busy two-core machine
BREAKER_RESET = 1.0  # how long the breaker stays open


@pytest.fixture
def proxy(postgres_db: str) -> Iterator[FaultProxy]:
    parts = urlsplit(postgres_db)
    with fault_proxy(parts.hostname or "127.0.0.1", parts.port or 5432) as running:
        yield running


@contextmanager
def serving(postgres_db: str, proxy: FaultProxy, **settings: Any) -> Iterator[TestClient]:
    """The service on the database behind the proxy, with the fault tests' timeouts."""
    parts = urlsplit(postgres_db)
    through = parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}")
    faults: dict[str, Any] = {
        "database_timeout_seconds": TIMEOUT,
        "request_deadline_seconds": DEADLINE,
        "db_breaker_failures": 3,
        "db_breaker_reset_seconds": BREAKER_RESET,
        "log_level": "critical",
    }
    configured = Settings(database_url=urlunsplit(through), **(faults | settings))
    with TestClient(create_app(configured)) as test_client:
        yield test_client


@pytest.fixture
def client(postgres_db: str, proxy: FaultProxy) -> Iterator[TestClient]:
    with serving(postgres_db, proxy) as test_client:
        yield test_client


def get_one(client: TestClient) -> tuple[int, float, dict[str, str]]:
    started = time.monotonic()
    response = client.get(f"/data/{uuid.uuid4()}")  # a lookup the database must answer (404)
    return response.status_code, time.monotonic() - started, dict(response.headers)


def test_a_frozen_database_trips_the_breaker_which_then_answers_without_calling_it(
    postgres_db: str, proxy: FaultProxy
) -> None:
    # the breaker stays open far longer than the hundred answers take on a slow machine, so none
    # of them is the half-open trial (which would wait out one timeout, as it should)
    with serving(postgres_db, proxy, db_breaker_reset_seconds=60.0) as client:
        assert get_one(client)[0] == 404
        proxy.mode = BLACK_HOLE

        tripping = [get_one(client) for _ in range(3)]
        offered = proxy.offered
        gc.collect()
        gc.disable()  # the test process's own collections are not the service's latency
        try:
            open_answers = [get_one(client) for _ in range(100)]
        finally:
            gc.enable()
        ready = client.get("/ready")
        offered_while_open = proxy.offered  # (closing the pool says goodbye to the database)

    assert [status for status, _, _ in tripping] == [503] * 3
    assert all(took < TIMEOUT + SLACK for _, took, _ in tripping)  # one call's timeout, never a hang
    assert all("retry-after" in headers for _, _, headers in tripping)
    assert [status for status, _, _ in open_answers] == [503] * 100
    # fails fast: an open breaker answers at once, far inside the timeout a call would wait
    assert max(took for _, took, _ in open_answers) < TIMEOUT / 5
    # Retry-After tells when the breaker will try the database again: within its 60 s, never past
    assert all(50 <= int(headers["retry-after"]) <= 60 for _, _, headers in open_answers)
    assert offered_while_open == offered  # not one byte sent to the database meanwhile
    assert ready.status_code == 200  # a shared outage: reported, the process stays in service
    assert ready.json()["status"] == "degraded" and ready.json()["checks"]["database"] == "open"


def test_a_slow_database_answers_slowly_and_one_slower_than_the_timeout_trips_the_breaker(
    client: TestClient, proxy: FaultProxy
) -> None:
    assert get_one(client)[0] == 404
    proxy.latency = 0.05  # each way: a statement's round trip takes 0.1 s more
    slow = [get_one(client) for _ in range(3)]
    proxy.latency = TIMEOUT  # a round trip now takes twice the timeout
    too_slow = [get_one(client) for _ in range(4)]
    proxy.latency = 0.0

    assert [status for status, _, _ in slow] == [404] * 3  # answered, later
    assert all(0.1 <= took < TIMEOUT for _, took, _ in slow)
    assert [status for status, _, _ in too_slow] == [503] * 4
    assert all(took < TIMEOUT + SLACK for _, took, _ in too_slow[:3])  # each waits out one timeout
    assert too_slow[3][1] < TIMEOUT / 5  # the three timeouts opened the breaker


def test_the_breaker_closes_again_once_the_database_is_back(client: TestClient, proxy: FaultProxy) -> None:
    proxy.mode = BLACK_HOLE
    for _ in range(3):
        get_one(client)
    proxy.mode = PASS

    time.sleep(BREAKER_RESET + 0.1)
    deadline = time.monotonic() + 10
    statuses = []
    while time.monotonic() < deadline:
        statuses.append(get_one(client)[0])
        if statuses[-3:] == [404] * 3:
            break
        time.sleep(0.05)

    assert statuses[-3:] == [404] * 3, statuses
    assert client.get("/ready").json()["checks"]["database"] == "ok"
    found = samples(client)
    for state in ("open", "half-open", "closed"):  # opened, tried, closed: each at least once
        assert value(found, "breaker_transitions_total", dependency="database", to=state) >= 1, state
    assert value(found, "breaker_state", dependency="database", state="closed") == 1


def test_the_database_back_is_served_within_a_second_or_two_not_after_the_breakers_reset(
    postgres_db: str, proxy: FaultProxy
) -> None:
    with serving(postgres_db, proxy, db_breaker_reset_seconds=60) as client:
        proxy.mode = BLACK_HOLE
        for _ in range(3):
            get_one(client)
        assert get_one(client)[0] == 503  # open, for a minute by its own clock
        proxy.mode = PASS
        back = time.monotonic()
        statuses = []
        while time.monotonic() < back + 10 and statuses[-1:] != [404]:
            statuses.append(get_one(client)[0])
            time.sleep(0.05)
        served_after = time.monotonic() - back

    assert statuses[-1] == 404, statuses
    assert served_after < 2.5, f"served {served_after:.1f} s after the database came back"


def test_refused_connections_are_retried_and_counted(client: TestClient, proxy: FaultProxy) -> None:
    assert get_one(client)[0] == 404
    proxy.mode = RESET  # every connection dropped, new ones refused: nothing can have been sent
    answers = [get_one(client) for _ in range(2)]
    proxy.mode = PASS

    assert [status for status, _, _ in answers] == [503] * 2
    assert value(samples(client), "retries_total", dependency="database") >= 2


CACHE_TTL = 1.0  # Redis keeps pages whole seconds


@pytest.mark.parametrize("shared", [False, True], ids=["in-process", "redis"])
def test_a_frozen_database_leaves_cached_pages_answering_marked_stale_and_the_rest_503(
    postgres_db: str, proxy: FaultProxy, redis_url: str, shared: bool
) -> None:
    redis = {"redis_url": redis_url, "lease_seconds": 0} if shared else {}
    with serving(
        postgres_db, proxy, cache_ttl_seconds=CACHE_TTL, cache_max_stale_seconds=30, **redis
    ) as client:
        assert client.post("/data", json={"user_id": "s", "payload": {"n": 1}}).status_code == 201
        client.get("/data", params={"user_id": "s"})  # a page is cached from its second read
        fresh = client.get("/data", params={"user_id": "s"})
        proxy.mode = BLACK_HOLE
        cached = client.get("/data", params={"user_id": "s"})  # within its TTL: a plain hit
        time.sleep(CACHE_TTL + 0.2)
        tripping = [client.get("/data", params={"user_id": "s"}) for _ in range(3)]
        started = time.monotonic()
        stale = client.get("/data", params={"user_id": "s"})  # the breaker is open now
        took = time.monotonic() - started
        revalidated = client.get(
            "/data", params={"user_id": "s"}, headers={"if-none-match": fresh.headers["etag"]}
        )
        uncached = client.get("/data", params={"user_id": "never-read"})

    assert fresh.status_code == cached.status_code == 200 and "cache-status" not in cached.headers
    assert cached.content == fresh.content
    for answer in [*tripping, stale]:
        assert answer.status_code == 200 and answer.content == fresh.content
        status = answer.headers["cache-status"]
        assert status.startswith("data-service; hit; ttl=-") and status.endswith(
            "detail=database-unavailable"
        )
        assert CACHE_TTL <= int(answer.headers["age"]) < CACHE_TTL + 5
        assert answer.headers["etag"] == fresh.headers["etag"]
    assert revalidated.status_code == 304  # the client's copy is the stale page: nothing to send
    assert took < TIMEOUT / 5  # the open breaker answers the stale copy without waiting
    assert uncached.status_code == 503 and uncached.headers["retry-after"]


def test_a_page_staler_than_the_bound_is_not_answered(postgres_db: str, proxy: FaultProxy) -> None:
    with serving(postgres_db, proxy, cache_ttl_seconds=0.2, cache_max_stale_seconds=1.5) as client:
        for _ in range(2):  # a page is cached from its second read
            assert client.get("/data", params={"user_id": "b"}).status_code == 200
        proxy.mode = BLACK_HOLE
        time.sleep(0.25)
        within = client.get("/data", params={"user_id": "b"})  # answered after the database's timeout
        time.sleep(1.5)
        beyond = client.get("/data", params={"user_id": "b"})

    assert within.status_code == 200 and within.headers["cache-status"]
    assert beyond.status_code == 503 and beyond.headers["retry-after"]


def test_a_page_shared_in_redis_answers_a_process_that_never_read_it_while_the_database_is_frozen(
    postgres_db: str, proxy: FaultProxy, redis_url: str
) -> None:
    shared = {"redis_url": redis_url, "lease_seconds": 0}
    with serving(postgres_db, proxy, **shared) as first, serving(postgres_db, proxy, **shared) as second:
        assert first.post("/data", json={"user_id": "r", "payload": {"n": 1}}).status_code == 201
        first.get("/data", params={"user_id": "r"})  # a page is cached from its second read
        read = first.get("/data", params={"user_id": "r"})
        proxy.mode = BLACK_HOLE
        answered = second.get("/data", params={"user_id": "r"})

    assert answered.status_code == 200 and answered.content == read.content
    assert "cache-status" not in answered.headers  # within its TTL: a plain hit, not a stale one


def test_writes_to_a_frozen_database_are_503_with_retry_after_and_none_is_lost(
    client: TestClient, proxy: FaultProxy
) -> None:
    stored = client.post("/data", json={"user_id": "w", "payload": {"n": 0}})
    assert stored.status_code == 201
    proxy.mode = BLACK_HOLE

    refused = [client.post("/data", json={"user_id": "w", "payload": {"n": i}}) for i in range(1, 6)]
    proxy.mode = PASS
    time.sleep(BREAKER_RESET + 0.1)
    for _ in range(50):  # until the trial has closed the breaker
        listed = client.get("/data", params={"user_id": "w", "page_size": 100})
        if listed.status_code == 200:
            break
        time.sleep(0.1)

    assert [r.status_code for r in refused] == [503] * 5
    assert all(r.headers.get("retry-after") for r in refused)
    ids = [item["id"] for item in listed.json()["items"]]
    assert stored.json()["id"] in ids and len(ids) == len(set(ids))  # the acknowledged one is there, once


def test_a_database_cut_during_concurrent_writes_loses_no_acknowledged_write_and_stores_none_twice(
    postgres_db: str, proxy: FaultProxy
) -> None:
    # The breaker kept closed, so every write meets the fault itself, and any retry would go out.
    with serving(postgres_db, proxy, rate_limit_per_minute=100_000, db_breaker_failures=1000) as client:
        answers, records = _write_through_a_cut(client, proxy)

    statuses = [status for _, status, _, _ in answers]
    acknowledged = {stored: n for n, status, stored, _ in answers if status == 201}
    found = [record["payload"]["n"] for record in records]
    assert set(statuses) <= {201, 503} and statuses[:40] == [201] * 40 and statuses.count(503) > 0
    assert {record["id"]: record["payload"]["n"] for record in records}.items() >= acknowledged.items()
    assert len(found) == len(set(found))  # no write stored twice, the retried ones included
    assert max(took for _, _, _, took in answers) < DEADLINE + SLACK


def _write_through_a_cut(
    client: TestClient, proxy: FaultProxy
) -> tuple[list[tuple[int, int, str | None, float]], list[dict[str, Any]]]:
    """200 writes from 8 threads: from the 60th the database's answers are lost (the writes
    arrive and commit, unacknowledged), from the 90th every connection is cut and new ones
    refused, from the 120th the database is back; then every record the user has, once the
    breaker has closed again."""

    def write(n: int) -> tuple[int, int, str | None, float]:
        if n == 60:
            proxy.mode = LOSE_REPLIES
        elif n == 90:
            proxy.mode = RESET
        elif n == 120:
            proxy.mode = PASS  # ...and then the database is back
        started = time.monotonic()
        answer = client.post("/data", json={"user_id": "c", "payload": {"n": n}})
        stored = answer.json().get("id") if answer.status_code == 201 else None
        return n, answer.status_code, stored, time.monotonic() - started

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(write, range(200)))
    time.sleep(BREAKER_RESET + 0.1)
    records: list[dict[str, Any]] = []
    params: dict[str, Any] = {"user_id": "c", "page_size": 100}
    for _ in range(50):
        listed = client.get("/data", params=params)
        if listed.status_code != 200:  # the breaker's trial has not closed it yet
            time.sleep(0.1)
            continue
        records += listed.json()["items"]
        if not listed.json()["has_more"]:
            break
        params["cursor"] = listed.json()["next_cursor"]
    return answers, records


def test_the_request_deadline_bounds_a_wait_shorter_than_the_database_timeout(
    postgres_db: str, proxy: FaultProxy
) -> None:
    with serving(postgres_db, proxy, database_timeout_seconds=5.0, request_deadline_seconds=0.4) as client:
        assert get_one(client)[0] == 404
        proxy.mode = BLACK_HOLE
        started = time.monotonic()
        write = client.post("/data", json={"user_id": "d", "payload": {}})
        wrote = time.monotonic() - started
        read, took, headers = get_one(client)

    assert write.status_code == read == 503 and headers["retry-after"]
    assert wrote < 0.4 + SLACK and took < 0.4 + SLACK  # not the five seconds of the timeout


def test_a_passed_deadline_is_its_own_answer_and_never_opens_the_breaker(
    postgres_db: str, proxy: FaultProxy
) -> None:
    with serving(postgres_db, proxy, database_timeout_seconds=5.0, request_deadline_seconds=0.3) as client:
        assert get_one(client)[0] == 404
        proxy.mode = BLACK_HOLE
        cut = [client.get(f"/data/{uuid.uuid4()}") for _ in range(5)]  # the breaker opens at 3 failures
        state = value(samples(client), "breaker_state", dependency="database", state="closed")
        proxy.mode = PASS
        after = get_one(client)

    assert [r.status_code for r in cut] == [503] * 5
    assert all(r.json()["type"].endswith(":deadline-passed") and r.headers["retry-after"] for r in cut)
    assert state == 1  # the request's own budget ran out: nothing said against the database
    assert after[0] == 404  # served at once: no breaker to wait out


def test_concurrent_requests_on_a_frozen_database_all_answer_within_the_deadline(
    client: TestClient, proxy: FaultProxy
) -> None:
    assert get_one(client)[0] == 404
    proxy.mode = BLACK_HOLE

    with ThreadPoolExecutor(24) as pool:  # three times the pool's connections, all at once
        answers = list(pool.map(lambda _: get_one(client), range(24)))

    assert [status for status, _, _ in answers] == [503] * 24
    # waiting for a connection and for the statement share one timeout: never in turn
    assert max(took for _, took, _ in answers) < TIMEOUT + SLACK
    found = samples(client)  # the requests that found every connection taken gave up waiting
    assert value(found, "pool_acquire_timeouts_total", pool="primary", database="postgres") >= 1
    assert value(found, "pool_acquire_seconds_count", pool="primary", database="postgres") >= 2


@pytest.mark.anyio
async def test_a_refused_connection_is_known_to_have_sent_nothing_a_frozen_one_is_not(
    postgres_db: str, proxy: FaultProxy
) -> None:
    parts = urlsplit(postgres_db)
    through = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))
    repository = PostgresRecordRepository(
        through, load_queries(DEFAULT_SQL_DIR, "postgres"), min_size=1, max_size=1, timeout=TIMEOUT
    )
    await repository.open()
    try:
        proxy.mode = RESET  # every connection dropped, new ones refused
        with pytest.raises(StorageUnavailable) as dropped:  # sent on the pooled connection
            await repository.get_by_id(str(uuid.uuid4()))
        with pytest.raises(StorageUnavailable) as refused:  # a new connection is refused
            await repository.get_by_id(str(uuid.uuid4()))
        proxy.mode = PASS
        assert await repository.get_by_id(str(uuid.uuid4())) is None  # reconnected
        proxy.mode = BLACK_HOLE
        with pytest.raises(StorageUnavailable) as frozen:
            await repository.get_by_id(str(uuid.uuid4()))
        proxy.mode = PASS
    finally:
        await repository.close()

    assert not dropped.value.safe_to_retry  # it went out on a connection that died: unknown
    assert refused.value.safe_to_retry  # nothing was sent: retried by the guarded repository
    assert not frozen.value.safe_to_retry  # the statement went out: its outcome is unknown


@pytest.mark.anyio
async def test_a_read_sharing_a_statement_waits_no_longer_than_its_own_deadline(
    postgres_db: str, proxy: FaultProxy
) -> None:
    """Reads by id asked together share one statement (reads.py): on a frozen database, each
    caller still gives up at its own request's deadline, and the others' statement still runs
    to the database timeout, not to the first caller's deadline."""
    parts = urlsplit(postgres_db)
    through = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))
    repository = PostgresRecordRepository(
        through, load_queries(DEFAULT_SQL_DIR, "postgres"), min_size=1, max_size=2, timeout=1.0
    )
    await repository.open()

    async def read(within: float) -> float:
        started = time.monotonic()
        with deadline.within(within), pytest.raises(StorageUnavailable):
            await repository.get_by_id(str(uuid.uuid4()))
        return time.monotonic() - started

    try:
        assert await repository.get_by_id(str(uuid.uuid4())) is None  # connected
        proxy.mode = BLACK_HOLE
        short, long = await asyncio.gather(read(0.2), read(10.0))  # one turn: one statement
        proxy.mode = PASS
    finally:
        await repository.close()

    assert short < 0.2 + SLACK
    assert 1.0 - 0.1 <= long < 1.0 + SLACK
