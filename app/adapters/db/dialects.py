"""The storage dialects, in one registry: the URL schemes that name each one, how its repository
is built and how its migrations are applied. Nothing else in the service switches on a dialect.

Drivers are imported only when their dialect is used: a SQLite deployment never loads asyncpg
or oracledb.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.adapters.db.sqlfiles import Migration
    from app.ports.storage import RecordRepository
    from app.settings import Settings


@dataclass(frozen=True, slots=True)
class Dialect:
    """One storage dialect: its folder name under sql/, and what it takes to use it."""

    name: str
    schemes: tuple[str, ...]
    repository: Callable[[Settings], RecordRepository]
    migrate: Callable[[Settings, list[Migration]], list[int]]
    procedures: bool = False  # offers the PL/SQL procedures (ports.storage.PlsqlProcedures)


def _sqlite_repository(settings: Settings) -> RecordRepository:
    from app.adapters.db.sqlfiles import load_queries
    from app.adapters.db.sqlite import SqliteRecordRepository, sqlite_path

    return SqliteRecordRepository(
        sqlite_path(settings.database_url),
        load_queries(settings.sql_dir, "sqlite"),
        readers=settings.sqlite_readers,
        timeout=settings.database_timeout_seconds,
    )


def _sqlite_migrate(settings: Settings, migrations: list[Migration]) -> list[int]:
    from app.adapters.db.migrate import migrate_sqlite
    from app.adapters.db.sqlite import sqlite_path

    return migrate_sqlite(sqlite_path(settings.database_url), migrations)


def _postgres_repository(settings: Settings) -> RecordRepository:
    from app.adapters.db.postgres import PostgresRecordRepository
    from app.adapters.db.sqlfiles import load_queries

    return PostgresRecordRepository(
        settings.database_url,
        load_queries(settings.sql_dir, "postgres"),
        min_size=settings.pg_pool_min_size,
        max_size=settings.pg_pool_max_size,
        timeout=settings.database_timeout_seconds,
    )


def _postgres_migrate(settings: Settings, migrations: list[Migration]) -> list[int]:
    from app.adapters.db.migrate import migrate_postgres
    from app.adapters.db.sqlfiles import load_queries

    maintenance = load_queries(settings.sql_dir, "postgres")["maintain_partitions"]
    return asyncio.run(migrate_postgres(settings.database_url, migrations, maintenance))


def _oracle_repository(settings: Settings) -> RecordRepository:
    from app.adapters.db.oracle import OracleRecordRepository
    from app.adapters.db.sqlfiles import load_queries

    return OracleRecordRepository(
        settings.database_url,
        load_queries(settings.sql_dir, "oracle"),
        pool_size=settings.oracle_pool_size,
        timeout=settings.database_timeout_seconds,
        bulk_path=settings.oracle_bulk_path,
    )


def _oracle_migrate(settings: Settings, migrations: list[Migration]) -> list[int]:
    from app.adapters.db.migrate import migrate_oracle

    # Package specs before bodies: a body compiles against its spec.
    objects = sorted(settings.plsql_dir.glob("*.pk[sb]"), key=lambda p: (p.suffix != ".pks", p.name))
    repeatable = [(p.name, p.read_text(encoding="utf-8")) for p in objects]
    return asyncio.run(migrate_oracle(settings.database_url, migrations, repeatable))


DIALECTS = (
    Dialect("sqlite", ("sqlite",), _sqlite_repository, _sqlite_migrate),
    Dialect("postgres", ("postgresql", "postgres"), _postgres_repository, _postgres_migrate),
    Dialect("oracle", ("oracle",), _oracle_repository, _oracle_migrate, procedures=True),
)
_BY_SCHEME = {scheme: dialect for dialect in DIALECTS for scheme in dialect.schemes}


def dialect_for(database_url: str) -> Dialect | None:
    """The dialect a database URL's scheme names, if any."""
    return _BY_SCHEME.get(database_url.partition(":")[0])
