"""The Redis connection: explicit timeouts, no hidden retries, a pause after a failure, and the
Lua scripts, registered once."""

from __future__ import annotations

import time
from pathlib import Path

import structlog
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript

log = structlog.get_logger("app.redis")
LUA = Path(__file__).resolve().parent / "lua"


def connect(url: str, *, timeout: float, pool_size: int) -> Redis:
    """A client that fails fast: redis-py would otherwise retry a dead server several times."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=pool_size,
        timeout=timeout,  # waiting for a free connection
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        health_check_interval=0,
    )
    return Redis.from_pool(pool)  # closing the client closes the pool


def script(client: Redis, name: str) -> AsyncScript:
    """A Lua script from app/lua/, sent by SHA (and loaded on first use)."""
    return client.register_script((LUA / f"{name}.lua").read_text(encoding="utf-8"))


class Pause:
    """After a Redis failure, callers skip Redis for `seconds`, so a dead server costs one
    timeout, not one per request."""

    def __init__(self, seconds: float = 1.0) -> None:
        self._seconds = seconds
        self._until = 0.0

    @property
    def active(self) -> bool:
        return time.monotonic() < self._until

    def failed(self, what: str, exc: BaseException) -> None:
        if not self.active:
            log.warning(
                "redis unavailable, skipping it",
                operation=what,
                error=type(exc).__name__,
                pause_seconds=self._seconds,
            )
        self._until = time.monotonic() + self._seconds
