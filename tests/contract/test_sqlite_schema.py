"""What only the SQLite schema promises: WAL, durability settings, the trigger, migrations."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from app.adapters.db.migrate import migrate_sqlite
from app.adapters.db.sqlfiles import Migration, MigrationDrift, load_migrations, load_queries
from app.adapters.db.sqlite import SqliteRecordRepository
from app.errors import StorageConflict, StorageUnavailable
from app.ports.storage import AuditEntry, NewRecord
from app.settings import DEFAULT_SQL_DIR

pytestmark = pytest.mark.anyio


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "schema.db")
    assert migrate_sqlite(path, load_migrations(DEFAULT_SQL_DIR, "sqlite")) == [1, 2, 3, 4, 5]
    return path


def test_migrating_twice_applies_nothing_and_records_versions(db: str) -> None:
    assert migrate_sqlite(db, load_migrations(DEFAULT_SQL_DIR, "sqlite")) == []
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT version, description FROM schema_version").fetchall()
    assert rows == [
        (1, "create data records"),
        (2, "create data audit"),
        (3, "create idempotency keys"),
        (4, "add record version"),
        (5, "payload search"),
    ]


def test_an_edited_migration_stops_the_migrator(db: str) -> None:
    edited = load_migrations(DEFAULT_SQL_DIR, "sqlite")
    edited[0] = type(edited[0])(1, edited[0].description, edited[0].sql + "\n-- edited")

    with pytest.raises(MigrationDrift):
        migrate_sqlite(db, edited)


def test_a_failing_migration_leaves_no_trace(db: str, tmp_path: Path) -> None:
    released = load_migrations(DEFAULT_SQL_DIR, "sqlite")
    broken = [*released, Migration(len(released) + 1, "broken", "CREATE TABLE t2 (a);\nNOT SQL;")]

    with pytest.raises(sqlite3.Error):
        migrate_sqlite(db, broken)

    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone() == (len(released),)
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 't2'").fetchone() == (0,)


async def test_wal_and_full_sync_and_updated_at_trigger(db: str) -> None:
    repo = SqliteRecordRepository(db, load_queries(DEFAULT_SQL_DIR, "sqlite"), readers=1)
    await repo.open()
    try:
        record = await repo.create(NewRecord("alice", b'{"n": 1}'), AuditEntry("tester", "req"))
        journal = repo._writer.execute("PRAGMA journal_mode").fetchone()[0]
        synchronous = repo._writer.execute("PRAGMA synchronous").fetchone()[0]
    finally:
        await repo.close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE data_records SET payload = '{\"n\": 2}' WHERE id = ?", (record.id,))
        created, updated = conn.execute("SELECT created_at, updated_at FROM data_records").fetchone()
        given = "2099-01-01T00:00:00.123456Z"  # as the service's own UPDATE sets it
        conn.execute(
            "UPDATE data_records SET payload = '{}', updated_at = ? WHERE id = ?", (given, record.id)
        )
        kept = conn.execute("SELECT updated_at FROM data_records").fetchone()[0]

    assert (journal, synchronous) == ("wal", 2)  # 2 is FULL
    assert updated > created and len(updated) == len(created)
    assert kept == given


def test_the_schema_refuses_what_is_not_a_json_object(db: str) -> None:
    with sqlite3.connect(db) as conn, pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO data_records VALUES ('x', 'alice', '[1]', 'a', 'a', 1)")


async def test_concurrent_creates_commit_together_and_fail_alone(db: str) -> None:
    """Group commit: creates made while another commits share the next transaction; a row the
    schema refuses fails only its own create."""
    repo = SqliteRecordRepository(db, load_queries(DEFAULT_SQL_DIR, "sqlite"), readers=1)
    await repo.open()
    try:
        results = await asyncio.gather(
            *(
                repo.create(
                    NewRecord("x" * 101 if i == 7 else "alice", b'{"i": %d}' % i), AuditEntry("t", "r")
                )
                for i in range(40)
            ),
            return_exceptions=True,
        )
    finally:
        await repo.close()

    failed = [i for i, r in enumerate(results) if isinstance(r, BaseException)]
    assert failed == [7] and isinstance(results[7], StorageConflict)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM data_records").fetchone() == (39,)
        assert conn.execute("SELECT count(*) FROM data_audit").fetchone() == (39,)


async def test_a_write_lock_held_past_the_busy_timeout_is_a_failure_safe_to_retry(db: str) -> None:
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writing
    repo = SqliteRecordRepository(db, load_queries(DEFAULT_SQL_DIR, "sqlite"), readers=1, timeout=0.1)
    await repo.open()
    try:
        with pytest.raises(StorageUnavailable) as busy:
            await repo.create(NewRecord("alice", b"{}"), AuditEntry("tester", "req"))
        other.execute("ROLLBACK")
        stored = await repo.create(NewRecord("alice", b"{}"), AuditEntry("tester", "req"))
    finally:
        await repo.close()
        other.close()

    assert busy.value.safe_to_retry  # nothing was written: the guarded repository tries again
    assert stored.user_id == "alice"


def _searched(path: str, words: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT s.id FROM data_records_text AS t JOIN data_records_search AS s ON s.docid = t.rowid"
            " WHERE data_records_text MATCH ? ORDER BY s.id",
            (words,),
        ).fetchall()
    return [row[0] for row in rows]


def test_the_search_table_follows_every_insert_change_and_delete(db: str) -> None:
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO data_records (id, user_id, payload, created_at, updated_at)"
            " VALUES (?, 'u', ?, 't', 't')",
            [
                ("a", json.dumps({"note": "blue widget", "n": 42, "nested": {"deep": "crimson"}})),
                ("b", json.dumps({"note": "red widget"})),
            ],
        )
        conn.commit()
        assert _searched(db, "widget") == ["a", "b"]
        assert _searched(db, "crimson 42") == ["a"]  # nested strings and numbers are words too

        conn.execute("UPDATE data_records SET payload = '{\"note\": \"green\"}' WHERE id = 'a'")
        conn.execute("DELETE FROM data_records WHERE id = 'b'")
        conn.commit()
    assert _searched(db, "widget") == []
    assert _searched(db, "green") == ["a"]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM data_records_search").fetchone() == (1,)


def test_records_stored_before_the_search_migration_are_searchable_after_it(tmp_path: Path) -> None:
    path = str(tmp_path / "old.db")
    migrations = load_migrations(DEFAULT_SQL_DIR, "sqlite")
    migrate_sqlite(path, migrations[:4])
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO data_records (id, user_id, payload, created_at, updated_at)"
            " VALUES ('old', 'u', '{\"note\": \"kept from before\"}', 't', 't')"
        )
    assert migrate_sqlite(path, migrations) == [5]

    assert _searched(path, "before") == ["old"]
    with sqlite3.connect(path) as conn:  # VACUUM renumbers rowids; the docid stays
        conn.execute("VACUUM")
    assert _searched(path, "before") == ["old"]
