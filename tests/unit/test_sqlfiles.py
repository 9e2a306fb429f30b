"""The SQL folders a DBA reviews: headers, parity between dialects, binds, migrations."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.adapters.db.sqlfiles import Migration, MigrationDrift, bind_names, load_migrations, pending
from app.settings import DEFAULT_SQL_DIR

DIALECTS = sorted(p.name for p in DEFAULT_SQL_DIR.iterdir() if p.is_dir())
STATEMENTS = [(d, p) for d in DIALECTS for p in sorted((DEFAULT_SQL_DIR / d).glob("*.sql"))]


# Statements one dialect needs beyond the shared set: PostgreSQL writes the audit row inside
# insert_record(s), one statement; the others write it with a second statement in the same
# transaction. Anything else one folder has, every folder must have.
EXTRAS = {"sqlite": {"insert_audit"}, "postgres": set(), "oracle": {"insert_audit"}}


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


def test_migrations_are_versioned_in_order(tmp_path: Path) -> None:
    for dialect in DIALECTS:
        versions = [m.version for m in load_migrations(DEFAULT_SQL_DIR, dialect)]
        assert versions == sorted(versions) and versions[0] == 1

    (tmp_path / "d" / "migrations").mkdir(parents=True)
    (tmp_path / "d" / "migrations" / "0002_bad_name.sql").write_text("SELECT 1;")
    with pytest.raises(ValueError, match="V<version>"):
        load_migrations(tmp_path, "d")


def test_an_edited_released_migration_is_refused() -> None:
    released = Migration(1, "create", "CREATE TABLE t (a int);")

    assert pending([released], {}) == [released]
    assert pending([released], {1: released.checksum}) == []
    with pytest.raises(MigrationDrift):
        pending([Migration(1, "create", "CREATE TABLE t (a bigint);")], {1: released.checksum})
