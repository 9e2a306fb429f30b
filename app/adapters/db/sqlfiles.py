"""SQL statements kept as files a DBA can read: sql/<dialect>/<name>.sql, one statement each."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# A bind is :name, not ::cast, and not inside a string literal or a comment.
_TOKENS = re.compile(r"'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/|::|:([A-Za-z_][A-Za-z0-9_]*)", re.DOTALL)
_MIGRATION = re.compile(r"^V(\d{4,})__([a-z0-9_]+)\.sql$")


def bind_names(sql: str) -> set[str]:
    """Every :name bind the statement uses."""
    return {m.group(1) for m in _TOKENS.finditer(sql) if m.group(1)}


def to_numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """The statement with :name binds turned into $1, $2 ... (asyncpg), and the names in order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _TOKENS.sub(number, sql), tuple(names)


def strip_comments(sql: str) -> str:
    """The statement without its comments (string literals kept)."""
    return _TOKENS.sub(lambda m: "" if m.group(0).startswith(("--", "/*")) else m.group(0), sql).strip()


class BindMismatch(ValueError):
    """The code and an SQL file disagree on a statement's bind names."""


class Statements:
    """A dialect's statements with the bind names its repository declares for each, checked
    against the files when built: code and SQL that disagree stop the service at start."""

    def __init__(self, sql: Mapping[str, str], binds: Mapping[str, frozenset[str]]) -> None:
        problems = []
        for name in sorted(set(sql) | set(binds)):
            if name not in sql or name not in binds:
                problems.append(f"{name}: {'no SQL file' if name not in sql else 'not declared in code'}")
                continue
            in_file = bind_names(sql[name])
            if in_file != binds[name]:
                problems.append(f"{name}: file binds {sorted(in_file)}, code binds {sorted(binds[name])}")
        if problems:
            raise BindMismatch("; ".join(problems))
        self.sql = dict(sql)
        self.bind_names = dict(binds)

    def binds(self, name: str, values: Mapping[str, object]) -> dict[str, object]:
        """The values of exactly the statement's binds (KeyError names a missing one)."""
        return {key: values[key] for key in self.bind_names[name]}


def load_queries(sql_dir: Path, dialect: str) -> dict[str, str]:
    """Every statement of one dialect, by file stem, read once at start."""
    folder = sql_dir / dialect
    queries = {path.stem: path.read_text(encoding="utf-8") for path in sorted(folder.glob("*.sql"))}
    if not queries:
        raise FileNotFoundError(f"no SQL files in {folder}")
    return queries


@dataclass(frozen=True, slots=True)
class Migration:
    """One versioned schema change: V0001__create_data_records.sql."""

    version: int
    description: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def load_migrations(sql_dir: Path, dialect: str, folder: str = "migrations") -> list[Migration]:
    """The dialect's migrations (or its optional ones) in version order; a misnamed or doubled
    file is an error, and so is a gap among the released ones (V0001, V0003): a migration
    added later below one already applied would never run."""
    found: dict[int, Migration] = {}
    for path in sorted((sql_dir / dialect / folder).glob("*.sql")):
        match = _MIGRATION.match(path.name)
        if match is None:
            raise ValueError(f"migration file {path.name} is not named V<version>__<description>.sql")
        version = int(match.group(1))
        if version in found:
            raise ValueError(f"two migrations have version {version}")
        found[version] = Migration(version, match.group(2).replace("_", " "), path.read_text("utf-8"))
    if folder == "migrations":
        for expected, version in enumerate(sorted(found), 1):
            if version != expected:
                raise ValueError(f"migration V{expected:04d} is missing (the next one is V{version:04d})")
    return [found[v] for v in sorted(found)]


class MigrationDrift(RuntimeError):
    """An applied migration's file changed since it was applied."""


def pending(migrations: list[Migration], applied: dict[int, str]) -> list[Migration]:
    """Migrations not applied yet; raises if an applied one was edited since."""
    for m in migrations:
        if m.version in applied and applied[m.version] != m.checksum:
            raise MigrationDrift(
                f"migration V{m.version:04d} changed after it was applied; add a new migration instead"
            )
    return [m for m in migrations if m.version not in applied]


_PLSQL_UNIT = re.compile(
    r"^\s*(DECLARE|BEGIN|CREATE\s+(OR\s+REPLACE\s+)?(EDITIONABLE\s+|NONEDITIONABLE\s+)?"
    r"(PACKAGE|TRIGGER|PROCEDURE|FUNCTION|TYPE)\b)",
    re.IGNORECASE,
)


def split_oracle_script(script: str) -> list[str]:
    """The statements of an SQL*Plus-style script, in order, ready for the driver.

    A PL/SQL unit (DECLARE, BEGIN, CREATE [OR REPLACE] PACKAGE/TRIGGER/...) runs until a line
    holding only "/" and keeps its final ";"; any other statement ends at a line ending in ";",
    which is dropped. Comment-only chunks are skipped.
    """
    statements: list[str] = []
    buffer: list[str] = []
    for line in script.splitlines():
        code = "\n".join([*buffer, line])
        if not strip_comments(code):
            buffer.append(line)
            continue
        in_unit = bool(_PLSQL_UNIT.match(strip_comments(code)))
        if line.strip() == "/":
            if in_unit:
                statements.append(strip_comments("\n".join(buffer)))
            buffer = []
            continue
        buffer.append(line)
        if not in_unit and strip_comments(line).rstrip().endswith(";"):
            statements.append(strip_comments("\n".join(buffer)).rstrip().rstrip(";").rstrip())
            buffer = []
    rest = strip_comments("\n".join(buffer))
    if rest:
        raise ValueError(f"the script ends inside a statement: {rest[:80]!r}")
    return statements
