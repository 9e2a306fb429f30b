"""Authentication, authorisation and the security headers, as an attacker and a user meet them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.testclient import TestClient

from app.errors import ConfigError
from app.main import create_app
from app.settings import Settings
from tests import backing
from tests.api.tokens import (
    AUDIENCE,
    EC_KEY,
    ISSUER,
    RSA_KEY,
    auth,
    forged_tokens,
    jwk,
    token,
    write_jwks,
)


@pytest.fixture
def jwks_file(tmp_path: Path) -> Path:
    path = tmp_path / "jwks.json"
    write_jwks(path, jwk(RSA_KEY, "rsa-1", "RS256"), jwk(EC_KEY, "ec-1", "ES256"))
    return path


@pytest.fixture
def secured(settings: Settings, jwks_file: Path) -> Settings:
    return replace(
        settings,
        auth_mode="jwt",
        jwt_jwks_file=str(jwks_file),
        jwt_audience=AUDIENCE,
        jwt_issuer=ISSUER,
        jwt_leeway_seconds=30,
        jwks_min_refetch_seconds=0,
        cors_origins="https://app.example",
    )


@pytest.fixture
def client(secured: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(secured)) as test_client:
        yield test_client


@pytest.mark.parametrize("name", list(forged_tokens()))
def test_forged_and_invalid_tokens_are_401(client: TestClient, name: str) -> None:
    forged = forged_tokens()[name]()

    for response in (
        client.get("/data", params={"user_id": "alice"}, headers=auth(forged)),
        client.post("/data", json={"user_id": "alice", "payload": {}}, headers=auth(forged)),
    ):
        assert response.status_code == 401, (name, response.text)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.headers["content-type"] == "application/problem+json"


def test_no_token_or_another_scheme_is_401(client: TestClient) -> None:
    assert client.get("/data", params={"user_id": "alice"}).status_code == 401
    assert client.get("/data/x", headers={"Authorization": "Basic YWxpY2U6cHc="}).status_code == 401
    assert client.get("/health").status_code == 200 and client.get("/openapi.json").status_code == 200


def test_valid_tokens_within_the_leeway_pass(client: TestClient) -> None:
    now = int(time.time())
    for good in (
        token(),
        token(kid="ec-1", key=EC_KEY, alg="ES256"),
        token(exp=now - 10),
        token(nbf=now + 10),
        token(roles="reader writer"),
    ):
        assert client.get("/data", params={"user_id": "alice"}, headers=auth(good)).status_code == 200


def test_a_revoked_token_is_refused_everywhere(client: TestClient) -> None:
    mine = token()
    assert client.get("/data", params={"user_id": "alice"}, headers=auth(mine)).status_code == 200

    assert client.post("/auth/revoke", headers=auth(mine)).status_code == 204

    assert client.get("/data", params={"user_id": "alice"}, headers=auth(mine)).status_code == 401
    assert client.get("/data", params={"user_id": "alice"}, headers=auth(token())).status_code == 200


def test_only_admins_revoke_other_tokens(client: TestClient) -> None:
    victim = token("bob", jti="bob-session")
    body = {"jti": "bob-session", "expires_at": "2999-01-01T00:00:00Z"}

    assert client.post("/auth/revoke", json=body, headers=auth(token("alice"))).status_code == 403
    assert client.get("/data", params={"user_id": "bob"}, headers=auth(victim)).status_code == 200
    assert client.post("/auth/revoke", json=body, headers=auth(token("root", ("admin",)))).status_code == 204
    assert client.get("/data", params={"user_id": "bob"}, headers=auth(victim)).status_code == 401


def test_user_b_gets_none_of_user_a_data(client: TestClient) -> None:
    alice, bob = auth(token("alice")), auth(token("bob"))
    secret = {"card": "4111-1111-1111-1111"}
    record = client.post("/data", json={"user_id": "alice", "payload": secret}, headers=alice).json()
    bulk = client.post("/data/bulk", json={"items": [{"user_id": "alice", "payload": secret}]}, headers=alice)
    ids = [record["id"], bulk.json()["stored"][0]["id"]]

    answers = [client.get(f"/data/{i}", headers=bob) for i in ids]
    answers += [
        client.get("/data", params={"user_id": "alice"}, headers=bob),
        client.get("/data", params={"user_id": "alice", "type": "x"}, headers=bob),
        client.post("/data", json={"user_id": "alice", "payload": {}}, headers=bob),
        client.post(
            "/data/bulk",
            json={"items": [{"user_id": "bob", "payload": {}}, {"user_id": "alice", "payload": {}}]},
            headers=bob,
        ),
    ]

    assert [a.status_code for a in answers] == [404, 404, 403, 403, 403, 403]
    assert all(secret["card"] not in a.text for a in answers)  # a random id may hold "4111"
    assert client.get("/data", params={"user_id": "alice"}, headers=alice).json()["total"] == 2
    assert client.get("/data", params={"user_id": "bob"}, headers=bob).json()["total"] == 0


def test_another_users_record_looks_exactly_like_a_missing_one(client: TestClient) -> None:
    alice, bob = auth(token("alice")), auth(token("bob"))
    record = client.post("/data", json={"user_id": "alice", "payload": {}}, headers=alice).json()

    theirs = client.get(f"/data/{record['id']}", headers=bob)
    missing = client.get("/data/ffffffff-ffff-4fff-bfff-ffffffffffff", headers=bob)

    assert theirs.status_code == missing.status_code == 404
    assert {k: v for k, v in theirs.json().items() if k not in ("instance", "request_id", "detail")} == {
        k: v for k, v in missing.json().items() if k not in ("instance", "request_id", "detail")
    }
    assert "alice" not in theirs.text


def test_roles_gate_reads_and_writes(client: TestClient) -> None:
    reader, nobody = auth(token("alice", ("reader",))), auth(token("alice", ()))

    assert client.get("/data", params={"user_id": "alice"}, headers=reader).status_code == 200
    assert client.post("/data", json={"user_id": "alice", "payload": {}}, headers=reader).status_code == 403
    assert (
        client.post(
            "/data/bulk", json={"items": [{"user_id": "alice", "payload": {}}]}, headers=reader
        ).status_code
        == 403
    )
    assert client.get("/data", params={"user_id": "alice"}, headers=nobody).status_code == 403


def test_admins_act_for_any_user(client: TestClient) -> None:
    admin = auth(token("root", ("admin",)))
    record = client.post("/data", json={"user_id": "alice", "payload": {}}, headers=admin).json()

    assert record["user_id"] == "alice"
    assert client.get(f"/data/{record['id']}", headers=admin).status_code == 200
    assert client.get("/data", params={"user_id": "alice"}, headers=admin).json()["total"] == 1


def test_a_body_cannot_choose_id_timestamps_or_a_foreign_owner(client: TestClient) -> None:
    alice = auth(token("alice"))
    for body in (
        {"user_id": "alice", "payload": {}, "id": "chosen"},
        {"user_id": "alice", "payload": {}, "created_at": "2000-01-01T00:00:00Z"},
        {"user_id": "alice", "payload": {}, "updated_at": "2000-01-01T00:00:00Z"},
    ):
        assert client.post("/data", json=body, headers=alice).status_code == 422
    assert client.post("/data", json={"user_id": "bob", "payload": {}}, headers=alice).status_code == 403


def test_a_new_key_is_picked_up_without_restart(client: TestClient, jwks_file: Path) -> None:
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fresh = token(key=new_key, kid="rsa-2")
    assert client.get("/data", params={"user_id": "alice"}, headers=auth(fresh)).status_code == 401

    write_jwks(jwks_file, jwk(RSA_KEY, "rsa-1", "RS256"), jwk(new_key, "rsa-2", "RS256"))

    assert client.get("/data", params={"user_id": "alice"}, headers=auth(fresh)).status_code == 200


def test_cors_answers_only_the_listed_origin(client: TestClient) -> None:
    alice = auth(token("alice"))
    allowed = client.get(
        "/data", params={"user_id": "alice"}, headers={**alice, "Origin": "https://app.example"}
    )
    other = client.get(
        "/data", params={"user_id": "alice"}, headers={**alice, "Origin": "https://evil.example"}
    )
    preflight = client.options(
        "/data", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )

    good_preflight = client.options(
        "/data",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )

    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-credentials" not in allowed.headers
    # A browser client may read the headers it needs to page on and to retry.
    exposed = {h.strip().lower() for h in allowed.headers["access-control-expose-headers"].split(",")}
    assert {"link", "location", "etag", "retry-after", "x-request-id", "idempotent-replayed"} <= exposed
    assert not [h for h in other.headers if h.startswith("access-control-")]
    assert preflight.status_code == 403 and not [
        h for h in preflight.headers if h.startswith("access-control-")
    ]
    assert good_preflight.status_code == 204
    assert good_preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert "POST" in good_preflight.headers["access-control-allow-methods"]
    change_preflight = client.options(
        "/data/some-id",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization, content-type, if-match, idempotency-key",
        },
    )
    assert change_preflight.status_code == 204
    assert {"PATCH", "DELETE"} <= {
        m.strip() for m in change_preflight.headers["access-control-allow-methods"].split(",")
    }


def test_security_headers_on_every_answer(client: TestClient) -> None:
    for response in (
        client.get("/health"),
        client.get("/data", params={"user_id": "alice"}),
        client.get("/data", params={"user_id": "alice"}, headers=auth(token())),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
        assert "server" not in response.headers or "/" not in response.headers["server"]


def test_openapi_declares_bearer_auth(client: TestClient) -> None:
    document = client.get("/openapi.json").json()

    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert document["paths"]["/data"]["get"]["security"] == [{"bearer": []}]
    assert "401" in document["paths"]["/data"]["post"]["responses"]
    assert "security" not in document["paths"]["/health"]["get"]


@pytest.mark.parametrize(
    "change",
    [
        {"auth_mode": "jwt"},  # no key source
        {"auth_mode": "jwt", "jwt_secret": "s" * 40},  # no audience / issuer
        {"auth_mode": "jwt", "jwt_secret": "short", "jwt_audience": "a", "jwt_issuer": "i"},
        {
            "auth_mode": "jwt",
            "jwt_secret": "s" * 40,
            "jwt_audience": "a",
            "jwt_issuer": "i",
            "jwt_algorithms": "none",
        },
        {
            "auth_mode": "jwt",
            "jwt_secret": "s" * 40,
            "jwt_audience": "a",
            "jwt_issuer": "i",
            "jwt_algorithms": "RS256",
        },
        {
            "auth_mode": "jwt",
            "jwt_jwks_file": "k.json",
            "jwt_audience": "a",
            "jwt_issuer": "i",
            "jwt_algorithms": "HS256",
        },
        {"cors_origins": "*", "cors_allow_credentials": True},
        {"cors_origins": "https://a.example,*"},
        {"auth_mode": "maybe"},
    ],
)
def test_unsafe_configurations_are_refused_at_start(change: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        Settings(**change)


def test_a_shared_secret_works_for_hs256(settings: Settings) -> None:
    secret = "a-long-enough-shared-secret-of-32+bytes"
    configured = replace(
        settings, auth_mode="jwt", jwt_secret=secret, jwt_audience=AUDIENCE, jwt_issuer=ISSUER
    )

    with TestClient(create_app(configured)) as client:
        good = token(key=secret, alg="HS256", kid=None)
        bad = token(key="another-secret-that-is-long-enough-too", alg="HS256", kid=None)
        rs = token()
        statuses = [
            client.get("/data", params={"user_id": "alice"}, headers=auth(t)).status_code
            for t in (good, bad, rs)
        ]

    assert statuses == [200, 401, 401]


def test_the_audit_trail_names_the_subject_and_the_request(client: TestClient, secured: Settings) -> None:
    headers = {**auth(token("alice")), "X-Request-ID": "trace-7"}
    record = client.post("/data", json={"user_id": "alice", "payload": {}}, headers=headers).json()
    admin = {**auth(token("root", ("admin",))), "X-Request-ID": "trace-8"}
    stored = client.post(
        "/data/bulk", json={"items": [{"user_id": "bob", "payload": {}}]}, headers=admin
    ).json()

    rows = backing.run_async(backing.read_audit(secured.database_url, record["id"]))
    bulk_rows = backing.run_async(backing.read_audit(secured.database_url, stored["stored"][0]["id"]))

    assert rows == [("alice", "create", record["id"], "alice", "trace-7")]
    assert bulk_rows == [("root", "create", stored["stored"][0]["id"], "bob", "trace-8")]


def test_without_authentication_the_actor_is_anonymous(make_client, settings: Settings) -> None:
    client = make_client()
    record = client.post(
        "/data", json={"user_id": "alice", "payload": {}}, headers={"X-Request-ID": "r-1"}
    ).json()

    assert backing.run_async(backing.read_audit(settings.database_url, record["id"])) == [
        ("anonymous", "create", record["id"], "alice", "r-1")
    ]
