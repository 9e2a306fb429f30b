"""The Redis connection: explicit timeouts, no hidden retries, commands packed in C, and the
Lua scripts of lua/, registered once, each called through its codec (codec.py).

With APP_REDIS_CLUSTER the URL names one node of a Redis Cluster, and redis-py's cluster client
finds the rest, routes each command to its slot's master and follows the slots when a replica
takes over (it refreshes its slot map after a MOVED reply or a connection error). Every key of a
user carries the user's hash tag (keys.py), so each script call and each of its pipelines
touches one slot a user."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Generic, TypeAlias, TypeVar

import hiredis
from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError, MaxConnectionsError, NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeout
from redis.typing import EncodableT

from app.adapters.redis.codec import ScriptCall
from app.concurrency import Coalescer
from app.tallies import Tally

LUA = Path(__file__).resolve().parent / "lua"
Client: TypeAlias = Redis | RedisCluster  # one server, or one node of a cluster
C = TypeVar("C", bound=ScriptCall)
R = TypeVar("R")


def redis_failed(exc: BaseException) -> bool:
    """Whether Redis is to blame (what its breaker counts): it could not be reached, dropped
    the connection or did not answer in time. A script's or a command's error is not an outage,
    nor a cluster node's connections all busy with this process's own calls."""
    if isinstance(exc, MaxConnectionsError):
        return False
    return isinstance(exc, ConnectionError | RedisTimeout | OSError | TimeoutError)


class PackedConnection(Connection):
    """A connection that packs commands with hiredis's C serializer: redis-py's asyncio client
    packs in Python, a third of what a pipelined script call costs the process. It counts the
    round trips it makes (a command, or a pipeline of them) in its pool's `trips`."""

    trips = Tally()  # each pool's connections share one (connect())

    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        self.trips.value += 1
        await super().send_packed_command(command, check_health)

    def pack_command(self, *args: EncodableT) -> list[bytes]:
        words = (*args[0].encode().split(), *args[1:]) if isinstance(args[0], str) else args
        try:  # 'SCRIPT LOAD' and the like go as separate words, as redis-py sends them
            return [hiredis.pack_command(words)]  # type: ignore[arg-type]  # its stub: one item
        except TypeError:  # a bytearray or memoryview, or what redis-py refuses (None, a bool)
            return super().pack_command(*args)


def connect(
    url: str, *, timeout: float, pool_size: int, trips: Tally | None = None, cluster: bool = False
) -> Client:
    """A client that fails fast: redis-py would otherwise retry a dead server several times.
    Its round trips are counted in `trips`. On a cluster, `pool_size` connections a node."""
    counted = type("CountedConnection", (PackedConnection,), {"trips": trips or Tally()})
    if cluster:
        return _cluster(url, timeout=timeout, waits=timeout, pool_size=pool_size, connection_class=counted)
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=pool_size,
        connection_class=counted,
        timeout=timeout,  # waiting for a free connection
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        health_check_interval=0,
    )
    return Redis.from_pool(pool)  # closing the client closes the pool


def _cluster(
    url: str,
    *,
    timeout: float,
    waits: float | None,
    pool_size: int | None,
    connection_class: type[Connection] | None,
) -> RedisCluster:
    """The cluster client, failing as fast as the single one: no retry of a failed command (the
    breaker and the fallbacks answer for it), and the slot map refreshed on the next call after
    a node failed. Redirections (MOVED, ASK) are followed whatever the retries."""
    client = RedisCluster.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=waits,  # the most an answer takes (None: a subscription's wait)
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
        require_full_coverage=False,  # slots whose master is gone fail alone, not the whole client
        **({} if pool_size is None else {"max_connections": pool_size}),
    )
    if connection_class is not None:  # the cluster client takes no connection class of its own
        client.nodes_manager.connection_kwargs["connection_class"] = connection_class
        for node in client.nodes_manager.startup_nodes.values():
            node.connection_class = connection_class
    return client


def connect_listener(url: str, *, timeout: float, cluster: bool = False) -> Client:
    """A client for one long-lived subscription: it waits for messages as long as it takes,
    but connects within `timeout` and never retries behind the caller's back. On a cluster a
    message published on any node reaches every node, so one connection hears it all."""
    if cluster:
        return _cluster(url, timeout=timeout, waits=None, pool_size=None, connection_class=None)
    return Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=None,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        health_check_interval=0,
    )


class Script(Generic[C, R]):
    """One Lua script of lua/, sent by SHA (and loaded again when Redis lost it), its calls
    encoded and its replies decoded by the codec's types."""

    def __init__(self, client: Client, name: str, decode: Callable[[Any], R]) -> None:
        self._client = client
        self._lua = client.register_script((LUA / f"{name}.lua").read_text(encoding="utf-8"))
        self._decode = decode

    async def run(self, calls: Sequence[C]) -> list[R | Exception]:
        """Calls in one pipeline: the replies in order, errors as values. Calls that found the
        script gone (Redis restarted or flushed its scripts) run again once it is loaded."""
        replies: list[object]
        if isinstance(self._client, Redis):
            replies = await self._send(self._client, calls)
        else:  # a cluster's pipeline splits the calls by node
            pipe = self._client.pipeline(transaction=False)
            for call in calls:
                pipe.execute_command("EVALSHA", *self._evalsha(call))
            replies = await pipe.execute(raise_on_error=False)
        if any(isinstance(r, NoScriptError) for r in replies):
            self._lua.sha = await self._client.script_load(self._lua.script)
            replies = [
                await self._lua(call.keys(), call.args()) if isinstance(reply, NoScriptError) else reply
                for call, reply in zip(calls, replies, strict=True)
            ]
        return [r if isinstance(r, Exception) else self._decode(r) for r in replies]

    async def _send(self, client: Redis, calls: Sequence[C]) -> list[object]:
        """The calls written at once on one pooled connection, and their replies read in order:
        what redis-py's pipeline does, without the pipeline object it builds and resets for
        every batch (a sixth of a cold page's Redis cost to the process, docs/performance.md).
        A connection that failed or was cancelled mid-way is closed: its replies are unknown."""
        pool = client.connection_pool
        conn = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            packed = [word for call in calls for word in conn.pack_command("EVALSHA", *self._evalsha(call))]
            await conn.send_packed_command(b"".join(packed), check_health=False)
            replies: list[object] = []
            # The replies within the connection's timeout, all of them together: read one by
            # one under redis-py's own timeout, each would open a timer of its own (2.8 of the
            # 10 µs a reply costs the process).
            async with asyncio.timeout(conn.socket_timeout):
                for _ in calls:
                    try:
                        replies.append(await conn.read_response(timeout=math.inf))
                    except ResponseError as exc:  # the call's own error (NoScriptError among them)
                        replies.append(exc)
            return replies
        except BaseException:
            await conn.disconnect()
            raise
        finally:
            await pool.release(conn)

    def _evalsha(self, call: C) -> tuple[EncodableT, ...]:
        """EVALSHA's arguments for one call: the script, its keys (counted, then named), its args."""
        keys = call.keys()
        return (self._lua.sha, len(keys), *keys, *call.args())

    def pipelined(self) -> Coalescer[C, R]:
        """The script called by concurrent requests: the calls made in one event-loop turn
        travel in one pipeline, one round trip for all of them."""
        return Coalescer(self.run, lost=lambda: ConnectionError("the pipeline was cancelled"))
