"""The in-process count of users seen lately: windows forget users as their buckets age out."""

from __future__ import annotations

import asyncio

from app.adapters.memory.audience import MAX_PER_BUCKET, MemoryAudience

T0 = 1_800_000_000.0  # on a whole hour


def test_users_leave_the_short_window_first() -> None:
    audience = MemoryAudience()

    async def run() -> list[dict[str, int]]:
        await audience.add({"a", "b"}, T0)
        await audience.add({"b", "c"}, T0 + 30)
        first = await audience.counts(T0 + 30)
        await audience.add({"d"}, T0 + 600)  # ten minutes on: a and b are out of the 5m window
        later = await audience.counts(T0 + 600)
        await audience.add(set(), T0 + 2 * 86400)
        gone = await audience.counts(T0 + 2 * 86400)
        return [first, later, gone]

    first, later, gone = asyncio.run(run())

    assert first == {"5m": 3, "1h": 3, "24h": 3}
    assert later == {"5m": 1, "1h": 4, "24h": 4}
    assert gone == {"5m": 0, "1h": 0, "24h": 0}


def test_a_flood_of_invented_users_is_bounded() -> None:
    audience = MemoryAudience()
    counts = asyncio.run(_flood(audience))
    assert counts["5m"] == MAX_PER_BUCKET


async def _flood(audience: MemoryAudience) -> dict[str, int]:
    await audience.add({f"u{i}" for i in range(MAX_PER_BUCKET + 500)}, T0)
    return await audience.counts(T0)
