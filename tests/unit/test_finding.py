"""Reading payload filters, searches, sorts and fields from a query, and each dialect's binds."""

from __future__ import annotations

import msgspec
import pytest

from app.adapters.db.matching import document, indexed, jsonpath, text_query
from app.errors import ValidationFailed
from app.ports.storage import RecordQuery
from app.schemas.finding import (
    PayloadFilter,
    Sort,
    fields_of,
    payload_filter,
    payload_params,
    scalar,
    search_terms,
    sort_of,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("false", False),
        ("null", None),
        ("12", 12),
        ("-12.5", -12.5),
        ("1e3", 1000.0),
        ('"12"', "12"),
        ('"a \\"b\\""', 'a "b"'),
        ("012", "012"),  # not a JSON number: text
        ("True", "True"),
        ('"unterminated', '"unterminated'),
        ("", ""),
    ],
)
def test_a_value_reads_as_the_json_it_spells_else_as_text(text: str, value: object) -> None:
    assert scalar(text) == value and type(scalar(text)) is type(value)


def test_a_parameter_names_its_field_and_operator() -> None:
    assert payload_filter("payload.total", "12.5") == PayloadFilter("total", "eq", (12.5,))
    assert payload_filter("payload.tag__in", "a,2,true") == PayloadFilter("tag", "in", ("a", 2, True))
    assert payload_filter("payload.due__gt", "2026-01-01T00:00:00Z").values == ("2026-01-01T00:00:00Z",)
    assert payload_filter("payload.x__exists", "false") == PayloadFilter("x", "exists", (False,))
    assert payload_filter("payload.a__b", "1").field == "a__b"  # not an operator: part of the name


@pytest.mark.parametrize(
    "name", ["payload.", "payload.1a", "payload.a.b", "payload.a b", "payload.é", "payload.__gt"]
)
def test_a_field_outside_the_pattern_is_refused_naming_the_parameter(name: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        payload_filter(name, "1")
    assert refused.value.errors[0].path == name


def test_payload_parameters_are_taken_out_of_the_rest() -> None:
    params = {"user_id": "u", "payload.a": "1", "page": "2", "payload.b__gt": "3"}

    assert payload_params(params) == {"payload.a": "1", "payload.b__gt": "3"}
    assert params == {"user_id": "u", "page": "2"}


def test_search_terms_are_words_and_quoted_phrases() -> None:
    assert search_terms('blue  "large   crate" x') == ("blue", "large crate", "x")
    assert search_terms('"open phrase') == ("open phrase",)
    assert search_terms(None) == ()


def test_sorts() -> None:
    assert sort_of(None, searched=False) == sort_of("-created_at", searched=False) == Sort()
    assert sort_of("created_at", searched=False).oldest_first
    assert sort_of("-payload.total", searched=False) == Sort(field="total", descending=True)
    assert sort_of("relevance", searched=True).relevance
    assert str(sort_of("payload.total", searched=False)) == "payload.total"


def test_fields_are_the_records_own_or_payload_fields() -> None:
    assert fields_of("id, payload.total,id") == ("id", "payload.total")
    assert fields_of(None) is None
    with pytest.raises(ValidationFailed):
        fields_of("id,")


def test_postgres_gets_one_strict_jsonpath_with_json_literals() -> None:
    filters = (
        PayloadFilter("name", "eq", ('say "hi"\n',)),
        PayloadFilter("n", "in", (1, 2.5, None)),
        PayloadFilter("due", "lt", ("2026-01-01",)),
        PayloadFilter("gone", "exists", (False,)),
    )

    assert jsonpath(filters) == (
        'strict ($."name" == "say \\"hi\\"\\n") && ($."n" == 1 || $."n" == 2.5 || $."n" == null)'
        ' && $."due" < "2026-01-01" && !(exists($.keyvalue() ? (@.key == "gone")))'
    )
    assert jsonpath(()) is None


def test_sqlite_and_oracle_get_a_document_of_typed_values() -> None:
    (only,) = msgspec.json.decode(document((PayloadFilter("n", "in", (1, "1", True)),)) or "")

    assert only["path"] == "$.n" and only["op"] == "in"
    assert [v["types"] for v in only["values"]] == [["integer", "real"], ["text"], ["true"]]


def test_each_dialect_gets_the_search_in_its_own_language() -> None:
    assert text_query(("blue", "large crate"), "postgres") == '"blue" "large crate"'
    assert text_query(("blue", "large crate"), "sqlite") == '"blue" "large crate"'
    assert text_query(("a}b", "c d"), "oracle") == "{a}}b} AND {c d}"
    assert text_query((), "oracle") is None


def test_only_a_search_or_an_equality_is_planned_with_its_values() -> None:
    from app.ports.storage import RecordQuery

    def query(**kw: object) -> RecordQuery:
        return RecordQuery("u", limit=1, **kw)  # type: ignore[arg-type]

    assert indexed(query(search=("blue",)))
    assert indexed(query(match=(PayloadFilter("a", "in", (1, 2)),)))
    assert not indexed(query(match=(PayloadFilter("a", "gt", (1,)), PayloadFilter("b", "exists", (True,)))))
    assert not indexed(query(sort=sort_of("-payload.a", searched=False)))
