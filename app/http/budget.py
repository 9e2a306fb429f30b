"""The request-body bytes one process holds at once (APP_MAX_INFLIGHT_BODY_BYTES).

A body costs the process several times its size while its request runs (the bytes read, the
payload decoded and encoded again for the database, the answer), so many large bodies at once
would grow the heap past a pod's memory. Each body takes its size from the budget before it is
read (its declared Content-Length, or the most a body may hold when it is streamed without one)
and gives it back when its answer has been sent. A body that does not fit waits, first come
first served, for at most `wait_seconds`; then it is refused with 503 and Retry-After, unread."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, MutableMapping
from typing import Any

from app.errors import BodiesBusy

# The scope key of what the request holds: the function that gives it back (middleware.py).
RELEASE = "body_release"


class BodyBudget:
    """Bytes of request bodies in flight in this process, at most `limit`."""

    def __init__(self, limit: int, *, wait_seconds: float = 1.0) -> None:
        self.limit = limit
        self._wait = wait_seconds
        self.used = 0
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()
        self.refused = 0

    async def take(self, size: int, scope: MutableMapping[str, Any]) -> Callable[[int], None]:
        """Hold `size` bytes (a body larger than the whole budget holds all of it) until the
        request's answer is sent; the function returned gives back part of them sooner (a
        streamed body smaller than reserved)."""
        size = min(size, self.limit)
        if self._waiting or self.used + size > self.limit:
            await self._queue(size)
        else:
            self.used += size
        held = [size]

        def give_back(part: int) -> None:
            part = min(part, held[0])
            held[0] -= part
            self.used -= part
            self._grant()

        scope[RELEASE] = lambda: give_back(held[0])
        return give_back

    async def _queue(self, size: int) -> None:
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (size, granted)
        self._waiting.append(entry)
        try:
            async with asyncio.timeout(self._wait):
                await granted
        except BaseException as exc:  # the wait's end, or the request cancelled (client gone)
            if granted.done() and not granted.cancelled():
                self.used -= size  # granted just as the wait ended: not kept
            elif entry in self._waiting:  # (a grant may have passed over it, cancelled, already)
                self._waiting.remove(entry)
            self._grant()
            if isinstance(exc, TimeoutError):
                self.refused += 1
                raise BodiesBusy(
                    f"this process holds as many request bodies as it may ({self.limit} bytes at once);"
                    " try again shortly"
                ) from None
            raise

    def _grant(self) -> None:
        while self._waiting:
            size, granted = self._waiting[0]
            if granted.done():
                self._waiting.popleft()
                continue
            if self.used + size > self.limit:
                return
            self._waiting.popleft()
            self.used += size
            granted.set_result(None)
