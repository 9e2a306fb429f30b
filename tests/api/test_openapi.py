"""The OpenAPI document is generated from the routes and checked against what they answer."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from starlette.testclient import TestClient


@pytest.fixture
def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    validate(document)


# The API as the README promises it to clients: written out here, not read from the code.
PROMISED = {
    ("post", "/data"),
    ("post", "/data/bulk"),
    ("get", "/data"),
    ("get", "/data/{id}"),
    ("get", "/data/export"),
    ("patch", "/data/{id}"),
    ("delete", "/data/{id}"),
    ("post", "/procedures/touch_users"),
    ("post", "/auth/revoke"),
    ("get", "/health"),
    ("get", "/ready"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
}


def test_the_document_names_exactly_the_operations_the_readme_promises(document: dict[str, Any]) -> None:
    documented = {(method, path) for path, ops in document["paths"].items() for method in ops}

    assert documented == PROMISED


@pytest.mark.parametrize(("method", "path"), sorted(PROMISED))
def test_every_promised_operation_is_served(
    client: TestClient, document: dict[str, Any], method: str, path: str
) -> None:
    response = client.request(method.upper(), path.replace("{id}", "no-such-record"), json={})

    assert response.status_code < 500, response.text  # an empty body is the client's error at most
    assert str(response.status_code) in document["paths"][path][method]["responses"]
    assert not (response.status_code == 404 and "no route" in response.json()["detail"])


def test_an_operation_nobody_promised_is_not_served(client: TestClient) -> None:
    for method, path in [("DELETE", "/data"), ("GET", "/data/bulk/x"), ("PUT", "/health")]:
        response = client.request(method, path)
        assert response.status_code in (404, 405)


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    resource = Resource.from_contents({**document, "$schema": "https://json-schema.org/draft/2020-12/schema"})
    registry = Registry().with_resource("urn:openapi", resource)
    return Draft202012Validator({"$ref": "urn:openapi" + schema["$ref"]}, registry=registry)


def _check(document: dict[str, Any], method: str, template: str, response: Any) -> None:
    operation = document["paths"][template][method]
    declared = operation["responses"].get(str(response.status_code))
    assert declared is not None, f"{method} {template} answered undocumented {response.status_code}"
    if "content" not in declared:
        return
    media_type = response.headers["content-type"].split(";")[0]
    assert media_type in declared["content"]
    _validator(document, declared["content"][media_type]["schema"]).validate(response.json())


def test_answers_match_the_document(make_client, document: dict[str, Any]) -> None:
    client = make_client(rate_limit_per_minute=8)
    created = client.post("/data", json={"user_id": "alice", "payload": {"type": "t"}})
    record_id = created.json()["id"]
    calls = [
        ("post", "/data", created),
        ("post", "/data", client.post("/data", json={"user_id": 1})),
        ("post", "/data", client.post("/data", content=b"{", headers={"content-type": "application/json"})),
        ("post", "/data", client.post("/data", content=b"{}", headers={"content-type": "text/plain"})),
        (
            "post",
            "/data/bulk",
            client.post("/data/bulk", json={"items": [{"user_id": "alice", "payload": {}}]}),
        ),
        (
            "post",
            "/data/bulk",
            client.post("/data/bulk", json={"items": [{"user_id": "alice", "payload": {}}, {}]}),
        ),
        ("get", "/data", client.get("/data", params={"user_id": "alice", "page_size": 1})),
        ("get", "/data", client.get("/data", params={"user_id": "alice", "page": "x"})),
        ("get", "/data/{id}", client.get(f"/data/{record_id}")),
        ("get", "/data/{id}", client.get("/data/missing")),
        ("get", "/health", client.get("/health")),
        ("get", "/ready", client.get("/ready")),
    ]
    for _ in range(5):
        calls.append(("get", "/data", client.get("/data", params={"user_id": "alice"})))
    statuses = {response.status_code for *_, response in calls}
    assert {200, 201, 207, 400, 404, 415, 422, 429} <= statuses

    for method, template, response in calls:
        _check(document, method, template, response)


def test_query_parameters_are_documented_from_the_struct(document: dict[str, Any]) -> None:
    parameters = {p["name"]: p for p in document["paths"]["/data"]["get"]["parameters"] if p["in"] == "query"}

    assert set(parameters) == {
        "user_id",
        "page",
        "page_size",
        "cursor",
        "from",
        "to",
        "type",
        "status",
        "count",
        "q",
        "sort",
        "fields",
        "payload",
    }
    assert parameters["user_id"]["required"] is True
    assert all(not p["required"] for name, p in parameters.items() if name != "user_id")


def test_every_way_to_find_records_is_documented(document: dict[str, Any]) -> None:
    """A client generator offers what the document names: payload.<field> filters as a form-style
    object of parameters, q, sort and fields on the list, q and fields on the export, fields on
    a single read."""
    query = {
        (path, p["name"]): p
        for path in ("/data", "/data/export", "/data/{id}")
        for p in document["paths"][path]["get"]["parameters"]
        if p["in"] == "query"
    }
    filters = query["/data", "payload"]
    (pattern,) = filters["schema"]["patternProperties"]

    assert filters["style"] == "form" and filters["explode"] is True
    assert re.match(pattern, "payload.total__gt") and not re.match(pattern, "payload.9x")
    assert query["/data/export", "payload"] == filters
    assert {"q", "fields"} <= {name for path, name in query if path == "/data/export"}
    assert {name for path, name in query if path == "/data/{id}"} == {"fields"}
    assert "relevance" in json.dumps(query["/data", "sort"])


def test_path_templates_name_their_parameters(document: dict[str, Any]) -> None:
    for path, operations in document["paths"].items():
        for operation in operations.values():
            names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert names == set(re.findall(r"{(\w+)}", path))


def test_the_document_is_compressed_cacheable_and_revalidated(client: TestClient) -> None:
    plain = client.get("/openapi.json", headers={"Accept-Encoding": "identity"})
    packed = client.get("/openapi.json", headers={"Accept-Encoding": "gzip"})
    again = client.get("/openapi.json", headers={"If-None-Match": plain.headers["etag"]})

    assert plain.status_code == packed.status_code == 200
    assert packed.headers["content-encoding"] == "gzip" and "content-encoding" not in plain.headers
    assert packed.json() == plain.json()  # the client decompressed the same document
    assert int(packed.headers["content-length"]) < len(plain.content) / 3
    assert plain.headers["cache-control"] == "public, max-age=300" and plain.headers["etag"].startswith('"')
    assert (
        again.status_code == 304 and again.content == b"" and again.headers["etag"] == plain.headers["etag"]
    )
    records = client.get("/data", params={"user_id": "alice"})
    assert records.headers["cache-control"] == "no-store"  # records stay private to their owner


def test_metrics_are_compressed_when_the_scraper_asks(client: TestClient) -> None:
    client.get("/data", params={"user_id": "alice"})
    plain = client.get("/metrics", headers={"Accept-Encoding": "identity"})
    packed = client.get("/metrics", headers={"Accept-Encoding": "gzip"})

    assert packed.headers["content-encoding"] == "gzip" and "content-encoding" not in plain.headers
    assert "requests_total" in packed.text and int(packed.headers["content-length"]) < len(plain.content) / 2


def test_the_docs_pages_files_are_compressed_and_cacheable(client: TestClient) -> None:
    script = client.get("/docs/swagger-ui-bundle.js", headers={"Accept-Encoding": "gzip"})
    icon = client.get("/docs/favicon-32x32.png", headers={"Accept-Encoding": "gzip"})

    assert script.status_code == icon.status_code == 200
    assert (
        script.headers["content-encoding"] == "gzip"
        and script.headers["cache-control"] == "public, max-age=300"
    )
    assert "content-encoding" not in icon.headers  # a PNG is compressed already
    assert (
        client.get("/docs/swagger-ui.css", headers={"If-None-Match": script.headers["etag"]}).status_code
        == 200
    )
