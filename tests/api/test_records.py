"""The /data resource through the whole app: what a client sends and gets back."""

from __future__ import annotations

from starlette.testclient import TestClient


def create(client: TestClient, user_id: str = "alice", **payload: object) -> dict:
    response = client.post("/data", json={"user_id": user_id, "payload": payload or {"n": 1}})
    assert response.status_code == 201, response.text
    return response.json()


def test_create_answers_the_stored_record_and_its_location(client: TestClient) -> None:
    response = client.post("/data", json={"user_id": "alice", "payload": {"type": "order", "total": 9.5}})

    assert response.status_code == 201
    record = response.json()
    assert set(record) == {"id", "user_id", "payload", "created_at", "updated_at"}
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
