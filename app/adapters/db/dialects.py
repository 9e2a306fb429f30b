"""The storage dialects, in one registry: how each one's repository is built and how its
migrations are applied, from plain database options. Nothing else in the service switches on a
dialect (the settings only read a dialect's name off the URL's scheme).

Drivers are imported only when their dialect is used: a SQLite deployment never loads asyncpg
or oracledb.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.adapters.db.sqlfiles import Migration
    from app.ports.storage import RecordRepository


@dataclass(frozen=True, slots=True)
class DatabaseOptions:
    """What a dialect needs to reach its database: the URL, the SQL files, the pools' bounds."""

    url: str
    sql_dir: Path
    plsql_dir: Path
    timeout: float
    sqlite_readers: int = 4
    pg_pool_min_size: int = 4
    pg_pool_max_size: int = 8
    oracle_pool_size: int = 8
    oracle_bulk_path: str = "array_dml"
    pooler: str = "none"  # PostgreSQL: "pgbouncer" when a pooler in transaction mode stands between


@dataclass(frozen=True, slots=True)
class Dialect:
    """One storage dialect: its folder name under sql/, and what it takes to use it."""

    name: str
    repository: Callable[[DatabaseOptions], RecordRepository]
    migrate: Callable[[DatabaseOptions, list[Migration]], list[int]]
    applied: Callable[[DatabaseOptions], dict[int, str]]  # version -> checksum, as recorded


def _sqlite_repository(options: DatabaseOptions) -> RecordRepository:
    from app.adapters.db.sqlfiles import load_queries
    from app.adapters.db.sqlite import SqliteRecordRepository, sqlite_path

    return SqliteRecordRepository(
        sqlite_path(options.url),
        load_queries(options.sql_dir, "sqlite"),
        readers=options.sqlite_readers,
        timeout=options.timeout,
    )


def _sqlite_migrate(options: DatabaseOptions, migrations: list[Migration]) -> list[int]:
    from app.adapters.db.migrate import migrate_sqlite
    from app.adapters.db.sqlite import sqlite_path

    return migrate_sqlite(sqlite_path(options.url), migrations)


def _sqlite_applied(options: DatabaseOptions) -> dict[int, str]:
    from app.adapters.db.migrate import applied_sqlite
    from app.adapters.db.sqlite import sqlite_path

    return applied_sqlite(sqlite_path(options.url))


def _postgres_applied(options: DatabaseOptions) -> dict[int, str]:
    from app.adapters.db.migrate import applied_postgres

    return asyncio.run(applied_postgres(options.url))


def _oracle_applied(options: DatabaseOptions) -> dict[int, str]:
    from app.adapters.db.migrate import applied_oracle

    return asyncio.run(applied_oracle(options.url))


def _postgres_repository(options: DatabaseOptions) -> RecordRepository:
    from app.adapters.db.postgres import PostgresRecordRepository
    from app.adapters.db.sqlfiles import load_queries

    return PostgresRecordRepository(
        options.url,
        load_queries(options.sql_dir, "postgres"),
        min_size=options.pg_pool_min_size,
        max_size=options.pg_pool_max_size,
        timeout=options.timeout,
        pooled=options.pooler == "pgbouncer",
    )


def _postgres_migrate(options: DatabaseOptions, migrations: list[Migration]) -> list[int]:
    from app.adapters.db.migrate import migrate_postgres
    from app.adapters.db.sqlfiles import load_queries

    maintenance = load_queries(options.sql_dir, "postgres")["maintain_partitions"]
    return asyncio.run(migrate_postgres(options.url, migrations, maintenance))


def _oracle_repository(options: DatabaseOptions) -> RecordRepository:
    from app.adapters.db.oracle import OracleRecordRepository
    from app.adapters.db.sqlfiles import load_queries

    return OracleRecordRepository(
        options.url,
        load_queries(options.sql_dir, "oracle"),
        pool_size=options.oracle_pool_size,
        timeout=options.timeout,
        bulk_path=options.oracle_bulk_path,
    )


def _oracle_migrate(options: DatabaseOptions, migrations: list[Migration]) -> list[int]:
    from app.adapters.db.migrate import migrate_oracle

    # Package specs before bodies: a body compiles against its spec.
    objects = sorted(options.plsql_dir.glob("*.pk[sb]"), key=lambda p: (p.suffix != ".pks", p.name))
    repeatable = [(p.name, p.read_text(encoding="utf-8")) for p in objects]
    return asyncio.run(migrate_oracle(options.url, migrations, repeatable))


DIALECTS = {
    "sqlite": Dialect("sqlite", _sqlite_repository, _sqlite_migrate, _sqlite_applied),
    "postgres": Dialect("postgres", _postgres_repository, _postgres_migrate, _postgres_applied),
    "oracle": Dialect("oracle", _oracle_repository, _oracle_migrate, _oracle_applied),
}
