"""What the answers derive from a cached list page (its gzip copy), made once per page and
process and kept, the most recently used first, up to a bound.

A page is found by its hash (which a bytes object computes once and keeps: the page cache's
local copy answers every hit with the same object), its length and its first bytes (the first
record's id and owner). Only the derived value is held, not the page: a page served from Redis,
a new object equal to the last, costs one hash of its bytes (~5 us for 20 KB), not the work
that derived the value again (a compression: ~100 us).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Derived(Generic[T]):
    """`derive(page)` for each page, kept while the values' sizes stay within `max_bytes`."""

    def __init__(self, derive: Callable[[bytes], T], size: Callable[[T], int], max_bytes: int) -> None:
        self._derive = derive
        self._size = size
        self._kept: OrderedDict[tuple[int, int, bytes], T] = OrderedDict()
        self._bytes = 0
        self._max = max_bytes

    @property
    def held(self) -> int:
        """Bytes of the values kept."""
        return self._bytes

    def __call__(self, page: bytes) -> T:
        key = (hash(page), len(page), page[:160])
        found = self._kept.get(key)
        if found is not None:
            self._kept.move_to_end(key)
            return found
        value = self._derive(page)
        self._kept[key] = value
        self._bytes += self._size(value)
        while self._bytes > self._max and len(self._kept) > 1:
            self._bytes -= self._size(self._kept.popitem(last=False)[1])
        return value
