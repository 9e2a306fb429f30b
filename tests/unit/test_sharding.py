"""The path past one primary (docs/scaling.md): every PostgreSQL statement says how it would run
on tables distributed by user (Citus, `user_id` the distribution column of data_records and
data_audit, `scope` of idempotency_keys) in its `-- shards:` header, and this holds it to it.
A statement routed by the user names the user in its predicate (or inserts it); a fan-out is
known and listed in docs/scaling.md; a statement of the server's names no table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.adapters.db.sqlfiles import load_queries
from app.settings import DEFAULT_SQL_DIR

ROOT = DEFAULT_SQL_DIR.parent
STATEMENTS = sorted((DEFAULT_SQL_DIR / "postgres").glob("*.sql"))
TABLES = re.compile(r"\b(data_records|data_audit|idempotency_keys)\b")


def header(path: Path, field: str) -> str:
    found = [
        line.split(":", 1)[1].strip()
        for line in path.read_text().splitlines()
        if line.startswith(f"-- {field}:")
    ]
    assert len(found) == 1, f"{path.name}: one `-- {field}:` line"
    return found[0]


def body(path: Path) -> str:
    """The statement without its comments."""
    sql = load_queries(DEFAULT_SQL_DIR, "postgres")[path.stem]
    return "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))


def fan_outs_documented() -> set[str]:
    """The statements docs/scaling.md lists as fan-outs, by name."""
    text = (ROOT / "docs" / "scaling.md").read_text()
    section = text.split("### Statements that reach every shard", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(\w+)` \|", section, re.M))


@pytest.mark.parametrize("path", STATEMENTS, ids=lambda p: p.stem)
def test_each_statement_routes_by_its_tables_distribution_column_or_is_a_known_fan_out(path: Path) -> None:
    shards = header(path, "shards")
    sql = body(path)
    kind = shards.split(" ", 1)[0].rstrip(":")

    if kind == "user_id":
        assert re.search(r"\buser_id\s*=\s*:user_id\b", sql) or re.search(
            r"VALUES\s*\([^)]*:user_id\b", sql
        ), f"{path.name} says it is routed by user_id but names no user"
        for audit in re.findall(r"INSERT INTO data_audit.*?FROM (\w+)", sql, re.S):
            assert audit in ("stored", "changed", "gone"), (
                f"{path.name}: its audit row follows the routed rows"
            )
    elif kind == "scope":
        assert re.search(r"\bscope\s*=\s*:scope\b", sql) or re.search(r"VALUES\s*\(\s*:scope\b", sql)
    elif kind == "fan-out":
        assert path.stem in fan_outs_documented(), f"{path.name}: a fan-out docs/scaling.md does not list"
    else:
        assert kind == "none" and not TABLES.search(sql), f"{path.name}: `-- shards: {shards}`"


def test_the_documented_fan_outs_are_the_statements_that_say_so() -> None:
    said = {p.stem for p in STATEMENTS if header(p, "shards").startswith("fan-out")}

    assert fan_outs_documented() == said
