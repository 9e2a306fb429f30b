"""A record's lifecycle over HTTP: PATCH (JSON Merge Patch) and DELETE, ETags, If-Match and
If-None-Match, as a client meets them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from redis import Redis
from starlette.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.api.tokens import auth, token, with_tokens
from tests.conftest import ServiceClient
from tests.processes import free_port
from tests.reads import list_queries

MERGE = {"content-type": "application/merge-patch+json"}


def stored(client: TestClient, payload: dict[str, Any] | None = None, user: str = "alice") -> dict[str, Any]:
    created = client.post("/data", json={"user_id": user, "payload": payload or {"a": 1}})
    assert created.status_code == 201
    return created.json()


def patch(client: TestClient, record_id: str, body: object, **headers: str) -> Any:
    return client.patch(f"/data/{record_id}", json=body, headers={**MERGE, **headers})


def test_every_record_answer_carries_its_version_as_a_strong_etag(client: TestClient) -> None:
    created = client.post("/data", json={"user_id": "alice", "payload": {}})
    record = created.json()
    read = client.get(f"/data/{record['id']}")

    assert created.headers["etag"] == read.headers["etag"] == '"1"'
    assert record["version"] == read.json()["version"] == 1


def test_patch_merges_into_the_payload_and_counts_the_version_up(client: TestClient) -> None:
    record = stored(client, {"type": "order", "status": "new", "items": {"a": 1, "b": 2}, "note": "x"})

    answer = patch(client, record["id"], {"status": "paid", "items": {"b": None, "c": 3}, "note": None})

    assert answer.status_code == 200
    assert answer.headers["etag"] == '"2"'
    changed = answer.json()
    assert changed["payload"] == {"type": "order", "status": "paid", "items": {"a": 1, "c": 3}}
    assert (changed["id"], changed["user_id"], changed["version"]) == (record["id"], "alice", 2)
    assert changed["created_at"] == record["created_at"] and changed["updated_at"] > record["updated_at"]
    read = client.get(f"/data/{record['id']}")
    assert read.json() == changed and read.headers["etag"] == '"2"'


def test_plain_json_is_taken_as_a_merge_patch_too(client: TestClient) -> None:
    record = stored(client)

    answer = client.patch(f"/data/{record['id']}", json={"b": 2})

    assert answer.status_code == 200 and answer.json()["payload"] == {"a": 1, "b": 2}


def test_a_changed_record_is_seen_by_the_next_list_read(client: TestClient) -> None:
    record = stored(client, {"n": 1})
    assert client.get("/data", params={"user_id": "alice"}).json()["items"][0]["payload"] == {"n": 1}

    patch(client, record["id"], {"n": 2})
    after_patch = client.get("/data", params={"user_id": "alice"}).json()
    client.delete(f"/data/{record['id']}")
    after_delete = client.get("/data", params={"user_id": "alice"}).json()

    assert after_patch["items"][0]["payload"] == {"n": 2} and after_patch["items"][0]["version"] == 2
    assert after_delete["items"] == [] and after_delete["total"] == 0


def test_if_match_with_the_current_etag_or_a_star_lets_the_change_through(client: TestClient) -> None:
    record = stored(client)

    first = patch(client, record["id"], {"n": 1}, **{"if-match": '"1"'})
    second = patch(client, record["id"], {"n": 2}, **{"if-match": '"7", "2"'})
    third = patch(client, record["id"], {"n": 3}, **{"if-match": "*"})

    assert [a.status_code for a in (first, second, third)] == [200, 200, 200]
    assert third.headers["etag"] == '"4"'


def test_a_stale_if_match_is_412_and_changes_nothing(client: TestClient) -> None:
    record = stored(client)
    assert patch(client, record["id"], {"n": 1}).status_code == 200  # someone else's change

    stale_patch = patch(client, record["id"], {"n": 2}, **{"if-match": '"1"'})
    weak = patch(client, record["id"], {"n": 2}, **{"if-match": 'W/"2"'})  # strong comparison
    stale_delete = client.delete(f"/data/{record['id']}", headers={"if-match": '"1"'})

    assert [a.status_code for a in (stale_patch, weak, stale_delete)] == [412, 412, 412]
    assert stale_patch.headers["content-type"] == "application/problem+json"
    assert stale_patch.json()["type"].endswith("precondition-failed")
    read = client.get(f"/data/{record['id']}")
    assert read.json()["payload"] == {"a": 1, "n": 1} and read.headers["etag"] == '"2"'


def test_delete_answers_204_and_the_record_is_gone(client: TestClient) -> None:
    record = stored(client)
    other = stored(client)

    deleted = client.delete(f"/data/{record['id']}", headers={"if-match": '"1"'})

    assert deleted.status_code == 204 and deleted.content == b""
    assert client.get(f"/data/{record['id']}").status_code == 404
    assert client.delete(f"/data/{record['id']}").status_code == 404
    assert patch(client, record["id"], {"n": 1}).status_code == 404
    assert client.get(f"/data/{other['id']}").status_code == 200


def test_unknown_and_malformed_ids_are_404(client: TestClient) -> None:
    for record_id in ("ffffffff-ffff-4fff-bfff-ffffffffffff", "not-a-record", "x" * 300):
        assert patch(client, record_id, {"n": 1}).status_code == 404
        assert client.delete(f"/data/{record_id}").status_code == 404


def test_if_none_match_with_the_current_etag_is_304_without_a_body(client: TestClient) -> None:
    record = stored(client)
    path = f"/data/{record['id']}"

    current = client.get(path, headers={"if-none-match": '"1"'})
    weak = client.get(path, headers={"if-none-match": 'W/"1"'})  # weak comparison for GET
    patch(client, record["id"], {"n": 1})
    stale = client.get(path, headers={"if-none-match": '"1"'})

    assert (current.status_code, current.content, current.headers["etag"]) == (304, b"", '"1"')
    assert weak.status_code == 304
    assert stale.status_code == 200 and stale.json()["version"] == 2 and stale.headers["etag"] == '"2"'


@pytest.mark.parametrize("header", ["if-match", "if-none-match"])
@pytest.mark.parametrize("value", ["1", '"1', '"1" "2"', "W/1", ",", '"a"b"'])
def test_malformed_entity_tags_are_400(client: TestClient, header: str, value: str) -> None:
    record = stored(client)

    answer = (
        client.get(f"/data/{record['id']}", headers={header: value})
        if header == "if-none-match"
        else patch(client, record["id"], {"n": 1}, **{header: value})
    )

    assert answer.status_code == 400
    assert "entity tags" in answer.json()["detail"]
    assert client.get(f"/data/{record['id']}").json()["version"] == 1


def test_if_match_can_be_required(make_client: Callable[..., TestClient]) -> None:
    client = make_client(require_if_match=True)
    record = stored(client)

    without = [patch(client, record["id"], {"n": 1}), client.delete(f"/data/{record['id']}")]
    with_it = patch(client, record["id"], {"n": 1}, **{"if-match": '"1"'})

    assert [a.status_code for a in without] == [428, 428]
    assert without[0].json()["type"].endswith("precondition-required")
    assert with_it.status_code == 200
    assert client.delete(f"/data/{record['id']}", headers={"if-match": '"2"'}).status_code == 204


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("text/plain", b'{"n": 1}', 415),
        ("application/json-patch+json", b'[{"op": "add", "path": "/n", "value": 1}]', 415),
        ("application/merge-patch+json", b"[1, 2]", 422),
        ("application/merge-patch+json", b'"text"', 422),
        ("application/merge-patch+json", b"null", 422),
        ("application/merge-patch+json", b'{"n": ', 400),
        ("application/merge-patch+json", b'{"a":' * 100 + b"1" + b"}" * 100, 400),
        ("application/merge-patch+json", b'{"s": "\\u0000"}', 422),
    ],
)
def test_bad_patches_get_a_clear_error_and_change_nothing(
    client: TestClient, content_type: str, body: bytes, status: int
) -> None:
    record = stored(client)

    answer = client.patch(f"/data/{record['id']}", content=body, headers={"content-type": content_type})

    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    assert client.get(f"/data/{record['id']}").json() == record


def test_a_patch_over_the_body_limit_is_413(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_body_bytes=1000)
    record = stored(client)

    answer = patch(client, record["id"], {"big": "x" * 2000})

    assert answer.status_code == 413
    assert client.get(f"/data/{record['id']}").json()["version"] == 1


def test_a_patch_whose_result_passes_the_record_limit_is_refused(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(max_body_bytes=1000)
    record = stored(client, {"a": "x" * 600})

    answer = patch(client, record["id"], {"b": "y" * 600})  # each fits, the merged payload does not

    assert answer.status_code == 422
    assert "bytes" in answer.json()["errors"][0]["message"]
    assert client.get(f"/data/{record['id']}").json() == record


def test_changes_spend_the_owners_request_budget(make_client: Callable[..., TestClient]) -> None:
    client = make_client(rate_limit_per_minute=3)
    record = stored(client)  # 1

    answers = [patch(client, record["id"], {"n": n}).status_code for n in range(3)]

    assert answers == [200, 200, 429]


def test_changes_wait_while_the_service_is_read_only(make_client: Callable[..., ServiceClient]) -> None:
    client = make_client(metrics_port=free_port())
    record = stored(client)
    client.admin("PUT", "/admin/read-only", json={"read_only": True, "reason": "upgrade"})

    answers = [patch(client, record["id"], {"n": 1}), client.delete(f"/data/{record['id']}")]

    assert [a.status_code for a in answers] == [503, 503]
    assert client.get(f"/data/{record['id']}").json() == record


def test_another_users_record_cannot_be_changed_and_readers_cannot_change(
    settings: Settings, tmp_path: Path
) -> None:
    with TestClient(create_app(with_tokens(settings, tmp_path))) as client:
        alice = auth(token("alice"))
        record = client.post("/data", json={"user_id": "alice", "payload": {"a": 1}}, headers=alice).json()
        path = f"/data/{record['id']}"
        bob, reader = auth(token("bob")), auth(token("alice", ("reader",)))
        admin = auth(token("root", ("admin",)))

        assert client.patch(path, json={"a": 2}, headers={**bob, **MERGE}).status_code == 404
        assert client.delete(path, headers=bob).status_code == 404
        assert client.patch(path, json={"a": 2}, headers={**reader, **MERGE}).status_code == 403
        assert client.delete(path, headers=reader).status_code == 403
        assert client.get(path, headers=alice).json() == record
        assert client.patch(path, json={"a": 3}, headers={**admin, **MERGE}).status_code == 200
        assert client.delete(path, headers=alice).status_code == 204


def test_a_list_page_revalidates_with_its_weak_etag(client: TestClient) -> None:
    for n in range(3):
        stored(client, {"n": n})
    first = client.get("/data", params={"user_id": "alice"})
    tag = first.headers["etag"]

    again = client.get("/data", params={"user_id": "alice"})
    unchanged = client.get("/data", params={"user_id": "alice"}, headers={"if-none-match": tag})
    listed = client.get("/data", params={"user_id": "alice"}, headers={"if-none-match": f'W/"other", {tag}'})
    star = client.get("/data", params={"user_id": "alice"}, headers={"if-none-match": "*"})
    other_page = client.get(
        "/data", params={"user_id": "alice", "page_size": "2"}, headers={"if-none-match": tag}
    )
    stored(client, {"n": 3})
    changed = client.get("/data", params={"user_id": "alice"}, headers={"if-none-match": tag})

    assert tag.startswith('W/"') and again.headers["etag"] == tag
    assert (unchanged.status_code, unchanged.content, unchanged.headers["etag"]) == (304, b"", tag)
    assert listed.status_code == 304 and star.status_code == 304
    assert other_page.status_code == 200 and other_page.headers["etag"] != tag
    assert changed.status_code == 200 and changed.headers["etag"] != tag and changed.json()["total"] == 4


def test_a_list_page_has_one_etag_whether_gzipped_or_not(client: TestClient) -> None:
    for n in range(20):
        stored(client, {"text": "x" * 100, "n": n})
    plain = client.get("/data", params={"user_id": "alice"}, headers={"accept-encoding": "identity"})
    gzipped = client.get("/data", params={"user_id": "alice"}, headers={"accept-encoding": "gzip"})
    revalidated = client.get(
        "/data",
        params={"user_id": "alice"},
        headers={"accept-encoding": "gzip", "if-none-match": plain.headers["etag"]},
    )

    assert gzipped.headers["content-encoding"] == "gzip" and "content-encoding" not in plain.headers
    assert gzipped.headers["etag"] == plain.headers["etag"]
    assert revalidated.status_code == 304 and revalidated.headers["vary"].lower() == "accept-encoding"


def test_a_malformed_if_none_match_on_a_list_is_400(client: TestClient) -> None:
    stored(client)

    answer = client.get("/data", params={"user_id": "alice"}, headers={"if-none-match": "no-quotes"})

    assert answer.status_code == 400 and "If-None-Match" in answer.json()["detail"]


def test_a_304_for_a_cached_page_asks_the_database_nothing(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored(client)
    client.get("/data", params={"user_id": "alice"})  # read twice: a page is cached from its second read
    tag = client.get("/data", params={"user_id": "alice"}).headers["etag"]
    reads = list_queries(monkeypatch)
    redis = None if settings.redis_url == "" else Redis.from_url(settings.redis_url)
    for _ in range(2):  # the read lease, granted to a user whose reads go on
        client.get("/data", params={"user_id": "alice"}, headers={"if-none-match": tag})

    def scripts() -> int:  # the gate (limit + page lookup) is one Lua call a request without a lease
        return (
            0 if redis is None else int(redis.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))
        )

    before = scripts()
    answers = [
        client.get("/data", params={"user_id": "alice"}, headers={"if-none-match": tag}) for _ in range(20)
    ]

    assert [a.status_code for a in answers] == [304] * 20
    assert reads == []
    assert scripts() - before <= 1, "the revalidations asked Redis"
