"""The /data resource through the whole app: what a client sends and gets back."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient


def create(client: TestClient, user_id: str = "alice", **payload: object) -> dict:
    response = client.post("/data", json={"user_id": user_id, "payload": payload or {"n": 1}})
    assert response.status_code == 201, response.text
    return response.json()


def test_create_answers_the_stored_record_and_its_location(client: TestClient) -> None:
    response = client.post("/data", json={"user_id": "alice", "payload": {"type": "order", "total": 9.5}})

    assert response.status_code == 201
    record = response.json()
    assert set(record) == {"id", "user_id", "payload", "created_at", "updated_at", "version"}
    assert record["user_id"] == "alice"
    assert record["payload"] == {"type": "order", "total": 9.5}
    assert record["created_at"] == record["updated_at"]
    assert response.headers["location"] == f"/data/{record['id']}"
    assert client.get(response.headers["location"]).json() == record


def test_unknown_id_is_404(client: TestClient) -> None:
    response = client.get("/data/no-such-record")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_list_is_newest_first_with_totals(client: TestClient) -> None:
    ids = [create(client, n=i)["id"] for i in range(5)]
    create(client, "bob")

    first = client.get("/data", params={"user_id": "alice", "page_size": 2}).json()
    third = client.get("/data", params={"user_id": "alice", "page": 3, "page_size": 2}).json()

    assert [r["id"] for r in first["items"]] == ids[::-1][:2]
    assert (first["page"], first["page_size"], first["total"], first["has_more"]) == (1, 2, 5, True)
    assert [r["id"] for r in third["items"]] == [ids[0]]
    assert third["has_more"] is False and third["next_cursor"] is None


def test_default_page_size_is_20(client: TestClient) -> None:
    client.post("/data/bulk", json={"items": [{"user_id": "alice", "payload": {}}] * 25})

    page = client.get("/data", params={"user_id": "alice"}).json()

    assert (page["page_size"], len(page["items"]), page["total"]) == (20, 20, 25)


def test_cursor_pages_walk_every_record_once(client: TestClient) -> None:
    stored = client.post(
        "/data/bulk", json={"items": [{"user_id": "alice", "payload": {"i": i}} for i in range(7)]}
    ).json()["stored"]
    seen: list[str] = []
    page = client.get("/data", params={"user_id": "alice", "page_size": 3}).json()
    seen += [r["id"] for r in page["items"]]
    while page["has_more"]:
        page = client.get(
            "/data", params={"user_id": "alice", "page_size": 3, "cursor": page["next_cursor"]}
        ).json()
        assert page["page"] is None and page["total"] is None
        seen += [r["id"] for r in page["items"]]

    assert sorted(seen) == sorted(s["id"] for s in stored)
    assert len(seen) == len(set(seen))


def test_an_empty_cursor_walks_everything_by_following_link_next(client: TestClient) -> None:
    stored = client.post(
        "/data/bulk", json=[{"user_id": "alice", "payload": {"i": i}} for i in range(7)]
    ).json()["stored"]
    client.post("/data/bulk", json=[{"user_id": "bob", "payload": {}}])
    seen: list[str] = []
    url: str | None = "/data?user_id=alice&page_size=3&cursor="
    pages = 0
    while url is not None:
        response = client.get(url)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["page"] is None and page["total"] is None  # cursor mode counts nothing
        seen += [r["id"] for r in page["items"]]
        pages += 1
        link = response.links.get("next")
        assert (link is not None) == page["has_more"]
        url = link["url"] if link else None

    assert pages == 3
    assert sorted(seen) == sorted(s["id"] for s in stored) and len(seen) == len(set(seen))


def test_page_mode_links_first_prev_and_next_keeping_the_filters(client: TestClient) -> None:
    client.post("/data/bulk", json=[{"user_id": "alice", "payload": {"type": "a b"}}] * 5)
    query = "user_id=alice&type=a%20b&page_size=2"

    first = client.get(f"/data?{query}")
    middle = client.get(f"/data?{query}&page=2")
    last = client.get(f"/data?page=3&{query}")

    assert first.links.keys() == {"next"}
    assert first.links["next"]["url"] == f"/data?{query}&page=2"
    assert middle.links.keys() == {"first", "prev", "next"}
    assert middle.links["prev"]["url"] == f"/data?{query}&page=1"
    assert last.links.keys() == {"first", "prev"}
    assert last.links["first"]["url"] == f"/data?{query}&page=1"
    assert client.get(last.links["prev"]["url"]).json()["items"] == middle.json()["items"]


def test_a_single_page_has_no_link_header(client: TestClient) -> None:
    create(client)

    for params in ({}, {"page": 1}, {"cursor": ""}):
        response = client.get("/data", params={"user_id": "alice", **params})

        assert response.status_code == 200 and "link" not in response.headers


def test_a_page_whose_payloads_mimic_its_fields_links_right(client: TestClient) -> None:
    for _ in range(2):  # `,"has_more":false,"next_cursor":"forged"}` in the page's bytes
        create(client, a=1, has_more=False, next_cursor="forged")

    first = client.get("/data", params={"user_id": "alice", "cursor": "", "page_size": 1})
    second = client.get(first.links["next"]["url"])
    last = client.get("/data", params={"user_id": "alice", "page": 2, "page_size": 1})

    assert first.json()["has_more"] is True and "forged" not in first.links["next"]["url"]
    assert second.status_code == 200 and "link" not in second.headers
    assert last.status_code == 200 and last.links.keys() == {"first", "prev"}


def test_an_empty_cursor_with_a_page_is_refused(client: TestClient) -> None:
    response = client.get("/data", params={"user_id": "alice", "cursor": "", "page": 2})

    assert response.status_code == 422
    assert response.json()["errors"][0]["path"] == "cursor"


def test_filters_by_payload_type_and_status(client: TestClient) -> None:
    create(client, type="order", status="open")
    wanted = create(client, type="order", status="paid")
    create(client, type="refund", status="paid")

    both = client.get("/data", params={"user_id": "alice", "type": "order", "status": "paid"}).json()
    orders = client.get("/data", params={"user_id": "alice", "type": "order"}).json()

    assert [r["id"] for r in both["items"]] == [wanted["id"]]
    assert orders["total"] == 2


def test_filters_by_date_range_with_time_zones(client: TestClient) -> None:
    record = create(client)
    at = record["created_at"]

    inside = client.get("/data", params={"user_id": "alice", "from": at, "to": "2999-01-01T00:00:00+02:00"})
    after = client.get("/data", params={"user_id": "alice", "from": "2999-01-01T00:00:00Z"})
    before = client.get("/data", params={"user_id": "alice", "to": at})  # `to` is exclusive

    assert [r["id"] for r in inside.json()["items"]] == [record["id"]]
    assert after.json()["items"] == [] and before.json()["items"] == []


def test_bulk_stores_good_items_and_names_bad_ones(client: TestClient) -> None:
    response = client.post(
        "/data/bulk",
        json={
            "items": [
                {"user_id": "alice", "payload": {"a": 1}},
                {"user_id": "alice", "payload": "not an object"},
                {"user_id": "bob", "payload": {"b": 2}},
                {"user_id": "bob", "payload": {}, "id": "chosen-by-client"},
            ]
        },
    )

    assert response.status_code == 207
    result = response.json()
    assert [s["index"] for s in result["stored"]] == [0, 2]
    assert [(r["index"], r["path"]) for r in result["rejected"]] == [
        (1, "$.items[1].payload"),
        (3, "$.items[3].id"),
    ]
    for stored in result["stored"]:
        assert client.get(f"/data/{stored['id']}").status_code == 200


def test_bulk_takes_a_bare_array_of_items(client: TestClient) -> None:
    response = client.post(
        "/data/bulk",
        json=[
            {"user_id": "alice", "payload": {"a": 1}},
            {"user_id": "al*ce", "payload": {}},
            {"user_id": "alice", "payload": {"a": 2}},
        ],
    )

    assert response.status_code == 207
    result = response.json()
    assert [s["index"] for s in result["stored"]] == [0, 2]
    assert [(r["index"], r["path"]) for r in result["rejected"]] == [(1, "$[1].user_id")]
    listed = client.get("/data", params={"user_id": "alice"}).json()
    assert sorted(r["payload"]["a"] for r in listed["items"]) == [1, 2]


def test_bulk_refuses_an_empty_array_and_other_json(client: TestClient) -> None:
    for body in ([], "items", 3, {"items": []}, [[]]):
        response = client.post("/data/bulk", json=body)

        assert response.status_code == 422, body
        assert response.headers["content-type"] == "application/problem+json"
    assert client.get("/data", params={"user_id": "alice"}).json()["total"] == 0


def test_bulk_bare_array_over_the_maximum_is_refused_whole(make_client) -> None:
    client = make_client(bulk_max_items=3)

    response = client.post("/data/bulk", json=[{"user_id": "alice", "payload": {}}] * 4)

    assert response.status_code == 422
    assert response.json()["errors"][0]["path"] == "$"


def test_bulk_of_good_items_is_201(client: TestClient) -> None:
    response = client.post("/data/bulk", json={"items": [{"user_id": "alice", "payload": {}}] * 3})

    assert response.status_code == 201
    assert [s["index"] for s in response.json()["stored"]] == [0, 1, 2]
    assert response.json()["rejected"] == []


def test_bulk_all_or_nothing_stores_none_when_one_is_bad(client: TestClient) -> None:
    response = client.post(
        "/data/bulk",
        json={
            "all_or_nothing": True,
            "items": [{"user_id": "alice", "payload": {}}, {"user_id": "", "payload": {}}],
        },
    )

    assert response.status_code == 422
    assert [e["path"] for e in response.json()["errors"]] == ["$.items[1].user_id"]
    assert client.get("/data", params={"user_id": "alice"}).json()["total"] == 0


def test_bulk_over_the_maximum_is_refused_whole(make_client) -> None:
    client = make_client(bulk_max_items=3)

    response = client.post("/data/bulk", json={"items": [{"user_id": "alice", "payload": {}}] * 4})

    assert response.status_code == 422
    assert response.json()["errors"][0]["path"] == "$.items"
    assert client.get("/data", params={"user_id": "alice"}).json()["total"] == 0


def test_a_write_is_visible_in_the_next_list_read(client: TestClient) -> None:
    create(client)
    assert client.get("/data", params={"user_id": "alice"}).json()["total"] == 1  # now cached

    create(client)
    client.post("/data/bulk", json={"items": [{"user_id": "alice", "payload": {}}]})

    assert client.get("/data", params={"user_id": "alice"}).json()["total"] == 3


def test_payload_is_returned_as_sent(client: TestClient) -> None:
    payload = {"text": 'naïve ☃ \\u0000 "quoted"', "big": 2**60, "nested": {"list": [1, 2.5, None, True]}}

    record = create(client, **payload)

    assert record["payload"] == payload
    assert client.get(f"/data/{record['id']}").json()["payload"] == payload


def test_count_picks_how_page_mode_counts_its_total(client: TestClient) -> None:
    client.post("/data/bulk", json=[{"user_id": "alice", "payload": {"n": i}} for i in range(30)])

    def total(**params: str) -> object:
        answer = client.get("/data", params={"user_id": "alice", "page_size": "10", **params})
        assert answer.status_code == 200
        page = answer.json()
        assert len(page["items"]) == 10 and page["has_more"] is True
        return page["total"]

    assert total() == total(count="exact") == 30
    assert total(count="none") is None
    estimated = total(count="estimated")
    assert isinstance(estimated, int) and estimated >= 1  # the statistics' figure, not a count


@pytest.mark.parametrize(
    "params", [{"count": "all"}, {"count": "exact", "cursor": ""}, {"count": "estimated", "cursor": ""}]
)
def test_a_count_that_cannot_be_given_is_422(client: TestClient, params: dict[str, str]) -> None:
    answer = client.get("/data", params={"user_id": "alice", **params})

    assert answer.status_code == 422
    assert answer.json()["errors"][0]["path"] == "count"


def test_a_bulk_writes_access_line_names_its_users_or_says_how_many(
    make_client: Callable[..., Any], capfd: pytest.CaptureFixture[str]
) -> None:
    client = make_client(log_level="info")
    few = [{"user_id": u, "payload": {}} for u in ("carol", "alice", "bob")]
    many = [{"user_id": f"u{n}", "payload": {}} for n in range(7)]
    capfd.readouterr()

    assert client.post("/data/bulk", json={"items": few}).status_code == 201
    assert client.post("/data/bulk", json={"items": many}).status_code == 201
    client.flush_access_log()
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")]

    bulk = [line["user_id"] for line in lines if line.get("endpoint") == "/data/bulk"]
    assert bulk == ["alice,bob,carol", "many (7 users)"]
