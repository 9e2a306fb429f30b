"""A list's payload filters, search and order as each dialect's binds: one statement a dialect
(sql/<dialect>/find_records.sql and its kin) serves every combination, and a field's name or a
searched word reaches the database only as a value, never as SQL text."""

from __future__ import annotations

from typing import Literal

import msgspec

from app.adapters.db.binds import FILTERS
from app.ports.storage import RecordQuery
from app.schemas.finding import PayloadFilter, Scalar

Dialect = Literal["postgres", "sqlite", "oracle"]

# What find_records and its kin bind beside a list's filters.
FOUND_FILTERS = FILTERS | {"match", "search"}
ORDER = frozenset({"sort_field", "descending", "oldest_first", "by_relevance"})
FOUND_READ_BINDS = {
    "find_records": FOUND_FILTERS | ORDER | {"after_created_at", "after_id", "limit", "offset"},
    "find_records_counted": FOUND_FILTERS | ORDER | {"limit", "offset"},
    "count_found_records": FOUND_FILTERS,
    "export_found_records": FOUND_FILTERS,
}

# The statements of a page, of a page with its count, and of the count alone: the index's own
# order and filters (RecordQuery.plain), or those that filter any field, search and sort.
LISTS = ("list_records", "list_records_counted", "count_records")
FOUND = ("find_records", "find_records_counted", "count_found_records")

_encode = msgspec.json.encode


def _literal(value: Scalar) -> str:
    return _encode(value).decode()


def jsonpath(filters: tuple[PayloadFilter, ...]) -> str | None:
    """PostgreSQL: one jsonpath predicate for `payload @@ :match`, which a GIN index on the
    payload (jsonb_path_ops) answers for its equalities. Strict mode: a field is compared as it
    is, an array is not searched for the value."""
    if not filters:
        return None
    return "strict " + " && ".join(_predicate(f) for f in filters)


def _predicate(f: PayloadFilter) -> str:
    key = f'$."{f.field}"'  # the field matched schemas.finding.FIELD: no quote or backslash in it
    if f.op == "exists":
        # Strict mode makes a missing key an error, which `!` keeps unknown: absence is asked
        # of the object's keys instead.
        return f"exists({key})" if f.values[0] else f'!(exists($.keyvalue() ? (@.key == "{f.field}")))'
    if f.op in ("gt", "lt"):
        return f"{key} {'>' if f.op == 'gt' else '<'} {_literal(f.values[0])}"
    return "(" + " || ".join(f"{key} == {_literal(v)}" for v in f.values) + ")"


def _types(value: Scalar) -> list[str]:
    """SQLite's json_type names of the JSON value (Oracle's package reads the same)."""
    if value is True:
        return ["true"]
    if value is False:
        return ["false"]
    if value is None:
        return ["null"]
    if isinstance(value, str):
        return ["text"]
    return ["integer", "real"]


def document(filters: tuple[PayloadFilter, ...]) -> str | None:
    """SQLite and Oracle: the filters as one JSON document the statement walks (json_each on
    SQLite, the data_query package on Oracle): each a path, an operator and typed values."""
    if not filters:
        return None
    return _encode(
        [
            {
                "path": f"$.{f.field}",
                "field": f.field,
                "op": f.op,
                "present": int(bool(f.values[0])) if f.op == "exists" else None,
                "values": [] if f.op == "exists" else [{"types": _types(v), "value": v} for v in f.values],
            }
            for f in filters
        ]
    ).decode()


def text_query(terms: tuple[str, ...], dialect: Dialect) -> str | None:
    """The search's terms (every one must match, a phrase as a phrase) in the dialect's own
    query language: websearch_to_tsquery's text, an FTS5 query, an Oracle Text query."""
    if not terms:
        return None
    if dialect == "oracle":  # braces take every character literally; a } inside is doubled
        return " AND ".join("{" + term.replace("}", "}}") + "}" for term in terms)
    return " ".join(f'"{term}"' for term in terms)  # a term holds no " (schemas.finding)


def indexed(query: RecordQuery) -> bool:
    """Whether an index may serve the query's finding, depending on its values: a search, or an
    equality (eq, in), which PostgreSQL's GIN on the payload answers; ranges, exists and a sort
    alone are read from the user's own rows whatever the values."""
    return bool(query.search) or any(f.op in ("eq", "in") for f in query.match)


def found_binds(query: RecordQuery, dialect: Dialect) -> dict[str, object]:
    """The match, search and order binds of a query, as the dialect takes them."""
    return {
        "match": jsonpath(query.match) if dialect == "postgres" else document(query.match),
        "search": text_query(query.search, dialect),
        "sort_field": query.sort.field,
        "descending": query.sort.descending,
        "oldest_first": query.sort.oldest_first,
        "by_relevance": query.sort.relevance,
    }
