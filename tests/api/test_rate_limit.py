"""The per-user budget as a client meets it."""

from __future__ import annotations

from starlette.testclient import TestClient


def test_a_user_over_budget_gets_429_with_rate_limit_headers(make_client) -> None:
    client = make_client(rate_limit_per_minute=3)
    for _ in range(3):
        assert client.get("/data", params={"user_id": "alice"}).status_code == 200

    refused = client.get("/data", params={"user_id": "alice"})

    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit-policy"] == '"per-user";q=3;w=60'
    assert refused.headers["ratelimit"] == f'"per-user";r=0;t={refused.headers["retry-after"]}'


def test_writes_and_reads_share_the_budget_and_refused_writes_store_nothing(
    make_client, stored_count
) -> None:
    client = make_client(rate_limit_per_minute=2)
    assert client.post("/data", json={"user_id": "alice", "payload": {}}).status_code == 201
    assert client.get("/data", params={"user_id": "alice"}).status_code == 200

    assert client.post("/data", json={"user_id": "alice", "payload": {}}).status_code == 429
    assert client.post("/data/bulk", json={"items": [{"user_id": "alice", "payload": {}}]}).status_code == 429
    assert stored_count("alice") == 1


def test_one_user_over_budget_leaves_others_alone(make_client) -> None:
    client = make_client(rate_limit_per_minute=1)
    client.get("/data", params={"user_id": "alice"})

    assert client.get("/data", params={"user_id": "alice"}).status_code == 429
    assert client.get("/data", params={"user_id": "bob"}).status_code == 200


def test_requests_naming_no_user_are_not_throttled_as_one_user(make_client) -> None:
    """Behind an ingress every client shares one address: such requests are not pooled."""
    client: TestClient = make_client(rate_limit_per_minute=2)
    record = client.post("/data", json={"user_id": "alice", "payload": {}}).json()

    for _ in range(10):
        assert client.get(f"/data/{record['id']}").status_code == 200
        assert client.get("/health").status_code == 200
    assert client.get("/data", params={"user_id": "bob"}).status_code == 200


def test_every_answer_that_spent_a_token_says_what_is_left(make_client) -> None:
    client = make_client(rate_limit_per_minute=60)

    first = client.get("/data", params={"user_id": "quota"})
    second = client.post("/data", json={"user_id": "quota", "payload": {}})
    third = client.get("/data", params={"user_id": "quota"})
    free = [client.get("/health"), client.get(f"/data/{second.json()['id']}")]  # no token spent

    for answer in (first, second, third):
        assert answer.headers["ratelimit-policy"] == '"per-user";q=60;w=60'
    assert [a.headers["ratelimit"].split(";")[1] for a in (first, second, third)] == ["r=59", "r=58", "r=57"]
    assert third.headers["ratelimit"] == '"per-user";r=57;t=3'  # a token a second back to full
    assert all("ratelimit" not in a.headers and "ratelimit-policy" not in a.headers for a in free)
