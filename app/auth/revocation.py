"""The deny-list of revoked tokens (by jti), kept until each token would have expired anyway."""

from __future__ import annotations

import math
import time
from typing import Protocol

from redis.asyncio import Redis, RedisCluster
from redis.exceptions import RedisError

from app.errors import StorageUnavailable
from app.resilience.breakers import Breaker, BreakerOpen


class Revocations(Protocol):
    """Where revoked token ids are kept."""

    async def is_revoked(self, jti: str) -> bool: ...

    async def revoke(self, jti: str, expires_at: float) -> None:
        """Deny `jti` until `expires_at` (seconds since the epoch), when the token dies anyway."""
        ...


def revocation_key(jti: str) -> str:
    """The key of a revoked token in Redis, shared by every process."""
    return f"session:revoked:{jti}"


class MemoryRevocations:
    """The deny-list of one process (the default without Redis)."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    async def is_revoked(self, jti: str) -> bool:
        until = self._until.get(jti)
        if until is not None and until <= time.time():
            del self._until[jti]
            return False
        return until is not None

    async def revoke(self, jti: str, expires_at: float) -> None:
        now = time.time()
        for old in [j for j, until in self._until.items() if until <= now]:
            del self._until[old]
        if expires_at > now:
            self._until[jti] = expires_at


class RedisRevocations:
    """The deny-list shared by every process, each entry expiring with its token.

    When Redis cannot be asked, a token is accepted (its signature and expiry still hold); a dead
    Redis must not lock every user out. The failure opens the shared Redis breaker.
    """

    def __init__(self, client: Redis | RedisCluster, breaker: Breaker) -> None:
        self._client = client
        self._breaker = breaker

    async def is_revoked(self, jti: str) -> bool:
        if self._breaker.is_open:
            return False
        try:
            with self._breaker.guard():
                return bool(await self._client.exists(revocation_key(jti)))
        except (RedisError, OSError, BreakerOpen):
            return False

    async def revoke(self, jti: str, expires_at: float) -> None:
        ttl_ms = math.ceil((expires_at - time.time()) * 1000)
        if ttl_ms <= 0:
            return
        try:
            with self._breaker.guard():
                await self._client.set(revocation_key(jti), b"1", px=ttl_ms)
        except (RedisError, OSError, BreakerOpen) as exc:  # the caller must know the token is still valid
            raise StorageUnavailable("the deny-list cannot be reached; the token is not revoked") from exc
