"""Applying versioned migrations: one function a dialect, each recording what it applied in
schema_version with the file's checksum, and refusing to run when a released file changed."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from app.adapters.db.sqlfiles import Migration, pending, split_oracle_script
from app.adapters.db.sqlite import connect_sqlite, to_text

MIGRATION_LOCK = 0x64617461  # PostgreSQL advisory lock key: one migrator at a time


def _statements(script: str) -> Iterator[str]:
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer.strip()
            buffer = ""
    if buffer.strip() and not buffer.strip().startswith("--"):
        raise ValueError("a migration ends with an incomplete statement")


def migrate_sqlite(path: str, migrations: list[Migration]) -> list[int]:
    """Apply pending migrations in order, each in its own transaction; returns their versions."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = connect_sqlite(path, readonly=False)
    done: list[int] = []
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
            "description TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        while True:
            conn.execute("BEGIN IMMEDIATE")  # one migrator at a time, across processes
            applied = dict(conn.execute("SELECT version, checksum FROM schema_version").fetchall())
            todo = pending(migrations, applied)
            if not todo:
                conn.execute("COMMIT")
                return done
            step = todo[0]
            try:
                for statement in _statements(step.sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version (version, description, checksum, applied_at) "
                    "VALUES (?, ?, ?, ?)",
                    (step.version, step.description, step.checksum, to_text(datetime.now(UTC))),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            done.append(step.version)
    finally:
        conn.close()


async def migrate_postgres(dsn: str, migrations: list[Migration], maintenance: str) -> list[int]:
    """Apply pending migrations in order, each in its own transaction, then maintain partitions."""
    conn = await asyncpg.connect(dsn)
    done: list[int] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, "
            "description text NOT NULL, checksum text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied: dict[int, str] = {
            row["version"]: row["checksum"]
            for row in await conn.fetch("SELECT version, checksum FROM schema_version")
        }
        for step in pending(migrations, applied):
            async with conn.transaction():
                await conn.execute(step.sql)
                await conn.execute(
                    "INSERT INTO schema_version (version, description, checksum) VALUES ($1, $2, $3)",
                    step.version,
                    step.description,
                    step.checksum,
                )
            done.append(step.version)
        await conn.fetchval(maintenance)
    finally:
        await conn.close()
    return done


async def migrate_oracle(
    url: str, migrations: list[Migration], repeatable: list[tuple[str, str]]
) -> list[int]:
    """Apply pending migrations, then the PL/SQL objects whose files changed.

    Oracle commits every DDL statement, so a migration cannot be rolled back: a failure stops
    the runner with the statement that failed, and the version is recorded only once all of a
    migration's statements ran. A row lock held by a second session keeps migrators apart.
    """
    import oracledb  # the oracle extra: imported only where Oracle is used

    from app.adapters.db.oracle import translated
    from app.adapters.db.oracle_target import OracleTarget

    target = OracleTarget.from_url(url)
    async with translated():
        lock = await target.connect()
        conn = await target.connect()
    done: list[int] = []
    try:
        for ddl in (
            "CREATE TABLE schema_lock (id NUMBER PRIMARY KEY)",
            "CREATE TABLE schema_version (version NUMBER PRIMARY KEY, description VARCHAR2(200) NOT NULL, "
            "checksum VARCHAR2(64) NOT NULL, applied_at TIMESTAMP DEFAULT SYS_EXTRACT_UTC(SYSTIMESTAMP))",
            "CREATE TABLE schema_repeatable (name VARCHAR2(200) PRIMARY KEY, checksum VARCHAR2(64) NOT NULL, "
            "applied_at TIMESTAMP DEFAULT SYS_EXTRACT_UTC(SYSTIMESTAMP))",
        ):
            try:
                await conn.execute(ddl)
            except oracledb.DatabaseError as exc:
                if getattr(exc.args[0], "full_code", "") != "ORA-00955":  # exists already
                    raise
        await lock.execute(
            "MERGE INTO schema_lock l USING dual ON (l.id = 1) WHEN NOT MATCHED THEN INSERT (id) VALUES (1)"
        )
        await lock.commit()
        await lock.execute("SELECT id FROM schema_lock WHERE id = 1 FOR UPDATE")
        applied = {int(v): c for v, c in await conn.fetchall("SELECT version, checksum FROM schema_version")}
        for step in pending(migrations, applied):
            for statement in split_oracle_script(step.sql):
                await _run_ddl(conn, statement, f"V{step.version:04d}")
            await conn.execute(
                "INSERT INTO schema_version (version, description, checksum) "
                "VALUES (:version, :description, :checksum)",
                {"version": step.version, "description": step.description, "checksum": step.checksum},
            )
            await conn.commit()
            done.append(step.version)
        known = {n: c for n, c in await conn.fetchall("SELECT name, checksum FROM schema_repeatable")}
        for name, text in repeatable:
            checksum = Migration(0, name, text).checksum
            if known.get(name) == checksum:
                continue
            for statement in split_oracle_script(text):
                await _run_ddl(conn, statement, name)
            await conn.execute(
                "MERGE INTO schema_repeatable r USING dual ON (r.name = :name) "
                "WHEN MATCHED THEN UPDATE SET checksum = :checksum, "
                "applied_at = SYS_EXTRACT_UTC(SYSTIMESTAMP) "
                "WHEN NOT MATCHED THEN INSERT (name, checksum) VALUES (:name, :checksum)",
                {"name": name, "checksum": checksum},
            )
            await conn.commit()
    finally:
        await lock.rollback()
        await lock.close()
        await conn.close()
    return done


async def _run_ddl(conn: Any, statement: str, origin: str) -> None:
    cursor = conn.cursor()
    await cursor.execute(statement)
    if cursor.warning is not None:  # e.g. a package that compiled with errors
        raise RuntimeError(f"{origin}: {cursor.warning} in: {statement[:200]}")


def applied_sqlite(path: str) -> dict[int, str]:
    """The versions applied to an SQLite file and their checksums (none for a new file)."""
    if not Path(path).exists():
        return {}
    conn = connect_sqlite(path, readonly=True)
    try:
        return dict(conn.execute("SELECT version, checksum FROM schema_version").fetchall())
    except sqlite3.OperationalError:  # never migrated: no schema_version
        return {}
    finally:
        conn.close()


async def applied_postgres(dsn: str) -> dict[int, str]:
    """The versions applied to a PostgreSQL database and their checksums."""
    conn = await asyncpg.connect(dsn)
    try:
        if await conn.fetchval("SELECT to_regclass('schema_version')") is None:
            return {}
        return {row[0]: row[1] for row in await conn.fetch("SELECT version, checksum FROM schema_version")}
    finally:
        await conn.close()


async def applied_oracle(url: str) -> dict[int, str]:
    """The versions applied to an Oracle schema and their checksums."""
    from app.adapters.db.oracle import translated
    from app.adapters.db.oracle_target import OracleTarget

    async with translated():
        conn = await OracleTarget.from_url(url).connect()
        try:
            tables = await conn.fetchall(
                "SELECT table_name FROM user_tables WHERE table_name = 'SCHEMA_VERSION'"
            )
            if not tables:
                return {}
            return {int(v): c for v, c in await conn.fetchall("SELECT version, checksum FROM schema_version")}
        finally:
            await conn.close()
