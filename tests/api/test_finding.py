"""GET /data's filters on any payload field, search, sort and fields, through the whole app."""

from __future__ import annotations

import csv
import io
import json

import pytest
from starlette.testclient import TestClient


def create(client: TestClient, user_id: str = "alice", **payload: object) -> dict:
    response = client.post("/data", json={"user_id": user_id, "payload": payload})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def orders(client: TestClient) -> list[dict]:
    made = [
        create(client, name="a", total=12.5, paid=True, note="blue widget"),
        create(client, name="b", total=40, paid=False, note="red widget"),
        create(client, name="c", total=7, paid=True, note="blue crate"),
    ]
    create(client, "bob", name="bob's", total=12.5, paid=True, note="blue widget")
    return made


def listed(client: TestClient, **params: object) -> dict:
    response = client.get("/data", params={"user_id": "alice", **params})
    assert response.status_code == 200, response.text
    return response.json()


def names(page: dict) -> list[str]:
    return [item["payload"]["name"] for item in page["items"]]


def test_payload_filters_narrow_the_page_and_its_total(client: TestClient, orders: list[dict]) -> None:
    paid = listed(client, **{"payload.paid": "true"})
    cheap = listed(client, **{"payload.paid": "true", "payload.total__lt": "10"})
    chosen = listed(client, **{"payload.name__in": "a,b,zz"})

    assert (names(paid), paid["total"]) == (["c", "a"], 2)
    assert (names(cheap), cheap["total"]) == (["c"], 1)
    assert names(chosen) == ["b", "a"]


def test_a_search_finds_records_holding_every_word(client: TestClient, orders: list[dict]) -> None:
    assert names(listed(client, q="blue")) == ["c", "a"]
    assert names(listed(client, q="widget blue")) == ["a"]
    assert names(listed(client, q='"widget blue"')) == []  # a phrase keeps its order
    assert names(listed(client, q="blue", sort="relevance")) in (["c", "a"], ["a", "c"])


def test_sort_orders_a_page_by_a_payload_field_or_by_age(client: TestClient, orders: list[dict]) -> None:
    assert names(listed(client, sort="payload.total")) == ["c", "a", "b"]
    assert names(listed(client, sort="-payload.total")) == ["b", "a", "c"]
    assert names(listed(client, sort="created_at")) == ["a", "b", "c"]
    assert names(listed(client, sort="-created_at")) == ["c", "b", "a"]


def test_fields_cut_lists_single_reads_and_exports(client: TestClient, orders: list[dict]) -> None:
    page = listed(client, fields="id,payload.total,payload.missing")
    one = client.get(f"/data/{orders[0]['id']}", params={"fields": "version,created_at"})
    whole = client.get(f"/data/{orders[0]['id']}")
    exported = client.get(
        "/data/export", params={"user_id": "alice", "fields": "id,payload.name", "q": "blue"}
    )
    table = client.get(
        "/data/export",
        params={"user_id": "alice", "fields": "id,payload.total", "payload.paid": "true"},
        headers={"Accept": "text/csv"},
    )

    assert page["items"][0] == {"id": orders[2]["id"], "payload": {"total": 7}}
    assert one.json() == {"created_at": orders[0]["created_at"], "version": 1}
    assert one.headers["etag"] == whole.headers["etag"]  # the record's version, whatever is shown
    assert [json.loads(line) for line in exported.text.splitlines()] == [
        {"id": orders[2]["id"], "payload": {"name": "c"}},
        {"id": orders[0]["id"], "payload": {"name": "a"}},
    ]
    assert list(csv.reader(io.StringIO(table.text))) == [
        ["id", "payload.total"],
        [orders[2]["id"], "7"],
        [orders[0]["id"], "12.5"],
    ]


def test_a_found_page_is_cached_apart_from_the_plain_one(client: TestClient, orders: list[dict]) -> None:
    plain = listed(client)
    filtered = listed(client, **{"payload.paid": "false"})
    again = listed(client)

    assert names(plain) == names(again) == ["c", "b", "a"] and names(filtered) == ["b"]
    create(client, name="d", paid=False)
    assert names(listed(client, **{"payload.paid": "false"})) == ["d", "b"]  # a write invalidates it


def test_cursor_pages_walk_a_filtered_list(client: TestClient, orders: list[dict]) -> None:
    first = listed(client, cursor="", page_size=1, **{"payload.paid": "true"})
    second = listed(client, cursor=first["next_cursor"], page_size=1, **{"payload.paid": "true"})

    assert names(first) + names(second) == ["c", "a"] and second["has_more"] is False


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"payload.9x": "1"}, "payload.9x"),
        ({"payload.": "1"}, "payload."),
        ({"payload.a-b": "1"}, "payload.a-b"),
        ({"payload.total__gt": "lots"}, "payload.total__gt"),
        ({"payload.total__lt": "true"}, "payload.total__lt"),
        ({"payload.total__exists": "yes"}, "payload.total__exists"),
        ({"payload.total__in": ",".join(["1"] * 101)}, "payload.total__in"),
        ({f"payload.f{i}": "1" for i in range(17)}, "payload"),
        ({"q": "   "}, "q"),
        ({"q": '""'}, "q"),
        ({"q": "x" * 501}, "q"),
        ({"q": " ".join(["w"] * 17)}, "q"),
        ({"sort": "total"}, "sort"),
        ({"sort": "payload.a b"}, "sort"),
        ({"sort": "relevance"}, "sort"),
        ({"sort": "payload.total", "cursor": ""}, "sort"),
        ({"fields": "id,secret"}, "fields"),
        ({"fields": "payload.9"}, "fields"),
    ],
)
def test_a_bad_parameter_is_422_naming_it(client: TestClient, params: dict, parameter: str) -> None:
    response = client.get("/data", params={"user_id": "alice", **params})

    assert response.status_code == 422, response.text
    assert parameter in [error["path"] for error in response.json()["errors"]]


def test_a_bad_parameter_of_an_export_or_a_single_read_is_422(client: TestClient, orders: list[dict]) -> None:
    export = client.get("/data/export", params={"user_id": "alice", "payload.total__gt": "x"})
    read = client.get(f"/data/{orders[0]['id']}", params={"fields": "nope"})
    unknown = client.get(f"/data/{orders[0]['id']}", params={"sort": "id"})

    assert [r.status_code for r in (export, read, unknown)] == [422, 422, 422]
    assert export.json()["errors"][0]["path"] == "payload.total__gt"
    assert read.json()["errors"][0]["path"] == "fields"


def test_odd_but_valid_values_are_compared_not_refused(client: TestClient, orders: list[dict]) -> None:
    create(client, name="q", label='it\'s "quoted"; DROP TABLE data_records; --', n="12.5")

    assert names(listed(client, **{"payload.label": 'it\'s "quoted"; DROP TABLE data_records; --'})) == ["q"]
    assert names(listed(client, **{"payload.n": '"12.5"'})) == ["q"]
    assert names(listed(client, q="DROP TABLE")) == ["q"]
    assert names(listed(client, q="'); --")) == []  # no words in it: punctuation only
