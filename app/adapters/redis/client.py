"""The Redis connection: explicit timeouts, no hidden retries, a pause after a failure, the
Lua scripts, registered once, and the names of the keys."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hiredis
import structlog
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError
from redis.typing import EncodableT

if TYPE_CHECKING:
    from app.adapters.redis.leases import Leases

log = structlog.get_logger("app.redis")
LUA = Path(__file__).resolve().parent / "lua"


# Every key of one user shares the user's hash tag ({user_id}): one Redis Cluster slot, so one
# script may touch them all.


def bucket_key(user_id: str) -> str:
    """The user's token bucket."""
    return f"rate_limit:{{{user_id}}}"


def page_keys(user_id: str) -> list[str]:
    """The user's page hash and generation counter."""
    return [f"user_data:{{{user_id}}}", f"user_data:{{{user_id}}}:gen"]


def lease_key(user_id: str) -> str:
    """Who holds a read lease on the user's pages, and until when (app/leases.py)."""
    return f"user_data:{{{user_id}}}:leases"


class PackedConnection(Connection):
    """A connection that packs commands with hiredis's C serializer: redis-py's asyncio client
    packs in Python, a third of what a pipelined script call costs the process."""

    def pack_command(self, *args: EncodableT) -> list[bytes]:
        words = (*args[0].encode().split(), *args[1:]) if isinstance(args[0], str) else args
        try:  # 'SCRIPT LOAD' and the like go as separate words, as redis-py sends them
            return [hiredis.pack_command(words)]  # type: ignore[arg-type]  # its stub: one item
        except TypeError:  # a bytearray or memoryview, or what redis-py refuses (None, a bool)
            return super().pack_command(*args)


def connect(url: str, *, timeout: float, pool_size: int) -> Redis:
    """A client that fails fast: redis-py would otherwise retry a dead server several times."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=pool_size,
        connection_class=PackedConnection,
        timeout=timeout,  # waiting for a free connection
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        health_check_interval=0,
    )
    return Redis.from_pool(pool)  # closing the client closes the pool


def connect_listener(url: str, *, timeout: float) -> Redis:
    """A client for one long-lived subscription: it waits for messages as long as it takes,
    but connects within `timeout` and never retries behind the caller's back."""
    return Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=None,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        health_check_interval=0,
    )


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


@dataclass(frozen=True, slots=True)
class RedisLink:
    """One client and one Pause, shared by everything of a process that uses Redis, so one
    failure noticed by any of them spares all the others the same timeout; and the process's
    leases, whose channel the lifespan opens and closes."""

    client: Redis
    pause: Pause
    leases: Leases | None = None


async def run_script(
    client: Redis, lua: AsyncScript, calls: Sequence[tuple[Sequence[str], Sequence[EncodableT]]]
) -> list[Any]:
    """Calls of one Lua script in one pipeline; the replies in order, errors as values. Calls
    that found the script gone (Redis restarted or flushed its scripts) run again after it is
    loaded."""
    pipe = client.pipeline(transaction=False)
    for keys, args in calls:
        pipe.evalsha(lua.sha, len(keys), *keys, *args)
    replies: list[Any] = await pipe.execute(raise_on_error=False)
    if any(isinstance(r, NoScriptError) for r in replies):
        lua.sha = await client.script_load(lua.script)
        replies = [
            await lua(keys, args) if isinstance(reply, NoScriptError) else reply
            for (keys, args), reply in zip(calls, replies, strict=True)
        ]
    return replies


class Batched:
    """Calls of one Lua script from concurrent requests, sent together: every call made while
    the event loop runs one turn goes out in one pipeline, one round trip for all of them."""

    def __init__(self, client: Redis, script: AsyncScript) -> None:
        self._client = client
        self.script = script
        self._waiting: list[tuple[Sequence[str], Sequence[EncodableT], asyncio.Future[Any]]] = []

    async def __call__(self, keys: Sequence[str], args: Sequence[EncodableT]) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._send_batch)
        self._waiting.append((keys, args, future))
        return await future

    def _send_batch(self) -> None:
        batch, self._waiting = self._waiting, []
        task = asyncio.get_running_loop().create_task(self._send(batch))
        _sending.add(task)
        task.add_done_callback(_sending.discard)

    async def _send(
        self, batch: list[tuple[Sequence[str], Sequence[EncodableT], asyncio.Future[Any]]]
    ) -> None:
        try:
            replies = await run_script(self._client, self.script, [(keys, args) for keys, args, _ in batch])
        except BaseException as exc:
            for *_, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (*_, future), reply in zip(batch, replies, strict=True):
            if future.done():
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)


_sending: set[asyncio.Task[None]] = set()  # strong references while batches are in flight
