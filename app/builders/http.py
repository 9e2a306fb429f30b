"""The HTTP side: the middleware stack for the settings, and one route a path."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from starlette.middleware import Middleware
from starlette.routing import Route

from app.http.auth import Authenticate
from app.http.cors import ExactOriginCors
from app.http.middleware import RequestContext, Traced
from app.http.openapi import Handler, Operation
from app.http.routing import FixedRoutes, Methods
from app.observability.logging import AccessLog
from app.observability.metrics import Metrics
from app.observability.tracing import Tracing
from app.settings import Settings

if TYPE_CHECKING:
    from app.auth.tokens import TokenVerifier


def middleware_for(
    settings: Settings,
    verifier: TokenVerifier | None,
    operations: Sequence[Operation],
    routes: Sequence[Route],
    metrics: Metrics | None = None,
    tracing: Tracing | None = None,
    access_log: AccessLog | None = None,
) -> list[Middleware]:
    """Request ids and headers always, metrics unless off; spans when tracing; CORS only for listed
    origins; tokens only when on; then the routes of fixed paths, found by their path."""
    stack = [
        Middleware(
            RequestContext,
            max_header_bytes=settings.max_header_bytes,
            deadline_seconds=settings.request_deadline_seconds,
            metrics=metrics,
            access_log=access_log,
            server_timing=settings.server_timing,
        )
    ]
    if tracing is not None:
        stack.append(Middleware(Traced, tracer=tracing.tracer))
    if settings.cors_origin_list:
        stack.append(
            Middleware(
                ExactOriginCors,
                origins=settings.cors_origin_list,
                allow_credentials=settings.cors_allow_credentials,
                methods=["GET", "POST", "PATCH", "DELETE"],
                request_headers=[
                    *("Authorization", "Content-Type", "X-Request-ID", "Idempotency-Key"),
                    *("If-Match", "If-None-Match"),
                ],
                expose_headers=[
                    *("Location", "Link", "ETag", "X-Request-ID", "Idempotent-Replayed"),
                    *("Retry-After", "RateLimit", "RateLimit-Policy"),
                ],
            )
        )
    if verifier is not None:
        public = frozenset(op.path for op in operations if op.public)
        stack.append(Middleware(Authenticate, verifier=verifier, public=public))
    stack.append(Middleware(FixedRoutes, routes=routes))
    return stack


def routes_for(operations: Sequence[Operation]) -> list[Route]:
    """One Starlette route a path, dispatching on the method, so 405 answers list every method."""
    by_path: dict[str, dict[str, Handler]] = {}
    for op in operations:
        by_path.setdefault(op.path, {})[op.method] = op.handler
    routes = []
    for path, handlers in by_path.items():
        handler = next(iter(handlers.values())) if len(handlers) == 1 else Methods(handlers).handle
        routes.append(Route(path, handler, methods=list(handlers)))
    return routes
