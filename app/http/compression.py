"""gzip for answers a client accepts it for (Accept-Encoding, read by the request middleware
into the scope), when they are over THRESHOLD bytes: never for small ones, where the header
costs more than it saves.

A cached list page is compressed once per process and its copy kept (`CompressedPages`),
found by the page's tag: a hit costs a dict lookup and serves the kept copy, never a
compression. Brotli and zstd are left out: the standard library has neither (zstd arrives in
3.14), and every HTTP client speaks gzip.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from collections.abc import MutableMapping
from typing import Any

from app.ports.cache import Page

THRESHOLD = 1000  # bytes: below it the header costs more than it saves
LEVEL = 6  # zlib's default: nine costs twice the time for a few percent on JSON
GZIP = 16 + zlib.MAX_WBITS  # a gzip header and trailer around the deflate stream


def accepts_gzip(value: bytes) -> bool:
    """Whether an Accept-Encoding header value admits gzip (RFC 9110, section 12.5.3): named
    (or `*`) without q=0."""
    for element in value.lower().split(b","):
        coding, _, params = element.partition(b";")
        if coding.strip() in (b"gzip", b"x-gzip", b"*"):
            weight = params.strip().partition(b"=")
            return not (weight[0].strip() == b"q" and _zero(weight[2]))
    return False


def _zero(quality: bytes) -> bool:
    try:
        return float(quality) == 0
    except ValueError:
        return False


def wanted(scope: MutableMapping[str, Any], body: bytes) -> bool:
    """Whether this answer goes out compressed."""
    return len(body) >= THRESHOLD and scope.get("gzip", False)


def gzip(body: bytes) -> bytes:
    return zlib.compress(body, LEVEL, wbits=GZIP)


class CompressedPages:
    """gzip copies of cached pages, the most recently used first, up to `max_bytes` of copies.

    A copy is found by its page's tag (a digest made when the page was read from the database:
    ports/cache.py), so a hit neither compresses nor hashes the page; only the copy is held,
    not the page. Its bound is a setting of its own (APP_CACHE_GZIP_MAX_BYTES): the copies
    outlive the pages' local copies, which is what keeps gzip answers cheap when most pages
    come from Redis (docs/performance.md, "Compression")."""

    def __init__(self, max_bytes: int) -> None:  # APP_CACHE_GZIP_MAX_BYTES
        self._copies: OrderedDict[bytes, bytes] = OrderedDict()
        self._bytes = 0
        self._max = max_bytes

    @property
    def held(self) -> int:
        """Bytes of the copies kept."""
        return self._bytes

    def __call__(self, page: Page) -> bytes:
        key = page.tag
        found = self._copies.get(key)
        if found is not None:
            self._copies.move_to_end(key)
            return found
        packed = self._copies[key] = gzip(page.body)
        self._bytes += len(packed)
        while self._bytes > self._max and len(self._copies) > 1:
            self._bytes -= len(self._copies.popitem(last=False)[1])
        return packed


class Streamed:
    """One gzip stream across an answer's chunks (an export), flushed at each so that the
    client can decode what has arrived."""

    def __init__(self) -> None:
        self._compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, GZIP)

    def chunk(self, data: bytes) -> bytes:
        return self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)

    def end(self) -> bytes:
        return self._compressor.flush()
