"""The read-only switch in Redis: one key every process reads about once a second."""

from __future__ import annotations

import msgspec
from redis.exceptions import RedisError

from app.adapters.redis.client import Client
from app.errors import StorageUnavailable
from app.ports.maintenance import WriteMode
from app.resilience.breakers import Breaker, BreakerOpen

MODE_KEY = "service:write_mode"
_decode = msgspec.json.Decoder(WriteMode)


class RedisModeStore:
    """ModeStore on the service's Redis, behind its breaker."""

    def __init__(self, client: Client, breaker: Breaker) -> None:
        self._client = client
        self._breaker = breaker

    async def read(self) -> WriteMode | None:
        with self._breaker.guard():
            raw = await self._client.get(MODE_KEY)
        return None if raw is None else _decode.decode(raw)

    async def write(self, mode: WriteMode) -> None:
        try:
            with self._breaker.guard():
                await self._client.set(MODE_KEY, msgspec.json.encode(mode))
        except (RedisError, OSError, BreakerOpen) as exc:
            raise StorageUnavailable("Redis cannot be reached: no process was switched") from exc
