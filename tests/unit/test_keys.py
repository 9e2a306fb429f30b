"""The key set: a JWKS served over HTTP, refreshed, and refetched for unknown kids at a bounded pace."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from app.auth.keys import KeySet
from app.errors import Unauthorized
from tests.clock import Clock

pytestmark = pytest.mark.anyio


def jwk(key: Any, kid: str) -> dict[str, Any]:
    return {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key())), "kid": kid, "alg": "ES256"}


class Issuer:
    """A JWKS endpoint on loopback that counts how often it is asked."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.fetches += 1
                body = json.dumps({"keys": issuer.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    served = Issuer()
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()


async def test_unknown_kids_refetch_at_most_once_per_interval(issuer: Issuer) -> None:
    first, second = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    issuer.keys = [jwk(first, "one")]
    clock = Clock()
    keys = KeySet(jwks_url=issuer.url, min_refetch_seconds=30, refresh_seconds=3600, clock=clock)
    await keys.start()
    try:
        assert await keys.key_for("one", "ES256") is not None and issuer.fetches == 1
        for _ in range(20):  # a flood of forged kids
            with pytest.raises(Unauthorized):
                await keys.key_for("forged", "ES256")
        assert issuer.fetches == 1  # the start's fetch is less than 30 s old

        issuer.keys.append(jwk(second, "two"))
        clock.now += 31
        assert await keys.key_for("two", "ES256") is not None  # a new key, no restart
        with pytest.raises(Unauthorized):
            await keys.key_for("forged", "ES256")
        assert issuer.fetches == 2
    finally:
        await keys.stop()


async def test_a_key_only_verifies_its_own_algorithm_family(issuer: Issuer) -> None:
    issuer.keys = [jwk(ec.generate_private_key(ec.SECP256R1()), "ec")]
    keys = KeySet(jwks_url=issuer.url)
    await keys.start()
    try:
        for algorithm in ("HS256", "RS256", "PS256"):
            with pytest.raises(Unauthorized):
                await keys.key_for("ec", algorithm)
    finally:
        await keys.stop()


async def test_a_key_set_without_usable_keys_stops_the_start(issuer: Issuer) -> None:
    issuer.keys = [{"kty": "oct", "k": "c2VjcmV0", "kid": "symmetric"}]

    with pytest.raises(RuntimeError, match="no usable key"):
        await KeySet(jwks_url=issuer.url).start()
