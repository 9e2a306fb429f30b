"""Plain ASGI middleware around every request."""

from __future__ import annotations

import functools
import math
import re
import time
from random import getrandbits
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import HeadersTooLarge
from app.http.budget import RELEASE
from app.http.compression import accepts_gzip
from app.http.responses import problem_response
from app.observability import context, phases
from app.observability.context import route_template
from app.observability.logging import AccessLog
from app.observability.metrics import Metrics
from app.observability.phases import Spent
from app.resilience import deadline

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

_CLIENT_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")


class RequestContext:
    """Gives each request an id (the client's X-Request-ID when well formed) and echoes it,
    with the headers every answer carries; refuses oversized headers with 431 (each server
    has a limit of its own, and uvicorn's httptools parser a generous one); starts the
    request's deadline (app/resilience/deadline.py); counts and times every answer (metrics)."""

    def __init__(
        self,
        app: ASGIApp,
        max_header_bytes: int = 16_384,
        deadline_seconds: float = 10.0,
        metrics: Metrics | None = None,
        access_log: AccessLog | None = None,
        server_timing: bool = False,
    ) -> None:
        self.app = app
        self.server_timing = server_timing
        self.max_header_bytes = max_header_bytes
        self.deadline_seconds = deadline_seconds
        self.metrics = metrics
        self.access_log = access_log if access_log is not None and access_log.enabled else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        deadline.start(self.deadline_seconds)
        request_id = b""
        length = b""
        size = 0
        for name, value in scope["headers"]:
            size += len(name) + len(value) + 4
            if name == b"x-request-id" and _CLIENT_ID.match(value):
                request_id = value
            elif name == b"content-length":
                length = value
            elif name == b"accept-encoding":
                scope["gzip"] = accepts_gzip(value)
            elif name == b"if-none-match":
                scope["if_none_match"] = value  # the first, compared as sent (conditional.py)
        if not request_id:
            request_id = b"%032x" % getrandbits(128)
        scope["request_id"] = text_id = request_id.decode()
        context.scope.set(scope)
        # Records are private to their owner: no shared cache may keep an answer.
        extra = [
            (b"x-request-id", request_id),
            (b"x-content-type-options", b"nosniff"),
            (b"cache-control", b"no-store"),
        ]

        status = 500  # what the server answers when the app fails before it could
        timing = None
        if self.server_timing:
            timing = Spent()
            phases.spent.set(timing)

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra]
                if "cache_control" in scope:  # the service's own fixed files (responses.Fixed)
                    message["headers"][-1] = (b"cache-control", scope["cache_control"])
                quota = scope.get(context.QUOTA)
                if quota is not None:
                    message["headers"] += rate_limit_headers(*quota)
                if timing is not None:
                    message["headers"].append(
                        (b"server-timing", timing.header(time.perf_counter() - started))
                    )
            await send(message)

        try:
            if size > self.max_header_bytes:
                problem = HeadersTooLarge(f"request headers may hold at most {self.max_header_bytes} bytes")
                await problem_response(Request(scope), problem)(scope, receive, send_with_headers)
                return
            await self.app(scope, receive, send_with_headers)
        finally:
            if (release := scope.get(RELEASE)) is not None:
                release()  # the request body's bytes, held since it was read (budget.py)
            took = time.perf_counter() - started
            endpoint = route_template(scope)
            if self.metrics is not None:
                self.metrics.request(scope["method"], endpoint, status, took)
            if self.access_log is not None:
                self.access_log.write(
                    status,
                    scope["method"],
                    endpoint,
                    took,
                    scope.get(context.CHARGED),
                    int(length) if length.isdigit() else None,
                    scope.get("problem"),
                    scope.get("trace_id"),
                    text_id,
                )


@functools.cache
def _policy(limit: int, window: int) -> tuple[bytes, bytes]:
    return (b"ratelimit-policy", b'"per-user";q=%d;w=%d' % (limit, window))


def rate_limit_headers(limit: int, window: int, remaining: int) -> list[tuple[bytes, bytes]]:
    """RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers) of an answer that
    spent a token: the quota, what is left, and the seconds until the bucket is full again."""
    refill = math.ceil((limit - remaining) * window / limit) if limit else 0
    return [_policy(limit, window), (b"ratelimit", b'"per-user";r=%d;t=%d' % (remaining, refill))]


class Traced:
    """A server span around each request (only in the stack when tracing is on: tracing.py):
    the caller's W3C `traceparent` (and `tracestate`) is its parent, its name the route
    template once routed (`GET /data/{id}`), its status the answer's; the trace id goes into
    the scope for the access line. Everything the request does runs within it, so the cache's
    and the database's spans are its children."""

    def __init__(self, app: ASGIApp, tracer: Tracer) -> None:
        from opentelemetry.trace import SpanKind
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.app = app
        self.tracer = tracer
        self.propagator = TraceContextTextMapPropagator()
        self.server = SpanKind.SERVER

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from opentelemetry.trace import Status, StatusCode

        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in (b"traceparent", b"tracestate")
        }
        parent = self.propagator.extract(carrier) if carrier else None
        method = scope["method"]
        with self.tracer.start_as_current_span(
            method, context=parent, kind=self.server, attributes={"http.request.method": method}
        ) as span:
            scope["trace_id"] = format(span.get_span_context().trace_id, "032x")
            status = 500

            async def send_status(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await self.app(scope, receive, send_status)
            finally:
                route = route_template(scope)
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if scope.get("problem"):
                    span.set_attribute("error.type", scope["problem"])
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
