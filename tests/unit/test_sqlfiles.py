"""The SQL folders a DBA reviews: headers, parity between dialects, binds, migrations."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.adapters.db import oracle, postgres, sqlite
from app.adapters.db.dialects import DIALECTS as REGISTRY
from app.adapters.db.sqlfiles import (
    Migration,
    MigrationDrift,
    Statements,
    bind_names,
    load_migrations,
    load_queries,
    pending,
)
from app.settings import DATABASE_SCHEMES, DEFAULT_SQL_DIR

DIALECTS = sorted(p.name for p in DEFAULT_SQL_DIR.iterdir() if p.is_dir())
STATEMENTS = [(d, p) for d in DIALECTS for p in sorted((DEFAULT_SQL_DIR / d).glob("*.sql"))]


# Statements one dialect needs beyond the shared set: PostgreSQL writes the audit row inside
# insert_record(s), one statement; the others write it with a second statement in the same
# transaction. PostgreSQL alone keeps generic plans that need the large users named
# (large_users: Oracle's adaptive cursor sharing and SQLite's planner look at the values).
# PostgreSQL alone reads the ids and the pages asked for together in one statement
# (get_records, list_records_together, measured there; SQLite reads a local file with no round
# trip to save, and Oracle's would be measured where an Oracle runs).
# Anything else one folder has, every folder must have.
EXTRAS = {
    "sqlite": {"insert_audit"},
    "postgres": {"large_users", "get_records", "list_records_together"},
    "oracle": {"insert_audit"},
}


def test_every_dialect_has_the_same_statements() -> None:
    names = {d: {p.stem for p in (DEFAULT_SQL_DIR / d).glob("*.sql")} for d in DIALECTS}
    shared = {d: n - EXTRAS[d] for d, n in names.items()}
    everything = set().union(*shared.values())

    assert {d: everything - n for d, n in shared.items()} == {d: set() for d in DIALECTS}
    assert all(EXTRAS[d] <= names[d] for d in DIALECTS)


@pytest.mark.parametrize(("dialect", "path"), STATEMENTS, ids=lambda v: getattr(v, "name", v))
def test_each_statement_has_a_header_a_dba_can_read(dialect: str, path: Path) -> None:
    header = [line for line in path.read_text().splitlines() if line.startswith("--")]
    fields = {line[2:].split(":", 1)[0].strip() for line in header if ":" in line}

    assert f"-- name: {path.stem}" in header
    assert {"returns", "index"} <= fields


def test_bind_names_skip_casts_strings_and_comments() -> None:
    sql = "SELECT ':not' AS s, x::text -- :nor\nFROM t /* :nor_this */ WHERE a = :yes AND b = :also_yes"

    assert bind_names(sql) == {"yes", "also_yes"}


def test_every_dialect_has_a_folder_and_every_folder_a_dialect() -> None:
    assert sorted(REGISTRY) == DIALECTS
    assert all(REGISTRY[name].name == name for name in REGISTRY)
    assert sorted(set(DATABASE_SCHEMES.values())) == DIALECTS


@pytest.mark.parametrize("dialect", DIALECTS)
def test_each_dialects_migrations_run_from_one_without_a_gap(dialect: str) -> None:
    versions = [m.version for m in load_migrations(DEFAULT_SQL_DIR, dialect)]

    assert versions == list(range(1, len(versions) + 1))


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (["V0001__a.sql", "V0003__c.sql"], "V0002 is missing"),
        (["V0002__b.sql"], "V0001 is missing"),
        (["V0001__a.sql", "V00001__again.sql"], "two migrations have version 1"),
        (["V0001__a.sql", "0002_bad_name.sql"], "V<version>"),
    ],
)
def test_a_misnamed_doubled_or_missing_migration_stops_the_migrator(
    tmp_path: Path, files: list[str], message: str
) -> None:
    (tmp_path / "d" / "migrations").mkdir(parents=True)
    for name in files:
        (tmp_path / "d" / "migrations" / name).write_text("SELECT 1;")

    with pytest.raises(ValueError, match=message):
        load_migrations(tmp_path, "d")


def test_optional_migrations_need_not_start_at_one(tmp_path: Path) -> None:
    (tmp_path / "d" / "optional").mkdir(parents=True)
    (tmp_path / "d" / "optional" / "V0101__extra.sql").write_text("SELECT 1;")

    assert [m.version for m in load_migrations(tmp_path, "d", "optional")] == [101]


def test_an_edited_released_migration_is_refused() -> None:
    released = Migration(1, "create", "CREATE TABLE t (a int);")

    assert pending([released], {}) == [released]
    assert pending([released], {1: released.checksum}) == []
    with pytest.raises(MigrationDrift):
        pending([Migration(1, "create", "CREATE TABLE t (a bigint);")], {1: released.checksum})


@pytest.mark.parametrize("module", [sqlite, postgres, oracle], ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_the_code_and_the_sql_files_agree_on_every_bind(module: object) -> None:
    dialect = {"sqlite": "sqlite", "postgres": "postgres", "oracle": "oracle"}[
        module.__name__.rsplit(".", 1)[1]
    ]

    Statements(load_queries(DEFAULT_SQL_DIR, dialect), module.BINDS)
