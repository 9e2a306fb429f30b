"""Cache-aside storage for encoded list pages, invalidated per user on that user's writes.

`get` hands out a token and `set` stores only if the user saw no write since that token,
so a page read before a write can never be cached after it (read-your-writes).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol


class PageCache(Protocol):
    """Where encoded pages are kept; the in-process one here, Redis in production."""

    async def get(self, user_id: str, key: str) -> tuple[bytes | None, int]:
        """The cached bytes (or None) and a token to pass to `set`."""
        ...

    async def set(self, user_id: str, key: str, value: bytes, token: int) -> None:
        """Keep value unless the user wrote since `token` was handed out."""
        ...

    async def invalidate_user(self, user_id: str) -> None:
        """Forget every page of this user."""
        ...

    async def ping(self) -> None:
        """Raise unless the cache answers."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class MemoryPageCache:
    """An in-process LRU bounded in bytes, with a TTL per entry."""

    _ENTRY_OVERHEAD = 200  # bytes of bookkeeping counted per entry, besides key and value

    def __init__(
        self,
        *,
        max_bytes: int,
        ttl_seconds: float,
        max_tracked_users: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_bytes = max_bytes
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], tuple[float, bytes]] = OrderedDict()
        self._keys_by_user: dict[str, set[str]] = {}
        self._bytes = 0
        # When each user last wrote, on a logical clock; forgotten oldest first, after which
        # every token older than the forgotten write is refused (`_floor`).
        self._tick = 0
        self._written_at: OrderedDict[str, int] = OrderedDict()
        self._max_tracked_users = max_tracked_users
        self._floor = 0

    @property
    def size_bytes(self) -> int:
        """Bytes held, bookkeeping included."""
        return self._bytes

    async def get(self, user_id: str, key: str) -> tuple[bytes | None, int]:
        entry = self._entries.get((user_id, key))
        if entry is None:
            return None, self._tick
        expires, value = entry
        if expires <= self._clock():
            self._drop((user_id, key))
            return None, self._tick
        self._entries.move_to_end((user_id, key))
        return value, self._tick

    async def set(self, user_id: str, key: str, value: bytes, token: int) -> None:
        if token < self._floor or self._written_at.get(user_id, -1) >= token:
            return
        cost = self._cost(user_id, key, value)
        if cost > self._max_bytes:
            return
        self._drop((user_id, key))
        self._entries[(user_id, key)] = (self._clock() + self._ttl, value)
        self._keys_by_user.setdefault(user_id, set()).add(key)
        self._bytes += cost
        while self._bytes > self._max_bytes:
            self._drop(next(iter(self._entries)))

    async def invalidate_user(self, user_id: str) -> None:
        self._written_at[user_id] = self._tick
        self._written_at.move_to_end(user_id)
        self._tick += 1
        if len(self._written_at) > self._max_tracked_users:
            _, forgotten = self._written_at.popitem(last=False)
            self._floor = max(self._floor, forgotten + 1)
        for key in self._keys_by_user.pop(user_id, ()):
            self._drop((user_id, key), unlink=False)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._entries.clear()
        self._keys_by_user.clear()
        self._bytes = 0

    def _cost(self, user_id: str, key: str, value: bytes) -> int:
        return len(value) + len(user_id) + len(key) + self._ENTRY_OVERHEAD

    def _drop(self, entry_key: tuple[str, str], *, unlink: bool = True) -> None:
        entry = self._entries.pop(entry_key, None)
        if entry is None:
            return
        user_id, key = entry_key
        self._bytes -= self._cost(user_id, key, entry[1])
        if unlink:
            keys = self._keys_by_user.get(user_id)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._keys_by_user[user_id]
