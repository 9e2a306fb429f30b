"""Cache-aside storage for encoded list pages, invalidated per user on that user's writes.

`get` hands out a token and `set` stores only if the user saw no write since that token,
so a page read before a write can never be cached after it (read-your-writes).
"""

from __future__ import annotations

from typing import Protocol

from app.ports.admission import Decision, RateLimiter


class PageCache(Protocol):
    """Where encoded pages are kept; the in-process one here, Redis in production."""

    async def get(self, user_id: str, key: str) -> tuple[bytes | None, int]:
        """The cached bytes (or None) and a token to pass to `set`."""
        ...

    async def get_admitted(
        self, user_id: str, key: str, limiter: RateLimiter
    ) -> tuple[Decision, bytes | None, int]:
        """The limiter's decision for the user and, when admitted, what `get` answers; a
        cache that shares a server with the limiter does both in one round trip."""
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
