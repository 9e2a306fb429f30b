"""OpenTelemetry traces, on only when the standard OTEL_* variables name an exporter.

Decided once, at start (`tracing_from_env`): with no exporter the app holds no tracer, the
tracing middleware is not in the stack and the cache and database are not wrapped, so tracing
costs nothing at all (the API's no-op `start_as_current_span` would still cost something on
every request). With one: a server span per request named by its route template (`GET /data/{id}`),
whose parent is the caller's W3C `traceparent` when it sent one, and a client span around each
page-cache and database call (app/observability/phases.py); the request's log lines carry its
`trace_id`.

The OpenTelemetry SDK reads the rest of its standard variables itself: OTEL_SERVICE_NAME and
OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER(_ARG), OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT,
_HEADERS, _TIMEOUT and the like. The SDK is the `tracing` extra of the package."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from app.errors import ConfigError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Tracer

SERVICE = "data-service"
EXPORTERS = ("otlp", "console", "none")


def wanted(environ: Mapping[str, str]) -> str | None:
    """The exporter the OTEL_* variables ask for (otlp or console), None when tracing is off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    named = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if named:
        first = named.split(",")[0].strip()
        if first not in EXPORTERS:
            raise ConfigError(f"OTEL_TRACES_EXPORTER must be one of {', '.join(EXPORTERS)}, not {first!r}")
        return None if first == "none" else first
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return "otlp" if endpoint else None


class Tracing:
    """A tracer of a provider of its own (never the global one: each app its own, as in the
    tests), sending spans to `exporter` in batches from a thread of the SDK, or one by one."""

    def __init__(self, exporter: SpanExporter, *, batch: bool = True) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        # Resource.create adds OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES over this default.
        self._provider = TracerProvider(resource=Resource.create({"service.name": SERVICE}))
        self._provider.add_span_processor(
            BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
        )
        self.tracer: Tracer = self._provider.get_tracer(SERVICE)

    async def close(self) -> None:
        """Send the spans still buffered (within the exporter's timeout), then stop."""
        await asyncio.to_thread(self._provider.shutdown)


def tracing_from_env(environ: Mapping[str, str] | None = None) -> Tracing | None:
    """Tracing exported where the variables say, or None when it is off."""
    env = os.environ if environ is None else environ
    exporter_name = wanted(env)
    if exporter_name is None:
        return None
    try:
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter
    except ImportError:
        raise ConfigError(
            "tracing is asked for by the OTEL_* variables, but the OpenTelemetry SDK is not "
            "installed: install the package with its `tracing` extra"
        ) from None
    exporter: SpanExporter
    if exporter_name == "console":
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    return Tracing(exporter)
