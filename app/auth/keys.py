"""Verification keys: a shared secret, or a JWKS document from a file or a URL.

A key set is re-read in the background, so new `kid`s are picked up without a restart; a token
naming an unknown `kid` triggers a re-read too, but at most once every `min_refetch_seconds`,
so forged kids cannot make the service hammer the identity provider.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import structlog

from app.concurrency import Every
from app.errors import Unauthorized

log = structlog.get_logger("app.auth")
MAX_JWKS_BYTES = 1024 * 1024
# Which key types may verify which algorithms: an RSA key never verifies an HMAC (RFC 8725 2.1).
FAMILIES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP", "HS": "oct"}


def family(algorithm: str) -> str | None:
    """The JWK key type (kty) an algorithm needs."""
    return FAMILIES.get(algorithm[:2])


class KeySet:
    """Keys by kid; `secret`, `jwks_file` or `jwks_url`, exactly one."""

    def __init__(
        self,
        *,
        secret: str = "",
        jwks_file: str = "",
        jwks_url: str = "",
        refresh_seconds: float = 300.0,
        min_refetch_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._secret = secret.encode()
        self._file = jwks_file
        self._url = jwks_url
        self._min_refetch = min_refetch_seconds
        self._clock = clock
        self._keys: dict[str | None, tuple[str, Any, str | None]] = {}  # kid -> (kty, key, alg)
        self._loaded_at = float("-inf")
        self._refresher = Every(refresh_seconds, self._refresh_quietly)
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Load the key set (failing loudly at start) and keep it fresh in the background."""
        if self._secret:
            return
        await self._reload()
        if not self._keys:
            raise RuntimeError("the JWKS holds no usable key")
        await self._refresher.start()

    async def stop(self) -> None:
        await self._refresher.close()

    async def key_for(self, kid: str | None, algorithm: str) -> Any:
        """The key that may verify a token with this header, or Unauthorized."""
        if self._secret:
            return self._secret
        entry = self._lookup(kid)
        if entry is None and self._clock() - self._loaded_at >= self._min_refetch:
            async with self._lock:
                if self._lookup(kid) is None and self._clock() - self._loaded_at >= self._min_refetch:
                    await self._reload()
            entry = self._lookup(kid)
        if entry is None:
            raise Unauthorized("the token names an unknown key")
        kty, key, pinned = entry
        if family(algorithm) != kty or (pinned is not None and pinned != algorithm):
            raise Unauthorized("the token's algorithm does not fit its key")
        return key

    def _lookup(self, kid: str | None) -> tuple[str, Any, str | None] | None:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    async def _refresh_quietly(self) -> None:
        try:
            await self._reload()
        except Exception as exc:  # keep the keys we have; try again next round
            log.warning("jwks refresh failed", error=type(exc).__name__)

    async def _reload(self) -> None:
        self._loaded_at = self._clock()
        document = await asyncio.to_thread(self._read)
        keys: dict[str | None, tuple[str, Any, str | None]] = {}
        for jwk in document.get("keys", []):
            if jwk.get("use", "sig") != "sig" or jwk.get("kty") == "oct":
                continue  # encryption keys and symmetric keys never verify tokens here
            try:
                parsed = jwt.PyJWK(jwk)
            except jwt.PyJWTError as exc:
                log.warning("jwks key skipped", kid=jwk.get("kid"), error=type(exc).__name__)
                continue
            keys[jwk.get("kid")] = (jwk["kty"], parsed.key, jwk.get("alg"))
        self._keys = keys

    def _read(self) -> dict[str, Any]:
        if self._file:
            raw = Path(self._file).read_bytes()[: MAX_JWKS_BYTES + 1]
        else:
            with urllib.request.urlopen(self._url, timeout=5) as answer:  # noqa: S310 (configured URL)
                raw = answer.read(MAX_JWKS_BYTES + 1)
        if len(raw) > MAX_JWKS_BYTES:
            raise ValueError("the JWKS document is too large")
        document = json.loads(raw)
        if not isinstance(document, dict):
            raise ValueError("a JWKS document is a JSON object")
        return document
