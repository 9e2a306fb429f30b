"""The composition root: the one place that picks a dialect, a cache and an admission, and
the order in which the lifespan opens them."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING

import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app import __version__
from app.adapters.memory.admission import MemoryAdmission, MemoryTokenBucket
from app.adapters.memory.audience import MemoryAudience
from app.adapters.memory.pages import MemoryPageCache
from app.adapters.redis.audience import RedisAudience
from app.auth import RoleNames
from app.auth.revocation import MemoryRevocations, RedisRevocations, Revocations
from app.errors import ServiceError
from app.http.auth import Authenticate
from app.http.cors import ExactOriginCors
from app.http.metrics_port import MetricsPort
from app.http.middleware import RequestContext, Traced
from app.http.openapi import Handler, Operation
from app.http.requests import BodyLimits
from app.http.responses import http_exception_handler, service_error_handler, unexpected_error_handler
from app.observability.logging import AccessLog, LogFlush, configure_logging
from app.observability.metrics import Counted, Metrics
from app.observability.phases import timed
from app.observability.tallies import Tally
from app.observability.tracing import Tracing, tracing_from_env
from app.observability.users import ActiveUsers
from app.ports.admission import Admission
from app.ports.audience import Audience
from app.ports.cache import PageCache
from app.ports.storage import RecordRepository
from app.resilience.breakers import Breaker
from app.resilience.guarded import GuardedRepository, database_failed
from app.routes.admin import AdminRoutes
from app.routes.auth import AuthRoutes
from app.routes.docs import DocsPage
from app.routes.metrics import MetricsRoutes
from app.routes.probes import Lifecycle, OpenApiRoute, ProbeRoutes
from app.routes.records import RecordRoutes
from app.services.housekeeping import AnswerPurge
from app.services.maintenance import Maintenance
from app.services.records import RecordService
from app.settings import Settings

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from app.auth.tokens import TokenVerifier

# What the phases measure (app/observability/phases.py): method -> Server-Timing name.
REPOSITORY_PHASES = dict.fromkeys(
    (
        "create",
        "create_many",
        "create_once",
        "create_many_once",
        "get_by_id",
        "get_by_user",
        "execute_plsql_procedure",
    ),
    "db",
)
CACHE_PHASES = dict.fromkeys(("get", "set", "stale", "invalidate_user"), "cache")
ADMISSION_PHASES = {"admit": "limit", "admit_and_read": "cache"}
DB_SYSTEMS = {"postgres": "postgresql", "oracle": "oracle.db", "sqlite": "sqlite"}
log = structlog.get_logger("app")


@dataclass(frozen=True, slots=True)
class Step:
    """Something the lifespan opens at start and closes at shutdown, after what was opened
    after it: a builder names both halves when it builds the thing."""

    name: str
    open: Callable[[], Awaitable[None]]
    close: Callable[[], Awaitable[None]]


async def _nothing() -> None:
    return None


@dataclass(frozen=True, slots=True)
class RedisLink:
    """One client and one breaker, shared by everything of a process that uses Redis, so one
    failure noticed by any of them spares all the others the same timeout."""

    client: Redis
    breaker: Breaker
    trips: Tally  # the client's round trips
    read_leases: dict[str, int]  # read leases granted, renewed and revoked


def build_repository(settings: Settings) -> RecordRepository:
    """The storage adapter the database URL names (not yet connected)."""
    return settings.dialect.repository(settings)


def build_guarded_repository(settings: Settings) -> tuple[GuardedRepository, Breaker]:
    """The storage adapter behind the database's breaker."""
    breaker = Breaker(
        "database",
        fail_max=settings.db_breaker_failures,
        reset_seconds=settings.db_breaker_reset_seconds,
        counts=database_failed,
    )
    guarded = GuardedRepository(build_repository(settings), breaker)
    return guarded, breaker


def build_cache_and_admission(
    settings: Settings, steps: list[Step]
) -> tuple[PageCache, Admission, RedisLink | None]:
    """Redis when APP_REDIS_URL is set (shared by every process), else in-process ones."""
    if not settings.redis_url:
        pages = MemoryPageCache(
            max_bytes=settings.cache_max_bytes,
            ttl_seconds=settings.cache_ttl_seconds,
            max_stale_seconds=settings.max_stale_seconds,
        )
        buckets = MemoryTokenBucket(rate=settings.rate_limit_per_minute, window=60)
        admission = MemoryAdmission(buckets, pages)
        steps += [Step("page cache", _nothing, pages.close), Step("admission", _nothing, admission.close)]
        return pages, admission, None
    from app.adapters.redis.admission import RedisAdmission
    from app.adapters.redis.client import connect, connect_listener, redis_failed
    from app.adapters.redis.leases import Budget, Leases
    from app.adapters.redis.pages import RedisPageCache

    trips = Tally()
    client = connect(
        settings.redis_url,
        timeout=settings.redis_timeout_seconds,
        pool_size=settings.redis_pool_size,
        trips=trips,
    )
    steps.append(Step("redis", _nothing, client.aclose))
    breaker = Breaker(
        "redis",
        fail_max=settings.redis_breaker_failures,
        reset_seconds=settings.redis_breaker_reset_seconds,
        counts=redis_failed,
    )
    leases = Leases(
        client,
        connect_listener(settings.redis_url, timeout=settings.redis_timeout_seconds)
        if settings.lease_seconds > 0
        else None,
        seconds=settings.lease_seconds,
        max_tokens=settings.lease_max_tokens,
        budget=Budget(rate=settings.rate_limit_per_minute, window=60),
    )

    async def start_leases() -> None:
        leases.start()

    steps.append(Step("leases", start_leases, leases.close))
    shared = RedisPageCache(
        client,
        ttl_seconds=settings.cache_ttl_seconds,
        local_max_bytes=settings.cache_local_max_bytes,
        breaker=breaker,
        leases=leases,
        max_stale_seconds=settings.max_stale_seconds,
    )
    limits = RedisAdmission(shared, breaker=breaker, leases=leases)
    steps += [Step("page cache", _nothing, shared.close), Step("admission", _nothing, limits.close)]
    return shared, limits, RedisLink(client, breaker, trips, leases.book.read_leases)


def build_maintenance(settings: Settings, redis: RedisLink | None, steps: list[Step]) -> Maintenance:
    """Read-only mode, from APP_READ_ONLY, shared through Redis when configured."""
    store = None
    if redis is not None:
        from app.adapters.redis.mode import RedisModeStore

        store = RedisModeStore(redis.client, redis.breaker)
    maintenance = Maintenance(read_only=settings.read_only, store=store)
    steps.append(Step("write mode", maintenance.start, maintenance.close))
    return maintenance


def build_authentication(
    settings: Settings, redis: RedisLink | None, steps: list[Step]
) -> tuple[Revocations, TokenVerifier | None]:
    """The deny-list (Redis when configured) and, with APP_AUTH_MODE=jwt, the token verifier."""
    revocations: Revocations = MemoryRevocations()
    if redis is not None:
        revocations = RedisRevocations(redis.client, redis.breaker)
    if settings.auth_mode != "jwt":
        return revocations, None
    from app.auth.keys import KeySet  # jwt and cryptography: loaded only when tokens are used
    from app.auth.tokens import TokenVerifier

    keys = KeySet(
        secret=settings.jwt_secret,
        jwks_file=settings.jwt_jwks_file,
        jwks_url=settings.jwt_jwks_url,
        refresh_seconds=settings.jwks_refresh_seconds,
        min_refetch_seconds=settings.jwks_min_refetch_seconds,
    )
    verifier = TokenVerifier(
        keys,
        revocations,
        algorithms=settings.algorithms,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        leeway=settings.jwt_leeway_seconds,
        roles_claim=settings.jwt_roles_claim,
        role_names=RoleNames(settings.role_reader, settings.role_writer, settings.role_admin),
    )
    steps.append(Step("token keys", keys.start, keys.stop))
    return revocations, verifier


def watch(
    metrics: Metrics,
    settings: Settings,
    repository: GuardedRepository,
    database_breaker: Breaker,
    cache: PageCache,
    redis: RedisLink | None,
) -> None:
    """Hand the metrics what the components count themselves (read when scraped)."""
    metrics.watch_pools(settings.database_dialect, repository.pools)
    metrics.watch_cache(cache.stats)
    metrics.watch_breakers({"database": database_breaker} | ({"redis": redis.breaker} if redis else {}))
    metrics.watch_counter(
        Counted(
            "retries",
            "Calls tried again after a failure known to have changed nothing",
            ["dependency"],
            lambda: [(["database"], float(repository.retries))],
        )
    )
    if redis is None:
        return
    link = redis
    metrics.watch_counter(
        Counted(
            "redis_round_trips",
            "Commands and pipelines sent to Redis",
            [],
            lambda: [([], float(link.trips.value))],
        )
    )
    metrics.watch_counter(
        Counted(
            "read_leases",
            "Read leases on users' pages: granted, renewed while held, revoked by a write",
            ["event"],
            lambda: [([event], float(n)) for event, n in link.read_leases.items()],
        )
    )


def measured_parts(
    settings: Settings,
    repository: RecordRepository,
    cache: PageCache,
    admission: Admission,
    tracing: Tracing | None,
) -> tuple[RecordRepository, PageCache, Admission]:
    """The service's storage, cache and limiter, measured (Server-Timing, spans) when either is
    on, else as they are: with both off nothing stands in the way (app/observability/phases.py)."""
    if tracing is None and not settings.server_timing:
        return repository, cache, admission
    tracer = tracing.tracer if tracing is not None else None
    tier = {"data_service.cache": "redis" if settings.redis_url else "memory"}
    return (
        timed(
            repository, REPOSITORY_PHASES, tracer, {"db.system.name": DB_SYSTEMS[settings.database_dialect]}
        ),
        timed(cache, CACHE_PHASES, tracer, tier),
        timed(admission, ADMISSION_PHASES, tracer, tier),
    )


def middleware_for(
    settings: Settings,
    verifier: TokenVerifier | None,
    operations: Sequence[Operation],
    metrics: Metrics | None = None,
    tracing: Tracing | None = None,
    access_log: AccessLog | None = None,
) -> list[Middleware]:
    """Request ids and headers always, metrics unless off; spans when tracing; CORS only for listed
    origins; tokens only when on."""
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
    return stack


def routes_for(operations: Sequence[Operation]) -> list[Route]:
    """One Starlette route a path, dispatching on the method, so 405 answers list every method."""
    by_path: dict[str, dict[str, Handler]] = {}
    for op in operations:
        by_path.setdefault(op.path, {})[op.method] = op.handler
    routes = []
    for path, handlers in by_path.items():
        handler = next(iter(handlers.values())) if len(handlers) == 1 else partial(_dispatch, handlers)
        routes.append(Route(path, handler, methods=list(handlers)))
    return routes


async def _dispatch(handlers: dict[str, Handler], request: Request) -> Response:
    return await handlers["GET" if request.method == "HEAD" else request.method](request)


def tune_gc() -> None:
    """Once the app is built: keep what exists now (modules, routes, settings) out of every
    future collection, and collect the young generation every 20,000 allocations instead of
    700. A request allocates a few hundred objects that reference counting frees; collecting
    the few survivors less often shortens the pauses that set the tail latency of cached reads
    (docs/performance.md, "Garbage collection in served workers")."""
    gc.freeze()
    gc.set_threshold(20_000, 20, 100)


def create_app(settings: Settings, *, served: bool = False, tracing: Tracing | None = None) -> Starlette:
    """The ASGI app for these settings (traced when `tracing` is given); connections open in
    its lifespan."""
    configure_logging(settings.log_level, traced=tracing is not None)
    repository, database_breaker = build_guarded_repository(settings)
    purge = AnswerPurge(repository, every=settings.idempotency_purge_seconds)
    access_log = AccessLog(settings.access_log)
    flush = LogFlush(access_log)
    steps = [
        Step("database", repository.open, repository.close),
        Step("idempotency purge", purge.start, purge.close),
        Step("log flush", flush.start, flush.close),
    ]
    cache, admission, redis = build_cache_and_admission(settings, steps)
    revocations, verifier = build_authentication(settings, redis, steps)
    maintenance = build_maintenance(settings, redis, steps)
    metrics = Metrics(
        version=__version__,
        dialect=settings.database_dialect,
        server=settings.server,
        cache="redis" if redis is not None else "memory",
    )
    watch(metrics, settings, repository, database_breaker, cache, redis)
    # With metrics off the users seen are still drained, but nowhere counted.
    audience: Audience = MemoryAudience()
    if redis is not None and settings.metrics:
        audience = RedisAudience(redis.client, redis.breaker)
    active_users = ActiveUsers(metrics, audience)
    steps.append(Step("active users", active_users.start, active_users.close))
    if tracing is not None:
        steps.append(Step("tracing", _nothing, tracing.close))
    measured = measured_parts(settings, repository, cache, admission, tracing)
    service = RecordService(
        *measured,
        maintenance=maintenance,
        database_away=lambda: database_breaker.is_open,
        metrics=metrics,
        page_size_default=settings.page_size_default,
        bulk_max_items=settings.bulk_max_items,
        idempotency_ttl_seconds=settings.idempotency_ttl_seconds,
        max_payload_bytes=settings.max_body_bytes,
        exports_max=settings.exports_max,
    )
    body = BodyLimits(
        settings.max_body_bytes,
        settings.max_json_depth,
        settings.max_string_length,
        settings.max_array_length,
    )
    records = RecordRoutes(
        service,
        body=body,
        bulk_body=replace(body, max_bytes=settings.max_bulk_body_bytes),
        require_if_match=settings.require_if_match,
    )
    lifecycle = Lifecycle()
    probes = ProbeRoutes(
        {"database": repository.ping, "cache": cache.ping}, lifecycle=lifecycle, strict=settings.ready_strict
    )
    auth = AuthRoutes(
        revocations,
        enabled=verifier is not None,
        body=body,
    )
    admin = AdminRoutes(maintenance, body=body)
    scraped = [*probes.operations, *(MetricsRoutes(metrics).operations if settings.metrics else ())]
    if settings.metrics_port:  # the probes answer on both ports, /metrics on its own only
        port = MetricsPort(routes_for(scraped), host=settings.host, port=settings.metrics_port)
        steps.insert(0, Step("metrics port", port.start, port.close))  # closed last
        scraped = list(probes.operations)
    page = DocsPage().operations if settings.docs else []
    docs = OpenApiRoute(
        [*records.operations, *auth.operations, *admin.operations, *scraped, *page],
        title="data-service",
        version=__version__,
        bearer_auth=verifier is not None,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Whatever opened is closed, in reverse order, however far the start got.
        async with AsyncExitStack() as opened:
            for step in steps:
                try:
                    await step.open()
                except Exception as exc:
                    log.error("start failed", step=step.name, error=type(exc).__name__)
                    raise
                opened.push_async_callback(step.close)
            if served:  # a server's worker process, not a test holding many apps
                tune_gc()
            if verifier is None:
                log.warning("authentication is off (APP_AUTH_MODE=none): for local runs only")
            log.info(
                "started",
                dialect=settings.database_dialect,
                server=settings.server,
                cache="redis" if redis is not None else "memory",
            )
            lifecycle.state = "serving"
            try:
                if served:  # a signal to a server's worker fails /ready before anything else
                    with lifecycle.draining_on_signals():
                        yield
                else:
                    yield
            finally:
                lifecycle.state = "draining"

    app = Starlette(
        routes=routes_for(docs.operations),
        middleware=middleware_for(
            settings, verifier, docs.operations, metrics if settings.metrics else None, tracing, access_log
        ),
        exception_handlers={
            ServiceError: service_error_handler,
            HTTPException: http_exception_handler,
            Exception: unexpected_error_handler,
        },
        lifespan=lifespan,
    )
    app.state.openapi = docs.document
    app.state.active_users = active_users
    app.state.log_flush = flush
    return app


def app_from_env() -> Starlette:
    """Factory for ASGI servers: the app for the APP_* environment, traced when the OTEL_*
    variables name an exporter."""
    return create_app(Settings.from_env(), served=True, tracing=tracing_from_env())
