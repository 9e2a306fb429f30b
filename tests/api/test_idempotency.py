"""Idempotency-Key on POST /data and POST /data/bulk (draft-ietf-httpapi-idempotency-key-header)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.api.tokens import auth, token, with_tokens

PROBLEM = "urn:data-service:problem:"


def post(client: TestClient, key: str | None, body: dict, path: str = "/data", **headers: str):
    sent = {**headers, **({"Idempotency-Key": key} if key is not None else {})}
    return client.post(path, json=body, headers=sent)


def test_a_retry_with_the_key_gets_the_first_answer_and_creates_nothing(
    client: TestClient, stored_count: Callable[[str], int]
) -> None:
    first = post(client, '"order-1"', {"user_id": "alice", "payload": {"n": 1}})
    again = post(client, '"order-1"', {"user_id": "alice", "payload": {"n": 1}})

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert stored_count("alice") == 1


def test_the_same_key_with_another_body_is_422_and_stores_nothing(
    client: TestClient, stored_count: Callable[[str], int]
) -> None:
    assert post(client, '"k"', {"user_id": "alice", "payload": {"n": 1}}).status_code == 201

    other = post(client, '"k"', {"user_id": "alice", "payload": {"n": 2}})

    assert other.status_code == 422 and other.json()["type"] == PROBLEM + "idempotency-key-reused"
    assert stored_count("alice") == 1


def test_a_bare_key_is_the_same_key_as_the_string(
    client: TestClient, stored_count: Callable[[str], int]
) -> None:
    post(client, '"a\\"b"', {"user_id": "alice", "payload": {}})

    assert post(client, 'a"b', {"user_id": "alice", "payload": {}}).headers["idempotent-replayed"] == "true"
    assert stored_count("alice") == 1


def test_without_a_key_every_post_creates(client: TestClient, stored_count: Callable[[str], int]) -> None:
    for _ in range(2):
        assert post(client, None, {"user_id": "alice", "payload": {}}).status_code == 201

    assert stored_count("alice") == 2


@pytest.mark.parametrize(
    "key",
    ['""', "x" * 256, '"' + "x" * 256 + '"', "caf\u00e9", '"a"b"', '"a\\x"', "tab\there"],
    ids=["empty", "too-long", "too-long-string", "not-ascii", "unescaped-quote", "bad-escape", "control"],
)
def test_a_malformed_key_is_400_and_stores_nothing(
    client: TestClient, stored_count: Callable[[str], int], key: str
) -> None:
    answer = client.post(
        "/data",
        json={"user_id": "alice", "payload": {}},
        headers=[("idempotency-key", key.encode("latin-1"))],
    )

    assert answer.status_code == 400 and answer.json()["type"] == PROBLEM + "malformed-request"
    assert "Idempotency-Key" in answer.json()["detail"]
    assert stored_count("alice") == 0


def test_two_key_headers_are_400(client: TestClient) -> None:
    answer = client.post(
        "/data",
        json={"user_id": "alice", "payload": {}},
        headers=[("idempotency-key", b'"a"'), ("idempotency-key", b'"b"')],
    )

    assert answer.status_code == 400


def test_a_key_of_255_characters_is_taken(client: TestClient) -> None:
    assert post(client, "k" * 255, {"user_id": "alice", "payload": {}}).status_code == 201


def test_a_bulk_write_with_a_key_replays_its_207(
    client: TestClient, stored_count: Callable[[str], int]
) -> None:
    body = {"items": [{"user_id": "alice", "payload": {}}, {"user_id": "alice"}]}

    first = post(client, '"bulk-1"', body, "/data/bulk")
    again = post(client, '"bulk-1"', body, "/data/bulk")

    assert first.status_code == again.status_code == 207 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert stored_count("alice") == 1


def test_a_rejected_write_keeps_no_answer_so_a_corrected_retry_is_a_new_request(
    client: TestClient, stored_count: Callable[[str], int]
) -> None:
    refused = post(client, '"k"', {"user_id": "alice"})  # no payload: 422 before the database
    fixed = post(client, '"k"', {"user_id": "alice", "payload": {}})

    assert refused.status_code == 422 and fixed.status_code == 201
    assert "idempotent-replayed" not in fixed.headers and stored_count("alice") == 1


def test_keys_expire_after_the_configured_time(
    make_client: Callable[..., TestClient], stored_count: Callable[[str], int]
) -> None:
    import time

    client = make_client(idempotency_ttl_seconds=1)
    post(client, '"k"', {"user_id": "alice", "payload": {}})
    time.sleep(1.1)
    later = post(client, '"k"', {"user_id": "alice", "payload": {}})

    assert later.status_code == 201 and "idempotent-replayed" not in later.headers
    assert stored_count("alice") == 2


def test_100_concurrent_requests_with_one_key_create_one_record_and_agree(
    make_client: Callable[..., TestClient], stored_count: Callable[[str], int]
) -> None:
    client = make_client(rate_limit_per_minute=100_000)  # the budget is not what is tested here
    body = {"user_id": "alice", "payload": {"n": 1}}
    with ThreadPoolExecutor(100) as pool:
        answers = list(pool.map(lambda _: post(client, '"same"', body), range(100)))

    created = [a for a in answers if a.status_code == 201]
    busy = [a for a in answers if a.status_code == 409]
    others = [(a.status_code, a.text[:200]) for a in answers if a.status_code not in (201, 409)]
    assert not others and created
    assert len({a.text for a in created}) == 1  # every 201 is the one answer
    assert [a.headers.get("idempotent-replayed") for a in created].count(None) == 1
    assert all(a.json()["type"] == PROBLEM + "idempotency-key-in-use" for a in busy)
    assert stored_count("alice") == 1


@pytest.fixture
def secured_client(settings: Settings, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(with_tokens(settings, tmp_path))) as test_client:
        yield test_client


def test_keys_belong_to_their_caller(secured_client: TestClient, stored_count: Callable[[str], int]) -> None:
    admin = token("admin", ["admin"])
    mine = post(secured_client, '"k"', {"user_id": "alice", "payload": {}}, **auth(token("alice")))
    theirs = post(secured_client, '"k"', {"user_id": "alice", "payload": {}}, **auth(admin))

    assert mine.status_code == theirs.status_code == 201
    assert "idempotent-replayed" not in theirs.headers and theirs.json()["id"] != mine.json()["id"]
    assert stored_count("alice") == 2
