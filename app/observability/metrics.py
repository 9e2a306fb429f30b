"""Prometheus metrics (prometheus-client), served at GET /metrics in the text format.

Names and labels follow the architecture document: `request_duration_seconds` and
`requests_total` by {method, endpoint, status}, `data_records_created_total`,
`payload_size_bytes`, `cache_operations_total` by {operation, result}; beside them what an
on-call engineer needs: rate-limit decisions, breaker state, build info.

Label values are bounded whatever clients send: `endpoint` is the matched route's template
(`/data/{id}`), and every path no route matches shares `unmatched`; a method the service does
not serve is `other`. Each label combination's children are bound once and kept, so a request
costs two calls on pre-bound children (prometheus-client's `.labels()` per request costs
about twice as much).

One registry per app (tests build many apps in one process). One worker process per
container: the chart's default (granian's default is one worker); several workers in one
container would each count their own, and a scrape would see one of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, Info, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# Request latency: finer below 5 ms, where cached reads answer, up to the request deadline.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075,
    0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
SIZE_BUCKETS = (256, 1024, 4096, 16384, 65536, 262144, 1048576, 8388608)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
UNMATCHED = "unmatched"
BREAKER_STATES = ("closed", "open", "half-open")


class _Breakers(Collector):
    """breaker_state{dependency, state}: 1 for the state each breaker is in, read at scrape time."""

    def __init__(self, states: dict[str, Callable[[], str]]) -> None:
        self._states = states

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "breaker_state", "Circuit breaker state: 1 for the current one", labels=["dependency", "state"]
        )
        for dependency, state in self._states.items():
            now = state()
            for name in BREAKER_STATES:
                family.add_metric([dependency, name], 1.0 if now == name else 0.0)
        yield family


class Metrics:
    """The service's metrics, in a registry of their own."""

    def __init__(self, *, version: str, dialect: str, server: str, cache: str) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        labels = ["method", "endpoint", "status"]
        self._duration = Histogram(
            "request_duration_seconds",
            "Time from a request's arrival to its answer's last byte",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._requests = Counter("requests", "Requests answered", labels, registry=registry)
        self._children: dict[tuple[str, str, int], tuple[Callable[[float], None], Callable[[], None]]] = {}
        self.records_created = Counter(
            "data_records_created", "Records stored (bulk items included)", registry=registry
        )
        self.payload_size = Histogram(
            "payload_size_bytes", "Size of stored records' payloads", buckets=SIZE_BUCKETS, registry=registry
        )
        cache_operations = Counter(
            "cache_operations", "Page cache lookups by result", ["operation", "result"], registry=registry
        )
        self.cache_hit = cache_operations.labels("get", "hit").inc
        self.cache_miss = cache_operations.labels("get", "miss").inc
        self.cache_stale = cache_operations.labels("get", "stale").inc
        decisions = Counter(
            "rate_limit_decisions", "Decisions of the per-user limit", ["decision"], registry=registry
        )
        self.admitted = decisions.labels("admitted").inc
        self.refused = decisions.labels("refused").inc
        Info("build", "The running build", registry=registry).info(
            {"version": version, "dialect": dialect, "server": server, "cache": cache}
        )

    def watch_breakers(self, states: dict[str, Callable[[], str]]) -> None:
        """Report these breakers' states (read when scraped, so never stale)."""
        self.registry.register(_Breakers(states))

    def request(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        """One answered request."""
        key = (method, endpoint, status)
        bound = self._children.get(key)
        if bound is None:
            bound = self._bind(key)
        bound[0](seconds)
        bound[1]()

    def _bind(self, key: tuple[str, str, int]) -> tuple[Callable[[float], None], Callable[[], None]]:
        method, endpoint, status = key
        if method not in METHODS and method != "other":
            # A client's invented method: one label value for all of them, and nothing kept
            # under its own name (clients could send any number of them).
            other = self._children.get(("other", endpoint, status))
            return other if other is not None else self._bind(("other", endpoint, status))
        values = (method, endpoint, str(status))
        bound = (self._duration.labels(*values).observe, self._requests.labels(*values).inc)
        self._children[key] = bound
        return bound

    def exposition(self) -> bytes:
        """The text exposition of every metric."""
        return generate_latest(self.registry)


def route_template(scope: Mapping[str, Any]) -> str:
    """The matched route's path template, or UNMATCHED."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED
