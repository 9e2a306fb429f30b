"""The composition root: the one place that builds the parts (builders/, a concern each), hands
them to the routes, and sets the order in which the lifespan opens them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from app import __version__
from app.adapters.memory.audience import MemoryAudience
from app.adapters.redis.audience import RedisAudience
from app.builders.auth import build_authentication
from app.builders.http import middleware_for, routes_for
from app.builders.lifespan import Step, lifespan_of, nothing
from app.builders.observability import measured, replica_checks, watch
from app.builders.state import build_maintenance, build_shared_state
from app.builders.storage import build_storage
from app.errors import SchemaMissing, ServiceError
from app.http.budget import BodyBudget
from app.http.compression import CompressedPages
from app.http.metrics_port import MetricsPort
from app.http.overflow import Overflow
from app.http.requests import BodyLimits
from app.http.responses import (
    PageAnswers,
    ServiceErrors,
    http_exception_handler,
    unexpected_error_handler,
)
from app.lifecycle import Lifecycle
from app.observability.logging import AccessLog, LogFlush, configure_logging
from app.observability.metrics import Counted, Metrics
from app.observability.tracing import Tracing, tracing_from_env
from app.observability.users import ActiveUsers
from app.ports.audience import Audience
from app.ports.storage import RecordRepository
from app.routes.admin import AdminRoutes
from app.routes.auth import AuthRoutes
from app.routes.docs import DocsPage
from app.routes.metrics import MetricsRoutes
from app.routes.probes import OpenApiRoute, ProbeRoutes
from app.routes.procedures import ProcedureRoutes
from app.routes.records import RecordRoutes
from app.server import connection_cap, give_back_large_blocks
from app.services.history import History
from app.services.housekeeping import AnswerPurge
from app.services.records import RecordService
from app.settings import Settings

log = structlog.get_logger("app")


@dataclass(frozen=True, slots=True)
class Assembled:
    """The app, and the background work it runs on a timer (which a test may run at once)."""

    app: Starlette
    active_users: ActiveUsers  # counts the users seen, every 10 s
    log_flush: LogFlush  # writes the access lines kept, every second


async def schema_check(repository: RecordRepository) -> None:
    """Say at start, in the log, when the database was never migrated; a start never fails on
    it (the database may be migrated while the service runs: /ready says so meanwhile)."""
    try:
        await repository.ping()
    except SchemaMissing as missing:
        log.error("schema not migrated", hint=missing.hint)
    except Exception:  # unreachable and the like: the breaker and /ready report it
        return


def create_app(settings: Settings, *, served: bool = False, tracing: Tracing | None = None) -> Starlette:
    """The ASGI app for these settings (traced when `tracing` is given); connections open in
    its lifespan."""
    if served:
        give_back_large_blocks()
    return assemble(settings, served=served, tracing=tracing).app


def assemble(settings: Settings, *, served: bool = False, tracing: Tracing | None = None) -> Assembled:
    """Build every part for these settings and the app that serves them."""
    configure_logging(settings.log_level, traced=tracing is not None)
    shared_steps: list[Step] = []
    state = build_shared_state(settings, shared_steps)
    storage = build_storage(settings, state.positions, tracing)
    repository, database_breaker = storage.repository, storage.breaker
    purge = AnswerPurge(repository, every=settings.idempotency_purge_seconds)
    history = History(repository)  # which history of the database the cached pages belong to
    access_log = AccessLog(settings.access_log)
    flush = LogFlush(access_log)
    steps = [
        Step("database", repository.open, repository.close),
        Step("schema check", partial(schema_check, repository), nothing),
        Step("database history", history.start, history.close),
        Step("idempotency purge", purge.start, purge.close),
        Step("log flush", flush.start, flush.close),
        *shared_steps,
    ]
    redis = state.redis
    revocations, verifier = build_authentication(settings, redis, steps)
    maintenance = build_maintenance(settings, redis, steps)
    metrics = Metrics(
        version=__version__,
        dialect=settings.database_dialect,
        server=settings.server,
        cache="redis" if redis is not None else "memory",
        namespace=settings.metrics_namespace,
    )
    watch(metrics, settings, storage, state)
    # With metrics off the users seen are still drained, but nowhere counted.
    audience: Audience = MemoryAudience()
    if redis is not None and settings.metrics:
        audience = RedisAudience(redis.client, redis.breaker)
    active_users = ActiveUsers(metrics, audience)
    steps.append(Step("active users", active_users.start, active_users.close))
    if tracing is not None:
        steps.append(Step("tracing", nothing, tracing.close))
    parts = measured(settings, state, tracing)
    service = RecordService(
        repository,
        parts.cache,
        parts.limiter,
        parts.gate,
        maintenance=maintenance,
        database_away=lambda: database_breaker.is_open,
        metrics=metrics,
        page_size_default=settings.page_size_default,
        bulk_max_items=settings.bulk_max_items,
        idempotency_ttl_seconds=settings.idempotency_ttl_seconds,
        max_payload_bytes=settings.max_body_bytes,
        exports_max=settings.exports_max,
        history=history,
    )
    body = BodyLimits(
        settings.max_body_bytes,
        settings.max_json_depth,
        settings.max_string_length,
        settings.max_array_length,
        BodyBudget(settings.max_inflight_body_bytes),
    )
    records = RecordRoutes(
        service,
        body=body,
        bulk_body=replace(body, max_bytes=settings.max_bulk_body_bytes),
        pages=PageAnswers(CompressedPages(settings.cache_gzip_max_bytes)),
        require_if_match=settings.require_if_match,
    )
    procedures = ProcedureRoutes(service, body=body)
    lifecycle = Lifecycle()
    overflow = None
    if served and settings.server == "granian":  # uvicorn answers 503 beyond its cap itself
        overflow = Overflow(settings.port, connection_cap(settings), draining=lifecycle.draining)
        steps.append(Step("connections beyond the cap", overflow.start, overflow.close))
    metrics.watch_counter(  # 0 where nothing is watched: the series exists for every alert
        Counted(
            "connections_refused",
            "Connections answered 503 because the worker held as many as APP_MAX_CONNECTIONS",
            [],
            lambda: [([], float(overflow.answered if overflow is not None else 0))],
        )
    )
    probes = ProbeRoutes(
        {"database": repository.ping, "cache": state.cache.ping, **replica_checks(storage.replicas)},
        lifecycle=lifecycle,
        strict=settings.ready_strict,
    )
    auth = AuthRoutes(revocations, enabled=verifier is not None, body=body)
    admin = AdminRoutes(maintenance, body=body)
    handlers: dict[Any, Any] = {
        ServiceError: ServiceErrors(),
        HTTPException: http_exception_handler,
        Exception: unexpected_error_handler,
    }
    # Administration on the admin port (APP_METRICS_PORT, which a NetworkPolicy opens to
    # operators only); on the public port only with tokens on, for a token with the admin role.
    # With neither, nobody on the network can switch writes off.
    public_admin = admin.operations if verifier is not None else []
    scraped = [*probes.operations, *(MetricsRoutes(metrics).operations if settings.metrics else ())]
    if settings.metrics_port:  # the probes answer on both ports, /metrics on its own only
        own = routes_for([*scraped, *admin.operations])
        port = MetricsPort(own, host=settings.host, port=settings.metrics_port, exception_handlers=handlers)
        steps.insert(0, Step("metrics port", port.start, port.close))  # closed last
        scraped = list(probes.operations)
    page = DocsPage().operations if settings.docs else []
    docs = OpenApiRoute(
        [*records.operations, *procedures.operations, *auth.operations, *public_admin, *scraped, *page],
        title="data-service",
        version=__version__,
        bearer_auth=verifier is not None,
    )
    lifespan = lifespan_of(
        steps,
        lifecycle,
        served=served,
        started={
            "dialect": settings.database_dialect,
            "server": settings.server,
            "cache": "redis" if redis is not None else "memory",
        },
        warnings=start_warnings(settings, authenticated=verifier is not None, served=served),
    )
    routes = routes_for(docs.operations)
    app = Starlette(
        routes=routes,
        middleware=middleware_for(
            settings,
            verifier,
            docs.operations,
            routes,
            metrics if settings.metrics else None,
            tracing,
            access_log,
        ),
        exception_handlers=handlers,
        lifespan=lifespan,
    )
    return Assembled(app, active_users, flush)


def app_from_env() -> Starlette:
    """Factory for ASGI servers: the app for the APP_* environment, traced when the OTEL_*
    variables name an exporter."""
    return create_app(Settings.from_env(), served=True, tracing=tracing_from_env())


def start_warnings(settings: Settings, *, authenticated: bool, served: bool) -> list[str]:
    """What the started line warns of: settings fit for local runs only, limits not reached."""
    warnings = [] if authenticated else ["authentication is off (APP_AUTH_MODE=none): for local runs only"]
    if served and (cap := connection_cap(settings)) < settings.max_connections:
        warnings.append(
            f"the open-files limit holds each worker to {cap} connections, not APP_MAX_CONNECTIONS"
            f"={settings.max_connections}: raise the container's nofile limit"
        )
    return warnings
