"""The page cache: encoded list pages, kept per user and dropped on that user's writes.

`get` answers the page (or None) with the user's write generation, and `set` keeps a page only
if the user has not written since that generation, so a page read before a write can never be
cached after it (read-your-writes).
"""

from __future__ import annotations

from typing import Protocol

# What a lookup answers: the page's bytes (None: not cached), and the write generation to hand
# to `set` (-1: the cache could not be asked, so nothing read now may be kept).
Lookup = tuple[bytes | None, int]


class PageCache(Protocol):
    """Where encoded pages are kept: in this process, or in Redis behind a local copy."""

    async def get(self, user_id: str, key: str) -> Lookup:
        """The cached bytes (or None) and the generation to pass to `set`."""
        ...

    async def set(self, user_id: str, key: str, value: bytes, generation: int) -> None:
        """Keep value unless the user wrote since `generation` was handed out."""
        ...

    async def invalidate_user(self, user_id: str) -> None:
        """Forget every page of this user; return once no process can serve an older one."""
        ...

    async def ping(self) -> None:
        """Raise unless the cache answers."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
