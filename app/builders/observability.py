"""What the metrics read when scraped, and the measured page cache and read gate."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from app.adapters.db.replicas import ReplicaSet
from app.builders.state import SharedState
from app.builders.storage import Storage
from app.observability.metrics import Counted, Metrics
from app.observability.phases import Stopwatch, timed
from app.observability.tracing import Tracing
from app.settings import Settings


def watch(metrics: Metrics, settings: Settings, storage: Storage, state: SharedState) -> None:
    """Hand the metrics what the components count themselves (read when scraped)."""
    repository = storage.repository
    metrics.watch_pools(settings.database_dialect, repository.pools)
    metrics.watch_cache(state.cache.stats)
    metrics.watch_breakers(
        {"database": storage.breaker} | ({"redis": state.redis.breaker} if state.redis else {})
    )
    if storage.replicas is not None:
        _watch_replicas(metrics, storage.replicas)
    metrics.watch_counter(
        Counted(
            "retries",
            "Calls tried again after a failure known to have changed nothing",
            ["dependency"],
            lambda: [(["database"], float(repository.retries))],
        )
    )
    if state.redis is None:
        return
    link = state.redis
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


def _watch_replicas(metrics: Metrics, replicas: ReplicaSet) -> None:
    metrics.watch_breakers({r.name: r.breaker for r in replicas.replicas})
    metrics.watch_counter(
        Counted(
            "database_reads",
            "Reads routed to the primary or to a replica (list pages, single reads, counts, exports)",
            ["target"],
            lambda: (
                [(["primary"], float(replicas.primary_reads))]
                + [([r.name], float(r.reads)) for r in replicas.replicas]
            ),
        )
    )
    metrics.watch_counter(
        Counted(
            "replica_fallbacks",
            "Reads a replica failed, served by the primary instead",
            ["replica"],
            lambda: [([r.name], float(r.fallbacks)) for r in replicas.replicas],
        )
    )
    metrics.watch_counter(
        Counted(
            "replica_lag_seconds",
            "How far each replica is behind the primary, as last measured (+Inf: not reachable)",
            ["replica"],
            lambda: [([r.name], r.lag) for r in replicas.replicas],
            gauge=True,
        )
    )


def replica_checks(replicas: ReplicaSet | None) -> dict[str, Callable[[], Awaitable[None]]]:
    """/ready's check of each replica (a shared dependency: degraded, not unready, when one fails)."""
    if replicas is None:
        return {}
    return {r.name: partial(replicas.check, r) for r in replicas.replicas}


def measured(settings: Settings, state: SharedState, tracing: Tracing | None) -> SharedState:
    """The page cache, the limiter and the read gate, measured (Server-Timing, spans) when
    either is on, else as they are: with both off nothing stands in the way. The repository is
    measured by its own decorator (builders/storage.py)."""
    if tracing is None and not settings.server_timing:
        return state
    tracer = tracing.tracer if tracing is not None else None
    tier = {"data_service.cache": "redis" if settings.redis_url else "memory"}
    cache = Stopwatch("cache", tracer, tier)
    return SharedState(
        timed(state.cache, ("set", "stale", "invalidate_user"), cache),
        timed(state.limiter, ("admit",), Stopwatch("limit", tracer, tier)),
        timed(state.gate, ("read",), cache),
        state.redis,
        state.positions,
    )
