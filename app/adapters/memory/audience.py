"""Users seen lately, in this process's memory: a set per window bucket, each bounded, so a
flood of invented user ids costs at most MAX_PER_BUCKET entries a bucket; past that the count
is a floor."""

from __future__ import annotations

from collections.abc import Collection

from app.ports.audience import WINDOWS, buckets

MAX_PER_BUCKET = 100_000


class MemoryAudience:
    def __init__(self) -> None:
        self._seen: dict[tuple[str, int], set[str]] = {}

    async def add(self, users: Collection[str], now: float) -> None:
        for label, span, size in WINDOWS:
            kept = buckets(span, size, now)
            for key in [key for key in self._seen if key[0] == label and key[1] not in kept]:
                del self._seen[key]
            bucket = self._seen.setdefault((label, kept[-1]), set())
            for user in users:
                if len(bucket) >= MAX_PER_BUCKET:
                    break
                bucket.add(user)

    async def counts(self, now: float) -> dict[str, int]:
        found = {}
        for label, span, size in WINDOWS:
            union: set[str] = set()
            for number in buckets(span, size, now):
                union |= self._seen.get((label, number), set())
            found[label] = len(union)
        return found
