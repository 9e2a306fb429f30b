"""Prometheus metrics, served at GET /metrics in the text format by prometheus-client.

Names and labels follow the architecture document: `request_duration_seconds` and
`requests_total` by {method, endpoint, status}, `data_records_created_total`,
`payload_size_bytes`, `cache_operations_total` by {operation, result}; beside them what an
on-call engineer needs: rate-limit decisions, breaker state, build info.

Label values are bounded whatever clients send: `endpoint` is the matched route's template
(`/data/{id}`), and every path no route matches shares `unmatched`; a method the service does
not serve is `other`.

The request path only adds to plain integers and floats (a list slot per histogram bucket, a
slot per counter); prometheus-client reads them when scraped, through collectors, and writes
the exposition. Its own Counter and Histogram take a lock on every increment: a request's
observe, inc and the cache and limiter counters cost 2.9 us with them, 0.5 us this way
(docs/performance.md), against ~20 us for a whole cached read. The service's code runs on one
event loop thread, so nothing else writes these numbers meanwhile.

One registry per app (tests build many apps in one process). One worker process per
container: the chart's default (granian's default is one worker); several workers in one
container would each count their own, and a scrape would see one of them.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Info, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from app.ports.storage import PoolUsage

# Request latency: finer below 5 ms, where cached reads answer, up to the request deadline.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075,
    0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
SIZE_BUCKETS = (256, 1024, 4096, 16384, 65536, 262144, 1048576, 8388608)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
UNMATCHED = "unmatched"
BREAKER_STATES = ("closed", "open", "half-open")


class Tally:
    """A counter on the request path: one integer, read when scraped."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def inc(self, amount: int = 1) -> None:
        self.value += amount


class Spread:
    """A histogram on the request path: a count per bucket and a sum, read when scraped."""

    __slots__ = ("_bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one: above every bound
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self._bounds, value)] += 1  # a bound holds values <= it
        self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative (upper bound, count) pairs, +Inf last, as the exposition wants them."""
        running, out = 0, []
        for bound, count in zip((*map(floatToGoString, self._bounds), "+Inf"), self.counts, strict=True):
            running += count
            out.append((bound, float(running)))
        return out


class _Families(Collector):
    """Every Tally and Spread of the service, as metric families, when scraped."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        m = self._metrics
        labels = ["method", "endpoint", "status"]
        duration = HistogramMetricFamily(
            "request_duration_seconds",
            "Time from a request's arrival to its answer's last byte",
            labels=labels,
        )
        requests = CounterMetricFamily("requests", "Requests answered", labels=labels)
        for values, spread in m.request_series():
            duration.add_metric(values, spread.buckets(), spread.total)
            requests.add_metric(values, float(sum(spread.counts)))
        yield duration
        yield requests
        created = CounterMetricFamily("data_records_created", "Records stored (bulk items included)")
        created.add_metric([], float(m.records_created.value))
        yield created
        sizes = HistogramMetricFamily("payload_size_bytes", "Size of stored records' payloads")
        sizes.add_metric([], m.payload_size.buckets(), m.payload_size.total)
        yield sizes
        cache = CounterMetricFamily(
            "cache_operations", "Page cache lookups by result", labels=["operation", "result"]
        )
        for result, tally in (("hit", m.cache_hits), ("miss", m.cache_misses), ("stale", m.cache_stale)):
            cache.add_metric(["get", result], float(tally.value))
        yield cache
        decisions = CounterMetricFamily(
            "rate_limit_decisions", "Decisions of the per-user limit", labels=["decision"]
        )
        decisions.add_metric(["admitted"], float(m.admitted.value))
        decisions.add_metric(["refused"], float(m.refused.value))
        yield decisions
        breakers = GaugeMetricFamily(
            "breaker_state", "Circuit breaker state: 1 for the current one", labels=["dependency", "state"]
        )
        for dependency, state in m.breakers.items():
            now = state()
            for name in BREAKER_STATES:
                breakers.add_metric([dependency, name], 1.0 if now == name else 0.0)
        yield breakers
        active = GaugeMetricFamily(
            "active_connections", "Pooled connections lent out now", labels=["pool", "database"]
        )
        opened = GaugeMetricFamily(
            "pool_connections_open", "Connections a pool holds open", labels=["pool", "database"]
        )
        most = GaugeMetricFamily(
            "pool_connections_max", "The most connections a pool opens", labels=["pool", "database"]
        )
        for database, pools in m.pools.items():
            for usage in pools():
                active.add_metric([usage.pool, database], float(usage.in_use))
                opened.add_metric([usage.pool, database], float(usage.open))
                most.add_metric([usage.pool, database], float(usage.max))
        yield active
        yield opened
        yield most
        users = GaugeMetricFamily(
            "unique_users_active", "Distinct users whose requests were served", labels=["time_window"]
        )
        for window, count in m.active_users.items():
            users.add_metric([window], float(count))
        yield users


class Metrics:
    """The service's metrics, in a registry of their own."""

    def __init__(self, *, version: str, dialect: str, server: str, cache: str) -> None:
        self.registry = CollectorRegistry()
        self._series: dict[tuple[str, str, int], Spread] = {}
        self.records_created = Tally()
        self.payload_size = Spread(SIZE_BUCKETS)
        self.cache_hits = Tally()
        self.cache_misses = Tally()
        self.cache_stale = Tally()
        self.admitted = Tally()
        self.refused = Tally()
        self.breakers: dict[str, Callable[[], str]] = {}
        self.pools: dict[str, Callable[[], list[PoolUsage]]] = {}  # by database (the dialect)
        self.users_seen: set[str] = set()  # since the last count (observability/users.py)
        self.active_users: dict[str, int] = {}  # by time window, as last counted
        self.registry.register(_Families(self))
        Info("build", "The running build", registry=self.registry).info(
            {"version": version, "dialect": dialect, "server": server, "cache": cache}
        )

    def watch_breakers(self, states: dict[str, Callable[[], str]]) -> None:
        """Report these breakers' states (read when scraped, so never stale)."""
        self.breakers.update(states)

    def watch_pools(self, database: str, pools: Callable[[], list[PoolUsage]]) -> None:
        """Report these connection pools (read when scraped)."""
        self.pools[database] = pools

    def request(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        """One answered request."""
        series = self._series.get((method, endpoint, status))
        if series is None:
            series = self._new_series(method, endpoint, status)
        series.observe(seconds)

    def _new_series(self, method: str, endpoint: str, status: int) -> Spread:
        if method not in METHODS:
            # A client's invented method: one label value for all of them, and nothing kept
            # under its own name (clients could send any number of them).
            method = "other"
            known = self._series.get((method, endpoint, status))
            if known is not None:
                return known
        series = self._series[(method, endpoint, status)] = Spread(LATENCY_BUCKETS)
        return series

    def request_series(self) -> list[tuple[list[str], Spread]]:
        """Each (method, endpoint, status) seen, with its latency spread."""
        return [([m, e, str(s)], spread) for (m, e, s), spread in list(self._series.items())]

    def exposition(self) -> bytes:
        """The text exposition of every metric."""
        return generate_latest(self.registry)


def route_template(scope: Mapping[str, Any]) -> str:
    """The matched route's path template, or UNMATCHED."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED
