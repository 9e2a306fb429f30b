"""This process's lease channel: where it hears that a write elsewhere ended one of its read
leases (and answers), and that holders dropped the leases one of its own writes ended."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from app.adapters.redis.client import Client
from app.adapters.redis.codec import Ack, Revoke, decode_message
from app.adapters.redis.keys import holder_channel

log = structlog.get_logger("app.leases")
PING_AFTER_QUIET_SECONDS = 5  # a silent, broken connection shows up on a ping


class Channel:
    """One subscription, kept open by `listen` until cancelled; `listening` is False whenever
    a message could be missed (before the subscription, after a failure)."""

    def __init__(
        self,
        listener: Client,
        client: Client,
        holder: str,
        *,
        revoked: Callable[[str], None],
        acknowledged: Callable[[int], None],
        lost: Callable[[], None],
    ) -> None:
        self._listener = listener  # a connection of its own: it waits as long as it takes
        self._client = client  # answers go out on the shared pool
        self._name = holder_channel(holder)
        self._revoked = revoked
        self._acknowledged = acknowledged
        self._lost = lost
        self.listening = False
        self._sending: set[asyncio.Task[None]] = set()

    async def listen(self) -> None:
        while True:
            pubsub: PubSub = self._listener.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._name)
                self.listening = True
                quiet = 0
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None:
                        quiet += 1
                        if quiet >= PING_AFTER_QUIET_SECONDS:
                            await pubsub.ping()
                            quiet = 0
                    elif message["type"] == "message":
                        self._heard(message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self.listening:
                    log.warning("lease channel lost, serving no read leases", error=type(exc).__name__)
                self.listening = False
                self._lost()
                await asyncio.sleep(1.0)
            finally:
                self.listening = False
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]

    def _heard(self, data: bytes) -> None:
        message = decode_message(data)
        if isinstance(message, Ack):
            self._acknowledged(message.nonce)
            return
        self._revoked(message.user_id)
        task = asyncio.get_running_loop().create_task(self._acknowledge(message))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _acknowledge(self, revoke: Revoke) -> None:
        with contextlib.suppress(RedisError, OSError):  # unanswered, the writer waits the lease out
            await self._client.publish(holder_channel(revoke.writer), Ack(revoke.nonce).encode())

    async def close(self) -> None:
        self.listening = False
        await self._listener.aclose()
