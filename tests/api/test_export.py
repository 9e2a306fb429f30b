"""GET /data/export as a client meets it: formats by Accept, the list's filters, the checks."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.api.tokens import auth, token, with_tokens


def fill(client: TestClient, user: str = "alice", count: int = 5) -> list[dict]:
    answer = client.post(
        "/data/bulk",
        json=[
            {
                "user_id": user,
                "payload": {"seq": i, "type": "refund" if i % 2 else "order", "text": 'a,b\n"c"'},
            }
            for i in range(count)
        ],
    )
    assert answer.status_code == 201
    return client.get("/data", params={"user_id": user, "page_size": 100}).json()["items"]


def test_ndjson_by_default_one_record_a_line_as_the_list_answers_them(client: TestClient) -> None:
    listed = fill(client, count=7)
    fill(client, user="bob", count=2)

    answer = client.get("/data/export", params={"user_id": "alice"})

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/x-ndjson"
    assert answer.text.endswith("\n")
    assert [json.loads(line) for line in answer.text.splitlines()] == listed


def test_csv_on_accept_text_csv(client: TestClient) -> None:
    listed = fill(client, count=3)

    answer = client.get("/data/export", params={"user_id": "alice"}, headers={"accept": "text/csv"})

    assert answer.status_code == 200 and answer.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0] == ["id", "user_id", "created_at", "updated_at", "version", "payload"]
    assert [(r[0], r[1], r[2], r[3], int(r[4]), json.loads(r[5])) for r in rows[1:]] == [
        (i["id"], i["user_id"], i["created_at"], i["updated_at"], i["version"], i["payload"]) for i in listed
    ]


def test_server_sent_events_on_accept_text_event_stream(client: TestClient) -> None:
    listed = fill(client, count=4)

    answer = client.get("/data/export", params={"user_id": "alice"}, headers={"accept": "text/event-stream"})

    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/event-stream")
    events = [block for block in answer.text.split("\n\n") if block]
    assert [json.loads(e.removeprefix("data: ")) for e in events[:-1]] == listed
    assert events[-1] == 'event: end\ndata: {"count":4}'


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        ("*/*", "application/x-ndjson"),
        ("text/csv;q=0.5, text/event-stream", "text/event-stream"),
        ("application/json, text/csv;q=0.1", "text/csv"),
        ("text/*", "text/csv"),
        ("application/x-ndjson;q=0, text/csv;q=0.2", "text/csv"),
    ],
)
def test_accept_picks_the_format(client: TestClient, accept: str, media: str) -> None:
    fill(client, count=1)

    answer = client.get("/data/export", params={"user_id": "alice"}, headers={"accept": accept})

    assert answer.status_code == 200 and answer.headers["content-type"].startswith(media)


def test_an_accept_the_export_cannot_meet_is_406(client: TestClient) -> None:
    answer = client.get("/data/export", params={"user_id": "alice"}, headers={"accept": "application/xml"})

    assert answer.status_code == 406
    assert answer.json()["type"].endswith("not-acceptable")


def test_the_lists_filters_narrow_it(client: TestClient) -> None:
    listed = fill(client, count=6)

    refunds = client.get("/data/export", params={"user_id": "alice", "type": "refund"}).text.splitlines()
    later = client.get("/data/export", params={"user_id": "alice", "from": "2999-01-01T00:00:00Z"}).text

    assert [json.loads(line) for line in refunds] == [i for i in listed if i["payload"]["type"] == "refund"]
    assert len(refunds) == 3
    assert later == ""


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"user_id": "a*b"},
        {"user_id": "alice", "page": "2"},
        {"user_id": "alice", "from": "yesterday"},
        {"user_id": "alice", "from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
    ],
)
def test_bad_queries_are_422(client: TestClient, params: dict[str, str]) -> None:
    answer = client.get("/data/export", params=params)

    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"


def test_an_export_costs_one_token_whatever_its_size(make_client: Callable[..., TestClient]) -> None:
    client = make_client(rate_limit_per_minute=3)
    fill(client, count=50)  # the bulk write and the list read: 2

    first = client.get("/data/export", params={"user_id": "alice"})
    second = client.get("/data/export", params={"user_id": "alice"})

    assert first.status_code == 200 and len(first.text.splitlines()) == 50
    assert second.status_code == 429 and "retry-after" in second.headers


def test_ownership_as_for_lists(settings: Settings, tmp_path: Path) -> None:
    with TestClient(create_app(with_tokens(settings, tmp_path))) as client:
        alice = auth(token("alice"))
        client.post("/data", json={"user_id": "alice", "payload": {}}, headers=alice)

        assert client.get("/data/export", params={"user_id": "alice"}).status_code == 401
        assert (
            client.get("/data/export", params={"user_id": "alice"}, headers=auth(token("bob"))).status_code
            == 403
        )
        assert (
            len(client.get("/data/export", params={"user_id": "alice"}, headers=alice).text.splitlines()) == 1
        )


def test_a_filter_the_database_cannot_hold_is_refused_as_for_lists(
    client: TestClient, settings: Settings
) -> None:
    params = {"user_id": "alice", "type": "a\x00b"}  # PostgreSQL's text holds no NUL; SQLite's does

    listed = client.get("/data", params=params)
    exported = client.get("/data/export", params=params)

    refused = settings.database_dialect == "postgres"
    assert listed.status_code == exported.status_code == (422 if refused else 200)
    if refused:
        assert exported.headers["content-type"] == "application/problem+json"
        assert exported.json()["type"].endswith(":invalid-data")
    else:
        assert exported.text == "" and listed.json()["items"] == []
