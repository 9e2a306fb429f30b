"""The database: the dialect the URL names, its repository, and the one decorator every
operation goes through (resilience/repository.py)."""

from __future__ import annotations

from app.adapters.db.dialects import DIALECTS, DatabaseOptions
from app.observability.phases import Stopwatch
from app.observability.tracing import Tracing
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
    )


def build_repository(settings: Settings) -> RecordRepository:
    """The storage adapter the database URL names (not yet connected), undecorated."""
    return DIALECTS[settings.database_dialect].repository(database_options(settings))


def build_guarded_repository(
    settings: Settings, tracing: Tracing | None = None
) -> tuple[GuardedRepository, Breaker]:
    """The storage adapter behind its decorator: timed when Server-Timing or tracing is on,
    bounded by the request's deadline, retried when safe, behind the database's breaker."""
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
    guarded = GuardedRepository(build_repository(settings), breaker, stopwatch=stopwatch)
    return guarded, breaker
