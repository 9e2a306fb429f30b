"""Where a request's time goes: the page cache, the limiter and the database, measured around
the service's calls to them, for the `Server-Timing` header (APP_SERVER_TIMING) and the
client spans of a trace (tracing.py).

A `Stopwatch` measures one phase's calls; the app makes them only when one of the two is on, so
with both off nothing stands in the way. A measured call adds its time to the request's `Spent`
(a context variable the middleware sets) and, when tracing, runs in a span named after the call
(`db get_by_id`)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextvars import ContextVar
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

T = TypeVar("T")
PHASES = ("cache", "limit", "db")


class Spent:
    """Seconds a request spent in each phase so far."""

    __slots__ = ("cache", "db", "limit")

    def __init__(self) -> None:
        self.cache = self.limit = self.db = 0.0

    def header(self, total: float) -> bytes:
        """The Server-Timing value, in milliseconds (phases never entered are left out)."""
        parts = [f"{name};dur={seconds * 1000:.3f}" for name in PHASES if (seconds := getattr(self, name))]
        parts.append(f"total;dur={total * 1000:.3f}")
        return ", ".join(parts).encode()


spent: ContextVar[Spent | None] = ContextVar("spent", default=None)


class Stopwatch:
    """Measures calls in one phase: each adds its time to the request's `Spent` and, when
    tracing, runs in a client span named after the call (`db get_by_id`). The one way the
    service times its dependencies: the repository's decorator (resilience/repository.py)
    holds one, `timed()` wraps the page cache and the read gate with one."""

    __slots__ = ("_attributes", "_kind", "_phase", "_tracer")

    def __init__(self, phase: str, tracer: Tracer | None, attributes: Mapping[str, str]) -> None:
        self._phase = phase
        self._tracer = tracer
        self._attributes = dict(attributes)
        if tracer is not None:
            from opentelemetry.trace import SpanKind

            self._kind = SpanKind.CLIENT

    async def run(self, name: str, call: Callable[[], Awaitable[T]]) -> T:
        started = time.perf_counter()
        try:
            if self._tracer is None:
                return await call()
            with self._tracer.start_as_current_span(
                f"{self._phase} {name}",
                kind=self._kind,
                attributes={**self._attributes, "data_service.operation": name},
            ):
                return await call()
        finally:
            current = spent.get()
            if current is not None:
                phase = self._phase
                setattr(current, phase, getattr(current, phase) + time.perf_counter() - started)


def timed(inner: T, methods: Iterable[str], watch: Stopwatch) -> T:
    """`inner` with each coroutine method named in `methods` measured by `watch`; the other
    attributes are the inner object's own."""
    return _Timed(inner, methods, watch)  # type: ignore[return-value]


class _Timed:
    def __init__(self, inner: object, methods: Iterable[str], watch: Stopwatch) -> None:
        self._inner = inner
        for name in methods:
            setattr(self, name, _measured(getattr(inner, name), name, watch))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _measured(
    method: Callable[..., Awaitable[Any]], name: str, watch: Stopwatch
) -> Callable[..., Awaitable[Any]]:
    @wraps(method)
    async def call(*args: Any, **kwargs: Any) -> Any:
        return await watch.run(name, lambda: method(*args, **kwargs))

    return call
