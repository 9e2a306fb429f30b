"""Every bad input gets a clear problem answer, never a 500, and stores nothing."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from app.main import create_app
from app.settings import Settings

JSON = {"content-type": "application/json"}


def assert_problem(response, status: int, path: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert problem["title"] and problem["detail"] and problem["type"].startswith("urn:")
    assert problem["request_id"] == response.headers["x-request-id"]
    if path is not None:
        assert path in [e["path"] for e in problem["errors"]], problem
    return problem


def assert_nothing_stored(client: TestClient) -> None:
    assert client.get("/data", params={"user_id": "alice"}).json()["total"] == 0


@pytest.mark.parametrize("body", [b"{", b'{"user_id": "alice", "payload": {}', b"\xff\xfe", b"", b"nul"])
def test_malformed_json_is_400(client: TestClient, body: bytes) -> None:
    assert_problem(client.post("/data", content=body, headers=JSON), 400)
    assert_nothing_stored(client)


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"user_id": 42, "payload": {}}, "$.user_id"),
        ({"user_id": "alice", "payload": [1, 2]}, "$.payload"),
        ({"user_id": "alice"}, "$.payload"),
        ({"payload": {}}, "$.user_id"),
        ({"user_id": "alice", "payload": {}, "owner": "bob"}, "$.owner"),
        ({"user_id": "", "payload": {}}, "$.user_id"),
        ({"user_id": "x" * 101, "payload": {}}, "$.user_id"),
        ({"user_id": "has space", "payload": {}}, "$.user_id"),
        ({"user_id": "alice", "payload": {}, "id": "mine", "created_at": "2000-01-01T00:00:00Z"}, "$.id"),
        (["not", "an", "object"], "$"),
    ],
)
def test_wrong_types_missing_or_unknown_fields_are_422_naming_the_path(
    client: TestClient, body: object, path: str
) -> None:
    assert_problem(client.post("/data", json=body), 422, path)
    assert_nothing_stored(client)


@pytest.mark.parametrize("payload", [{"s": "a\u0000b"}, {"k\u0000": 1}, {"l": [["\u0000"]]}])
def test_nul_characters_in_the_payload_are_422(client: TestClient, payload: dict) -> None:
    """No dialect may hold what another refuses: PostgreSQL's jsonb cannot store NUL."""
    assert_problem(client.post("/data", json={"user_id": "alice", "payload": payload}), 422, "$.payload")
    bulk = client.post(
        "/data/bulk",
        json={"items": [{"user_id": "alice", "payload": {}}, {"user_id": "alice", "payload": payload}]},
    )
    assert bulk.status_code == 207
    assert bulk.json()["rejected"][0]["path"] == "$.items[1].payload"


def test_body_over_the_limit_with_content_length_is_413(client: TestClient) -> None:
    body = b'{"user_id": "alice", "payload": {"pad": "' + b"x" * (1024 * 1024) + b'"}}'

    assert_problem(client.post("/data", content=body, headers=JSON), 413)
    assert_nothing_stored(client)


def test_a_lying_content_length_is_400(client: TestClient) -> None:
    headers = {**JSON, "content-length": "ten"}
    assert_problem(client.post("/data", content=b"{}", headers=headers), 400)


@pytest.mark.anyio
async def test_streamed_body_over_the_limit_is_413_without_reading_past_it(settings: Settings) -> None:
    """No Content-Length (chunked): the app stops reading at the first chunk past the limit."""
    app = create_app(settings)
    chunk = b" " * 65536
    sent = 0
    answer: list[dict] = []

    async def receive() -> dict:
        nonlocal sent
        sent += 1
        return {"type": "http.request", "body": chunk, "more_body": sent < 1000}

    async def send(message: dict) -> None:
        answer.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/data",
        "raw_path": b"/data",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8000),
    }
    async with app.router.lifespan_context(app):
        await app(scope, receive, send)

    assert answer[0]["status"] == 413
    assert sent * len(chunk) <= settings.max_body_bytes + len(chunk)


def test_streamed_body_over_the_limit_through_the_client_is_413(client: TestClient) -> None:
    def chunks():
        for _ in range(20):
            yield b"x" * 65536

    assert_problem(client.post("/data", content=chunks(), headers=JSON), 413)


def test_json_nested_deeper_than_the_limit_is_400(client: TestClient) -> None:
    deep = b'{"user_id": "alice", "payload": {"a": ' + b"[" * 70 + b"]" * 70 + b"}}"

    problem = assert_problem(client.post("/data", content=deep, headers=JSON), 400)
    assert "nest" in problem["detail"]
    assert_nothing_stored(client)


def test_json_nested_far_past_the_parsers_recursion_limit_is_400(client: TestClient) -> None:
    deep = b'{"user_id": "alice", "payload": ' + b'{"a":' * 100_000 + b"1" + b"}" * 100_001

    assert_problem(client.post("/data", content=deep, headers=JSON), 400)


