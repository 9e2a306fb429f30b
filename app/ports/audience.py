"""Where the users seen lately are counted, for unique_users_active{time_window}: Redis (every
process of a Deployment into one count) or the process's own memory."""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

# (label, span in seconds, bucket in seconds): a window counts the users of its last
# span / bucket buckets, the current one included, so it reaches back between span - bucket
# and span seconds.
WINDOWS = (("5m", 300, 60), ("1h", 3600, 300), ("24h", 86400, 3600))


def buckets(span: int, size: int, now: float) -> range:
    """The numbers of a window's buckets at `now` (bucket n covers [n * size, (n + 1) * size))."""
    last = int(now // size)
    return range(last - span // size + 1, last + 1)


class Audience(Protocol):
    async def add(self, users: Collection[str], now: float) -> None:
        """Note these users as seen at `now`; raises when the store is away."""
        ...

    async def counts(self, now: float) -> dict[str, int]:
        """How many distinct users each window of WINDOWS saw, by its label."""
        ...
