"""Where a request's time goes: the page cache, the limiter and the database, measured around
the service's calls to them, for the `Server-Timing` header (APP_SERVER_TIMING) and the
client spans of a trace (tracing.py).

`timed()` wraps a component's coroutine methods; the app wraps the page cache, the admission
and the repository only when one of the two is on, so with both off there is nothing in the
way. A wrapped call adds its time to the request's `Spent` (a context variable the middleware
sets) and, when tracing, runs in a span named after the call (`db get_by_id`)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
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


def timed(inner: T, phases: Mapping[str, str], tracer: Tracer | None, attributes: Mapping[str, str]) -> T:
    """`inner` with each coroutine method named in `phases` (method -> phase) measured; the
    other attributes are the inner object's own."""
    return _Timed(inner, phases, tracer, attributes)  # type: ignore[return-value]


class _Timed:
    def __init__(
        self, inner: object, phases: Mapping[str, str], tracer: Tracer | None, attributes: Mapping[str, str]
    ) -> None:
        self._inner = inner
        for name, phase in phases.items():
            if hasattr(inner, name):  # execute_plsql_procedure: Oracle's only
                setattr(self, name, _measured(getattr(inner, name), name, phase, tracer, attributes))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _measured(
    method: Callable[..., Awaitable[Any]],
    name: str,
    phase: str,
    tracer: Tracer | None,
    attributes: Mapping[str, str],
) -> Callable[..., Awaitable[Any]]:
    span_name = f"{phase} {name}"
    span_attributes = {**attributes, "data_service.operation": name}
    if tracer is not None:
        from opentelemetry.trace import SpanKind

        client = SpanKind.CLIENT

    @wraps(method)
    async def call(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            if tracer is None:
                return await method(*args, **kwargs)
            with tracer.start_as_current_span(span_name, kind=client, attributes=span_attributes):
                return await method(*args, **kwargs)
        finally:
            current = spent.get()
            if current is not None:
                setattr(current, phase, getattr(current, phase) + time.perf_counter() - started)

    return call