def test_json_nested_to_the_limit_is_accepted(client: TestClient) -> None:
    depth = 64 - 2  # the body object and the payload object count too
    payload = b'{"a": ' + b"[" * depth + b"]" * depth + b"}"
    body = b'{"user_id": "alice", "payload": ' + payload + b"}"

    assert client.post("/data", content=body, headers=JSON).status_code == 201


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_wrong_content_type_is_415(client: TestClient, content_type: str) -> None:
    response = client.post(
        "/data", content=b'{"user_id": "alice", "payload": {}}', headers={"content-type": content_type}
    )
    assert_problem(response, 415)
    assert_nothing_stored(client)


def test_json_content_type_with_charset_is_accepted(client: TestClient) -> None:
    response = client.post(
        "/data",
        content=b'{"user_id": "alice", "payload": {}}',
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({}, "user_id"),
        ({"user_id": "alice", "page": "two"}, "page"),
        ({"user_id": "alice", "page": "0"}, "page"),
        ({"user_id": "alice", "page_size": "0"}, "page_size"),
        ({"user_id": "alice", "page_size": "101"}, "page_size"),
        ({"user_id": "alice", "from": "2026-01-01T00:00:00"}, "from"),
        ({"user_id": "alice", "to": "yesterday"}, "to"),
        ({"user_id": "alice", "from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from"),
        ({"user_id": "alice", "cursor": "not-a-cursor"}, "cursor"),
        ({"user_id": "alice", "cursor": "WyJ4IiwieSJd", "page": "2"}, "cursor"),
        ({"user_id": "alice", "sort": "asc"}, "sort"),
        ({"user_id": "alice", "type": ""}, "type"),
        ({"user_id": "a b"}, "user_id"),
    ],
)
def test_bad_query_parameters_are_422_naming_them(client: TestClient, params: dict, path: str) -> None:
    assert_problem(client.get("/data", params=params), 422, path)


def test_a_repeated_query_parameter_is_422(client: TestClient) -> None:
    assert_problem(client.get("/data?user_id=alice&user_id=bob"), 422, "user_id")


def test_unknown_route_and_method_are_problems(client: TestClient) -> None:
    assert_problem(client.get("/nowhere"), 404)
    response = client.delete("/data")
    assert_problem(response, 405)
    assert "GET" in response.headers["allow"]


@pytest.mark.parametrize(
    "body",
    [
        {"items": []},
        {"items": "many"},
        {"records": [{"user_id": "alice", "payload": {}}]},
        {"items": [{"user_id": "alice", "payload": {}}], "all_or_nothing": "yes"},
    ],
)
def test_bad_bulk_envelopes_are_422(client: TestClient, body: object) -> None:
    assert_problem(client.post("/data/bulk", json=body), 422)
    assert_nothing_stored(client)


def test_bulk_with_no_valid_item_is_422_listing_each(client: TestClient) -> None:
    response = client.post("/data/bulk", json={"items": [{"user_id": 1, "payload": {}}, {}]})

    problem = assert_problem(response, 422)
    assert [e["path"] for e in problem["errors"]] == ["$.items[0].user_id", "$.items[1].user_id"]


def test_bulk_body_limit_is_its_own(make_client) -> None:
    client = make_client(max_bulk_body_bytes=1000)
    items = [{"user_id": "alice", "payload": {"pad": "x" * 100}}] * 10

    assert_problem(client.post("/data/bulk", json={"items": items}), 413)


def test_client_request_id_is_echoed_and_a_bad_one_replaced(client: TestClient) -> None:
    echoed = client.get("/data/missing", headers={"x-request-id": "trace-123"})
    replaced = client.get("/data/missing", headers={"x-request-id": "bad id;drop"})

    assert echoed.headers["x-request-id"] == "trace-123" == echoed.json()["request_id"]
    assert replaced.headers["x-request-id"] != "bad id;drop"


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"s": "x" * 11}, "$.payload.s"),
        ({"deep": {"list": ["ok", "y" * 11]}}, "$.payload.deep.list[1]"),
        ({"a": [1, 2, 3, 4]}, "$.payload.a"),
        ({"k" * 11: 1}, "$.payload"),
    ],
)
def test_strings_and_arrays_over_their_limits_are_422(make_client, payload: dict, path: str) -> None:
    client = make_client(max_string_length=10, max_array_length=3)

    assert_problem(client.post("/data", json={"user_id": "alice", "payload": payload}), 422, path)
    assert (
        client.post(
            "/data", json={"user_id": "alice", "payload": {"s": "x" * 10, "a": [1, 2, 3]}}
        ).status_code
        == 201
    )


def test_oversized_headers_are_431(make_client) -> None:
    client = make_client(max_header_bytes=2048)

    assert_problem(client.get("/health", headers={"X-Padding": "p" * 4096}), 431)
    assert client.get("/health", headers={"X-Padding": "p" * 512}).status_code == 200
