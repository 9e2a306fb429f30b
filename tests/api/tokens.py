"""Tokens as an identity provider and an attacker make them: signed, forged, unsigned."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.settings import Settings

ISSUER, AUDIENCE = "https://idp.example/", "data-service"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def jwk(key: Any, kid: str, alg: str) -> dict[str, Any]:
    data = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(key.public_key()))
    return {**data, "kid": kid, "alg": alg, "use": "sig"}


def write_jwks(path: Path, *keys: dict[str, Any]) -> None:
    path.write_text(json.dumps({"keys": list(keys)}))


def with_tokens(settings: Settings, folder: Path) -> Settings:
    """`settings` with bearer tokens on, verified against RSA_KEY's key set written in `folder`."""
    jwks = folder / "jwks.json"
    write_jwks(jwks, jwk(RSA_KEY, "rsa-1", "RS256"))
    return replace(
        settings, auth_mode="jwt", jwt_jwks_file=str(jwks), jwt_audience=AUDIENCE, jwt_issuer=ISSUER
    )


def token(
    sub: str = "alice",
    roles: object = ("writer",),
    *,
    key: Any = RSA_KEY,
    kid: str | None = "rsa-1",
    alg: str = "RS256",
    **claims: Any,
) -> str:
    now = int(time.time())
    body = {
        "sub": sub,
        "roles": list(roles) if isinstance(roles, tuple) else roles,
        "aud": AUDIENCE,
        "iss": ISSUER,
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        **claims,
    }
    body = {k: v for k, v in body.items() if v is not None}
    headers = {"kid": kid} if kid else {}
    return jwt.encode(body, key, algorithm=alg, headers=headers)


def auth(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


NONE_HEADER = b64(b'{"alg":"none","typ":"JWT"}')


def unsigned(claims: dict[str, Any], header: str = NONE_HEADER) -> str:
    return f"{header}.{b64(json.dumps(claims).encode())}."


def forged_tokens() -> dict[str, Callable[[], str]]:
    now = int(time.time())
    good = {"sub": "alice", "roles": ["admin"], "aud": AUDIENCE, "iss": ISSUER, "exp": now + 600}
    public_pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def hs256_with_the_public_key() -> str:
        header = b64(json.dumps({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}).encode())
        payload = b64(json.dumps(good).encode())
        signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{b64(signature)}"

    def tampered() -> str:
        header, payload, signature = token("mallory", ("reader",)).split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims.update(sub="alice", roles=["admin"])
        return f"{header}.{b64(json.dumps(claims).encode())}.{signature}"

    return {
        "alg none": lambda: unsigned(good),
        "alg none, kid of a real key": lambda: unsigned(good, b64(b'{"alg":"none","kid":"rsa-1"}')),
        "HS256 signed with the RSA public key": hs256_with_the_public_key,
        "expired beyond the leeway": lambda: token(exp=now - 120),
        "not valid for minutes yet": lambda: token(nbf=now + 300),
        "wrong audience": lambda: token(aud="another-service"),
        "wrong issuer": lambda: token(iss="https://evil.example/"),
        "unknown kid": lambda: token(kid="nobody"),
        "signed by an unknown key": lambda: token(key=OTHER_RSA_KEY),
        "missing exp": lambda: token(exp=None),
        "missing sub": lambda: token(sub=None),  # type: ignore[arg-type]
        "tampered payload": tampered,
        "RS256 header on the EC key": lambda: token(kid="ec-1"),
        "not a JWT": lambda: "not.a.jwt",
        "garbage": lambda: "x" * 5000,
    }
