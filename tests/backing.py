"""Real PostgreSQL and Redis for the tests: the servers named by TEST_POSTGRES_URL and
TEST_REDIS_URL, else testcontainers where a Docker engine runs, else a skip that says so
(a failure under CI=true, where these tests must run)."""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import redis

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
T = TypeVar("T")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
ORACLE_DSN = os.environ.get("ORACLE_DSN", "")
ORACLE_IMAGE = "gvenzl/oracle-free:23-slim"  # pinned: the image the CI workflow runs too


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even when called inside a running loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@functools.cache
def _docker_engine() -> bool:
    """Whether a Docker engine answers (testcontainers needs one)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if host.startswith("unix://"):
        try:
            with socket.socket(socket.AF_UNIX) as probe:
                probe.settimeout(2)
                probe.connect(host[len("unix://") :])
        except OSError:
            return False
    try:
        import docker

        client = docker.from_env(timeout=5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # a socket but no engine behind it, or no client library
        return False


def _unavailable(name: str, url: str, variable: str) -> None:
    message = (
        f"{name} is not reachable at {url} (set {variable}) and no Docker engine runs for testcontainers"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; under CI=true these tests must run, not skip")
    pytest.skip(message)


def _postgres_answers(url: str) -> bool:
    async def probe() -> None:
        conn = await asyncpg.connect(url, timeout=3)
        await conn.close()

    try:
        run_async(probe())
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    return True


def _redis_answers(url: str) -> bool:
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2) as client:
            return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


@contextmanager
def postgres_server() -> Iterator[str]:
    """The URL of a database the tests may create databases from."""
    if _postgres_answers(POSTGRES_URL):
        yield POSTGRES_URL
        return
    if _docker_engine():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:15-alpine", driver=None) as container:
            yield container.get_connection_url()
        return
    _unavailable("PostgreSQL", POSTGRES_URL, "TEST_POSTGRES_URL")


@contextmanager
def redis_server() -> Iterator[str]:
    """The URL of a Redis database the tests may flush."""
    if _redis_answers(REDIS_URL):
        yield REDIS_URL
        return
    if _docker_engine():
        from testcontainers.redis import RedisContainer

        with RedisContainer("redis:7-alpine") as container:
            yield f"redis://{container.get_container_host_ip()}:{container.get_exposed_port(6379)}/0"
        return
    _unavailable("Redis", REDIS_URL, "TEST_REDIS_URL")


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A new database for this test run, dropped afterwards."""
    name = f"ds_test_{uuid.uuid4().hex[:10]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(server_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    run_async(run(f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(server_url, name)
    finally:
        run_async(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def truncate(url: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("TRUNCATE data_records, idempotency_keys")
        finally:
            await conn.close()

    run_async(run())


def flush(url: str) -> None:
    with redis.Redis.from_url(url) as client:
        client.flushdb()


@contextmanager
def oracle_server() -> Iterator[str]:
    """oracle://user:password@host:port/service of a schema the tests may fill and empty.

    Oracle cannot run on every machine: without ORACLE_DSN or a Docker engine these tests skip
    (under CI=true too), unless REQUIRE_ORACLE=1 (`make test-oracle`) makes that a failure.
    """
    if ORACLE_DSN:
        yield ORACLE_DSN
        return
    if _docker_engine():
        from testcontainers.oracle import OracleDbContainer

        with OracleDbContainer(ORACLE_IMAGE) as container:
            yield (
                f"oracle://system:{container.oracle_password}@{container.get_container_host_ip()}:"
                f"{container.get_exposed_port(1521)}/FREEPDB1"
            )
        return
    message = (
        "Oracle is not reachable here: set ORACLE_DSN=oracle://user:password@host:1521/service "
        "or run where a Docker engine can start " + ORACLE_IMAGE
    )
    if os.environ.get("REQUIRE_ORACLE") == "1":
        pytest.fail(message)
    pytest.skip(message)


def oracle_truncate(url: str) -> None:
    from app.adapters.db.oracle_target import OracleTarget

    async def run() -> None:
        import oracledb

        target = OracleTarget.from_url(url)
        conn = await oracledb.connect_async(
            user=target.user,
            password=target.password,
            host=target.host,
            port=target.port,
            service_name=target.service_name,
        )
        try:
            await conn.execute("TRUNCATE TABLE data_records")
            await conn.execute("TRUNCATE TABLE idempotency_keys")
        finally:
            await conn.close()

    run_async(run())


def migrate_in_thread(url: str) -> None:
    """`python -m app migrate` for this URL, from sync or async code alike."""
    from app.cli import apply_migrations as migrate
    from app.settings import Settings

    with ThreadPoolExecutor(1) as thread:
        thread.submit(migrate, Settings(database_url=url)).result()


async def read_audit(url: str, record_id: str) -> list[tuple[str, ...]]:
    """The audit rows of one record, read straight from the database of any dialect."""
    columns = "actor, action, record_id, owner, request_id"
    if url.startswith("sqlite:///"):
        import sqlite3

        with sqlite3.connect(url[len("sqlite:///") :]) as conn:
            rows = conn.execute(
                f"SELECT {columns} FROM data_audit WHERE record_id = ? ORDER BY id", (record_id,)
            ).fetchall()
        return [tuple(r) for r in rows]
    if url.startswith("postgresql://"):
        conn = await asyncpg.connect(url)
        try:
            records = await conn.fetch(
                f"SELECT {columns} FROM data_audit WHERE record_id = $1::uuid ORDER BY id", record_id
            )
        finally:
            await conn.close()
        return [tuple(str(v) for v in r) for r in records]
    from app.adapters.db.oracle_target import OracleTarget

    oracle = await OracleTarget.from_url(url).connect()
    try:
        found = await oracle.fetchall(
            f"SELECT {columns} FROM data_audit WHERE record_id = :1 ORDER BY id", [record_id]
        )
    finally:
        await oracle.close()
    return [tuple(r) for r in found]


async def set_times(url: str, record_id: str, moment: datetime) -> None:
    """Set a record's created_at and updated_at to `moment`, straight in the database of any
    dialect (a clock tick the service cannot choose, such as one on a whole second)."""
    if url.startswith("sqlite:///"):
        import sqlite3

        from app.adapters.db.sqlite.session import to_text

        with sqlite3.connect(url[len("sqlite:///") :]) as conn:
            conn.execute(
                "UPDATE data_records SET created_at = ?, updated_at = ? WHERE id = ?",
                (to_text(moment), to_text(moment), record_id),
            )
        return
    if url.startswith("postgresql://"):
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(
                "UPDATE data_records SET created_at = $2, updated_at = $2 WHERE id = $1::uuid",
                record_id,
                moment,
            )
        finally:
            await conn.close()
        return
    from app.adapters.db.oracle_target import OracleTarget

    oracle = await OracleTarget.from_url(url).connect()
    try:
        naive = moment.astimezone(UTC).replace(tzinfo=None)
        await oracle.execute(
            "UPDATE data_records SET created_at = :1, updated_at = :1 WHERE id = :2", [naive, record_id]
        )
        await oracle.commit()
    finally:
        await oracle.close()


async def analyze(url: str) -> None:
    """Gather data_records' statistics, as autovacuum (PostgreSQL) or a DBA's DBMS_STATS job
    (Oracle) would; SQLite keeps none that the service reads."""
    if url.startswith("sqlite:///"):
        return
    if url.startswith("postgresql://"):
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("ANALYZE data_records")
        finally:
            await conn.close()
        return
    from app.adapters.db.oracle_target import OracleTarget

    oracle = await OracleTarget.from_url(url).connect()
    try:
        await oracle.execute("BEGIN DBMS_STATS.GATHER_TABLE_STATS(USER, 'DATA_RECORDS'); END;")
    finally:
        await oracle.close()
