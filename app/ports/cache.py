"""The page cache: encoded list pages, kept per user and dropped on that user's writes.

A page is found by the read gate (gate.py), which answers it (or None) with the user's write
generation; `set` keeps a page only if the user has not written since that generation, so a
page read before a write can never be cached after it (read-your-writes).

A page is kept with its tag, a digest of its bytes made once, when it is read from the
database (`Page.of`): the list's weak ETag, and the key of its gzip copy, which a cache hit
then finds without hashing the page again.
"""

from __future__ import annotations

import base64
from typing import NamedTuple, Protocol

import msgspec

from app.digests import sha256

TAG_BYTES = 22  # 16 bytes of SHA-256 in base64url, unpadded


class Page(msgspec.Struct, frozen=True, gc=False):
    """An encoded list page and its tag. A struct, not a NamedTuple: a cache hit makes one, and
    msgspec's constructor runs in C (docs/performance.md, "Figures behind the code's choices")."""

    body: bytes
    tag: bytes  # TAG_BYTES of base64url: the same for the same bytes in every process

    @classmethod
    def of(cls, body: bytes) -> Page:
        return cls(body, digest_tag(body))


def digest_tag(body: bytes) -> bytes:
    """TAG_BYTES naming these bytes, the same in every process: SHA-256's first 128 bits in
    base64url. SHA-256 rather than BLAKE2b: the processor computes it (SHA extensions), 11 us
    for a 12 KB page where BLAKE2b took 30 (docs/performance.md); where it cannot, the two cost
    about the same. Hashed with the GIL kept (app/digests.py)."""
    return base64.urlsafe_b64encode(sha256(body).digest()[:16])[:TAG_BYTES]


# What the read gate's lookup answers: the page (None: not cached), the write generation to
# hand to `set` (-1: the cache could not be asked, so nothing read now may be kept), and whether
# a page read now is worth keeping: asked for APP_CACHE_MIN_USES times within the TTL. A page
# nobody asks for again then costs no write to the cache, and takes no room from those that are.
Lookup = tuple[Page | None, int, bool]


class CacheStats:
    """What the cache's lookups found, counted by the cache itself (the metrics read it when
    scraped): hits answered from this process's copy or from the shared tier's bytes, misses,
    lookups the shared tier could not answer (`errors`: the database answers instead) and stale
    pages handed out while the database was away."""

    __slots__ = ("errors", "local_hits", "misses", "shared", "shared_hits", "stale")

    def __init__(self, shared: str | None = None) -> None:
        self.shared = shared  # the shared tier's name ("redis"), None for a cache of this process only
        self.local_hits = 0
        self.shared_hits = 0
        self.misses = 0
        self.errors = 0
        self.stale = 0


class StalePage(NamedTuple):
    """A page kept past its time to live, answered only while the database cannot be read."""

    page: Page
    age: float  # seconds since the page was read from the database
    overdue: float  # seconds past its time to live


class PageCache(Protocol):
    """Where encoded pages are kept: in this process, or in Redis behind a local copy."""

    stats: CacheStats

    async def set(self, user_id: str, key: str, value: Page, generation: int) -> None:
        """Keep value unless the user wrote since `generation` was handed out."""
        ...

    async def stale(self, user_id: str, key: str, generation: int) -> StalePage | None:
        """The page kept past its TTL, no staler than the configured bound, that no write since
        `generation` has replaced; None when there is none."""
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
