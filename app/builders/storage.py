"""The database: the dialect the URL names, its repository (routed over its read replicas when
there are some), and the one decorator every operation goes through (resilience/repository.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from app.adapters.db.dialects import DIALECTS, DatabaseOptions
from app.adapters.db.replicas import Replica, ReplicaSet, replica_failed
from app.adapters.db.routed import RoutedRepository
from app.observability.phases import Stopwatch
from app.observability.tracing import Tracing
from app.ports.positions import WritePositions
from app.ports.storage import RecordRepository
from app.resilience.breakers import Breaker
from app.resilience.repository import GuardedRepository, database_failed
from app.settings import Settings

DB_SYSTEMS = {"postgres": "postgresql", "oracle": "oracle.db", "sqlite": "sqlite"}


def database_options(settings: Settings) -> DatabaseOptions:
    """What the dialect needs of the settings, as plain values."""
    return DatabaseOptions(
        url=settings.database_url,
        sql_dir=settings.sql_dir,
        plsql_dir=settings.plsql_dir,
        timeout=settings.database_timeout_seconds,
        sqlite_readers=settings.sqlite_readers,
        pg_pool_min_size=settings.pg_pool_min_size,
        pg_pool_max_size=settings.pg_pool_max_size,
        oracle_pool_size=settings.oracle_pool_size,
        oracle_bulk_path=settings.oracle_bulk_path,
        pooler=settings.database_pooler,
    )


def build_repository(settings: Settings) -> RecordRepository:
    """The storage adapter the database URL names (not yet connected), undecorated."""
    return DIALECTS[settings.database_dialect].repository(database_options(settings))


@dataclass(frozen=True, slots=True)
class Storage:
    """The repository the service uses, the primary's breaker, and the read replicas if any."""

    repository: GuardedRepository
    breaker: Breaker
    replicas: ReplicaSet | None


def build_storage(settings: Settings, positions: WritePositions, tracing: Tracing | None = None) -> Storage:
    """The storage adapter (over the primary and its replicas when APP_DATABASE_READ_URLS names
    some) behind its decorator: timed when Server-Timing or tracing is on, bounded by the
    request's deadline, retried when safe, behind the primary's breaker."""
    breaker = Breaker(
        "database",
        fail_max=settings.db_breaker_failures,
        reset_seconds=settings.db_breaker_reset_seconds,
        counts=database_failed,
    )
    stopwatch = None
    if tracing is not None or settings.server_timing:
        system = {"db.system.name": DB_SYSTEMS[settings.database_dialect]}
        stopwatch = Stopwatch("db", tracing.tracer if tracing is not None else None, system)
    repository = build_repository(settings)
    replicas = None
    if settings.read_url_list:
        replicas = _replicas(settings, repository)
        repository = RoutedRepository(repository, replicas, positions)
    return Storage(GuardedRepository(repository, breaker, stopwatch=stopwatch), breaker, replicas)


def _replicas(settings: Settings, primary: RecordRepository) -> ReplicaSet:
    dialect = DIALECTS[settings.database_dialect]
    timeout = settings.database_read_timeout_seconds
    replicas = [
        Replica(
            f"replica-{number}",
            dialect.repository(replace(database_options(settings), url=url, timeout=timeout)),
            Breaker(
                f"replica-{number}",
                # Left out fast and tried again soon: the primary serves its reads meanwhile,
                # and the ticks make the trial calls.
                fail_max=2,
                reset_seconds=min(settings.db_breaker_reset_seconds, 2.0),
                counts=replica_failed,
            ),
        )
        for number, url in enumerate(settings.read_url_list, start=1)
    ]
    return ReplicaSet(primary, replicas, max_lag=settings.database_read_max_lag_seconds, timeout=timeout)
