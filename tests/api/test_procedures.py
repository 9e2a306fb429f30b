"""POST /procedures/<name>: declared procedures only, checked as writes are."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.api.tokens import auth, token, with_tokens


def create(client: TestClient, user_id: str, headers: dict[str, str] | None = None) -> dict:
    response = client.post("/data", json={"user_id": user_id, "payload": {"n": 1}}, headers=headers or {})
    assert response.status_code == 201, response.text
    return response.json()


def test_touch_users_answers_what_it_touched_and_the_records_show_it(client: TestClient) -> None:
    first, second = create(client, "alice"), create(client, "bob")
    page_before = client.get("/data", params={"user_id": "alice"}).json()  # cached now

    response = client.post("/procedures/touch_users", json={"user_ids": ["alice", "bob", "alice"]})

    assert response.status_code == 200, response.text
    assert response.json() == {"procedure": "touch_users", "touched": 2}
    assert client.get(f"/data/{first['id']}").json()["version"] == 2
    assert client.get(f"/data/{second['id']}").headers["etag"] == '"2"'
    page_after = client.get("/data", params={"user_id": "alice"}).json()  # not the cached copy
    assert page_before["items"][0]["version"] == 1 and page_after["items"][0]["version"] == 2


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/procedures/drop_everything", {"user_ids": ["alice"]}, 404),
        ("/procedures/touch_users", {"user_ids": []}, 422),
        ("/procedures/touch_users", {"user_ids": ["alice"] * 101}, 422),
        ("/procedures/touch_users", {"user_ids": ["a b"]}, 422),
        ("/procedures/touch_users", {"user_ids": "alice"}, 422),
        ("/procedures/touch_users", {"user_ids": ["alice"], "extra": 1}, 422),
        ("/procedures/touch_users", None, 400),
    ],
)
def test_an_unknown_procedure_or_bad_arguments_change_nothing(
    client: TestClient, path: str, body: object, status: int
) -> None:
    record = create(client, "alice")

    if body is None:
        response = client.post(path, content=b"{", headers={"Content-Type": "application/json"})
    else:
        response = client.post(path, json=body)

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert client.get(f"/data/{record['id']}").json()["version"] == 1


def test_the_document_names_each_declared_procedure(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    assert [p for p in paths if p.startswith("/procedures/")] == ["/procedures/touch_users"]
    operation = paths["/procedures/touch_users"]["post"]
    assert "FORALL" in operation["summary"] and "200" in operation["responses"]


@pytest.fixture
def secured(settings: Settings, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(with_tokens(settings, tmp_path))) as test_client:
        yield test_client


def test_a_writer_touches_its_own_records_only_and_an_admin_anyones(secured: TestClient) -> None:
    alice, admin = auth(token("alice")), auth(token("root", ("admin",)))
    mine = create(secured, "alice", alice)
    theirs = create(secured, "bob", admin)

    others = secured.post("/procedures/touch_users", json={"user_ids": ["alice", "bob"]}, headers=alice)
    reader = secured.post(
        "/procedures/touch_users", json={"user_ids": ["alice"]}, headers=auth(token("alice", ("reader",)))
    )
    own = secured.post("/procedures/touch_users", json={"user_ids": ["alice"]}, headers=alice)
    anyone = secured.post("/procedures/touch_users", json={"user_ids": ["bob"]}, headers=admin)

    assert (others.status_code, reader.status_code) == (403, 403)
    assert own.json()["touched"] == 1 and anyone.json()["touched"] == 1
    assert secured.get(f"/data/{mine['id']}", headers=alice).json()["version"] == 2
    assert secured.get(f"/data/{theirs['id']}", headers=admin).json()["version"] == 2
