"""Prometheus metrics, served at GET /metrics in the text format by prometheus-client.

Names and labels are the ones the service's dashboards and alerts use: `request_duration_seconds` and
`requests_total` by {method, endpoint, status}, `data_records_created_total`,
`payload_size_bytes`, `cache_operations_total` by {operation, result} (and the tier that
answered); beside them what an on-call engineer needs: rate-limit decisions, breaker states
and transitions, retries, pool waits and timeouts, Redis round trips, leases, build info.

Label values are bounded whatever clients send: `endpoint` is the matched route's template
(`/data/{id}`), and every path no route matches shares `unmatched`; a method the service does
not serve is `other`.

The request path only adds to plain integers and floats (tallies.py; components such as the
cache, the pools and the breakers keep their own); prometheus-client reads them when scraped,
through a collector, and writes the exposition. Its own Counter and Histogram take a lock on
every increment, which would cost a cached read several times what these do (docs/performance.md,
"Figures behind the code's choices").

One registry per app (tests build many apps in one process). One worker process per
container: the chart's default (granian's default is one worker); several workers in one
container would each count their own, and a scrape would see one of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple, Protocol

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from app.ports.cache import CacheStats
from app.ports.storage import PoolUsage
from app.tallies import Spread, Tally


class BreakerState(Protocol):
    """What the metrics read of a breaker (resilience/breakers.py) when scraped."""

    @property
    def state(self) -> str: ...

    transitions: dict[str, int]


# Request latency: finer below 5 ms, where cached reads answer, up to the request deadline.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075,
    0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
SIZE_BUCKETS = (256, 1024, 4096, 16384, 65536, 262144, 1048576, 8388608)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
BREAKER_STATES = ("closed", "open", "half-open")


def buckets(spread: Spread) -> list[tuple[str, float]]:
    """Cumulative (upper bound, count) pairs, +Inf last, as the exposition wants them."""
    running, out = 0, []
    for bound, count in zip((*map(floatToGoString, spread.bounds), "+Inf"), spread.counts, strict=True):
        running += count
        out.append((bound, float(running)))
    return out


class _Prefixed(Collector):
    """A collector's families under `namespace_` (APP_METRICS_NAMESPACE), for a Prometheus that
    several services share; as they are when the namespace is empty."""

    def __init__(self, inner: Collector, namespace: str) -> None:
        self._inner = inner
        self._prefix = f"{namespace}_" if namespace else ""

    def collect(self) -> Iterable[Metric]:
        if not self._prefix:
            yield from self._inner.collect()
            return
        for family in self._inner.collect():
            family.name = self._prefix + family.name
            family.samples = [s._replace(name=self._prefix + s.name) for s in family.samples]
            yield family


class Counted(NamedTuple):
    """A counter family (or with `gauge`, a gauge) whose samples a component keeps: read when
    scraped."""

    name: str
    help: str
    labels: Sequence[str]
    read: Callable[[], Iterable[tuple[Sequence[str], float]]]
    gauge: bool = False


class _Families(Collector):
    """Every number of the service, as metric families, when scraped."""

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
            duration.add_metric(values, buckets(spread), spread.total)
            requests.add_metric(values, float(spread.count))
        yield duration
        yield requests
        created = CounterMetricFamily("data_records_created", "Records stored (bulk items included)")
        created.add_metric([], float(m.records_created.value))
        yield created
        sizes = HistogramMetricFamily("payload_size_bytes", "Size of stored records' payloads")
        sizes.add_metric([], buckets(m.payload_size), m.payload_size.total)
        yield sizes
        yield self._cache()
        decisions = CounterMetricFamily(
            "rate_limit_decisions", "Decisions of the per-user limit", labels=["decision"]
        )
        decisions.add_metric(["admitted"], float(m.admitted.value))
        decisions.add_metric(["refused"], float(m.refused.value))
        yield decisions
        yield from self._breakers()
        yield from self._pools()
        users = GaugeMetricFamily(
            "unique_users_active", "Distinct users whose requests were served", labels=["time_window"]
        )
        for window, count in m.active_users.items():
            users.add_metric([window], float(count))
        yield users
        for counted in m.counted:
            family = GaugeMetricFamily if counted.gauge else CounterMetricFamily
            tallied = family(counted.name, counted.help, labels=list(counted.labels))
            for sample, number in counted.read():
                tallied.add_metric(list(sample), number)
            yield tallied

    def _cache(self) -> Metric:
        cache = CounterMetricFamily(
            "cache_operations",
            "Page cache lookups by result, and by the tier that answered: this process's copy"
            " (local) or the shared cache (redis)",
            labels=["operation", "result", "tier"],
        )
        stats = self._metrics.cache
        if stats is None:
            return cache
        shared = stats.shared
        cache.add_metric(["get", "hit", "local"], float(stats.local_hits))
        cache.add_metric(["get", "miss", shared or "local"], float(stats.misses))
        cache.add_metric(["get", "stale", "local"], float(stats.stale))
        if shared is not None:
            cache.add_metric(["get", "hit", shared], float(stats.shared_hits))
            cache.add_metric(["get", "error", shared], float(stats.errors))
        return cache

    def _breakers(self) -> Iterable[Metric]:
        states = GaugeMetricFamily(
            "breaker_state", "Circuit breaker state: 1 for the current one", labels=["dependency", "state"]
        )
        moves = CounterMetricFamily(
            "breaker_transitions",
            "Circuit breaker transitions by the state entered",
            labels=["dependency", "to"],
        )
        for dependency, breaker in self._metrics.breakers.items():
            now = breaker.state
            for name in BREAKER_STATES:
                states.add_metric([dependency, name], 1.0 if now == name else 0.0)
                moves.add_metric([dependency, name], float(breaker.transitions.get(name, 0)))
        yield states
        yield moves

    def _pools(self) -> Iterable[Metric]:
        names = ["pool", "database"]
        active = GaugeMetricFamily("active_connections", "Pooled connections lent out now", labels=names)
        opened = GaugeMetricFamily("pool_connections_open", "Connections a pool holds open", labels=names)
        most = GaugeMetricFamily("pool_connections_max", "The most connections a pool opens", labels=names)
        waits = HistogramMetricFamily(
            "pool_acquire_seconds", "Time a call waited for a pooled connection", labels=names
        )
        timeouts = CounterMetricFamily(
            "pool_acquire_timeouts", "Calls that gave up waiting for a pooled connection", labels=names
        )
        for database, pools in self._metrics.pools.items():
            for usage in pools():
                values = [usage.pool, database]
                active.add_metric(values, float(usage.in_use))
                opened.add_metric(values, float(usage.open))
                most.add_metric(values, float(usage.max))
                if usage.waits is not None:
                    waits.add_metric(values, buckets(usage.waits), usage.waits.total)
                    timeouts.add_metric(values, float(usage.timeouts))
        yield from (active, opened, most, waits, timeouts)


class Metrics:
    """The service's metrics, in a registry of their own."""

    def __init__(self, *, version: str, dialect: str, server: str, cache: str, namespace: str = "") -> None:
        self.registry = CollectorRegistry()
        self._series: dict[tuple[str, str, int], Spread] = {}
        self.records_created = Tally()
        self.payload_size = Spread(SIZE_BUCKETS)
        self.cache: CacheStats | None = None
        self.admitted = Tally()
        self.refused = Tally()
        self.breakers: dict[str, BreakerState] = {}
        self.pools: dict[str, Callable[[], list[PoolUsage]]] = {}  # by database (the dialect)
        self.users_seen: set[str] = set()  # since the last count (observability/users.py)
        self.active_users: dict[str, int] = {}  # by time window, as last counted
        self.counted: list[Counted] = []
        build = Info("build", "The running build", registry=None)
        build.info({"version": version, "dialect": dialect, "server": server, "cache": cache})
        self.registry.register(_Prefixed(_Families(self), namespace))
        self.registry.register(_Prefixed(build, namespace))
        # The process's own (CPU, memory, open files, start time) and the interpreter's (version,
        # garbage collections), under their standard names whatever the namespace.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)

    def watch_breakers(self, breakers: Mapping[str, BreakerState]) -> None:
        """Report these breakers' states and transitions (read when scraped, so never stale)."""
        self.breakers.update(breakers)

    def watch_cache(self, stats: CacheStats) -> None:
        """Report the page cache's lookups."""
        self.cache = stats

    def watch_counter(self, counted: Counted) -> None:
        """Report a counter that a component keeps (retries, round trips, leases)."""
        self.counted.append(counted)

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
