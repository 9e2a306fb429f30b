"""Plain numbers that the request path adds to and the metrics read when scraped
(observability/metrics.py): no lock, no label lookup, a few tens of nanoseconds each. The
service's code runs on one event loop thread, so nothing else writes them meanwhile.

Components that count what they do (a cache's hits, a pool's waits, a breaker's transitions)
hold these themselves; the app hands them to the metrics once, at start."""

from __future__ import annotations

from bisect import bisect_left

# Waits for a pooled connection: from none at all to the database timeout.
WAIT_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Tally:
    """A counter: one integer."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def inc(self, amount: int = 1) -> None:
        self.value += amount


class Spread:
    """A histogram: a count per bucket and a sum."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one: above every bound
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # a bound holds values <= it
        self.total += value

    @property
    def count(self) -> int:
        return sum(self.counts)
