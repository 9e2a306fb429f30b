"""Pure helpers of the HTTP edge: nesting depth, validation paths, cursors, settings."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest
from starlette.datastructures import QueryParams

from app.errors import ConfigError, field_problem
from app.http.requests import nests_deeper_than, query_pairs
from app.schemas.records import BulkBody, BulkCreate, BulkEnvelope
from app.services.cursor import InvalidCursor, decode_cursor, encode_cursor
from app.settings import Settings


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"user_id=u1&page=1&page_size=20",
        b"a",
        b"a=&=b&&c=1&",
        b"a=1&a=2",
        b"a=b=c",
        b"a=%20b&c=d+e",
        b"x=%zz&y=%C3%A9",
        b"a=1;b=2",
        "user_id=\xe9t\xe9".encode("latin-1"),
    ],
)
def test_query_pairs_read_the_query_string_as_starlette_does(raw: bytes) -> None:
    assert query_pairs(raw) == QueryParams(raw).multi_items()


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b"1", 0),
        (b"[]", 1),
        (b'{"a": [1, {"b": 2}]}', 3),
        (b'["[[[[[[", "]]"]', 1),
        (b'{"k": "\\"[[["}', 1),
        (b"[[], [[]], []]", 3),
        (b'[{"a":[]},{"b":{"c":[]}}]', 4),
    ],
)
def test_nesting_depth_is_measured_on_the_text(text: bytes, depth: int) -> None:
    assert not nests_deeper_than(text, depth)
    if depth:
        assert nests_deeper_than(text, depth - 1)


def test_deep_text_is_caught_without_parsing() -> None:
    assert nests_deeper_than(b"[" * 100_000 + b"]" * 100_000, 64)
    assert not nests_deeper_than(b"[" * 64 + b"]" * 64, 64)
    assert nests_deeper_than(b"[" * 65 + b"]" * 65, 64)


@pytest.mark.parametrize(
    ("message", "root", "path", "reason"),
    [
        ("Expected `str`, got `int` - at `$.user_id`", "$", "$.user_id", "Expected `str`, got `int`"),
        (
            "Object missing required field `payload`",
            "$",
            "$.payload",
            "Object missing required field `payload`",
        ),
        ("Object contains unknown field `x` - at `$.a`", "$", "$.a", "Object contains unknown field `x`"),
        ("Expected `object`, got `array`", "$.items[2]", "$.items[2]", "Expected `object`, got `array`"),
        ("Expected `int` >= 1 - at `$.page`", "", "page", "Expected `int` >= 1"),
        ("Object missing required field `user_id`", "", "user_id", "Object missing required field `user_id`"),
    ],
)
def test_validation_messages_name_the_path(message: str, root: str, path: str, reason: str) -> None:
    problem = field_problem(message, root=root)

    assert (problem.path, problem.message) == (path, reason)


def test_cursor_round_trips_and_refuses_forgeries() -> None:
    moment = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)

    position = decode_cursor(encode_cursor(moment, "abc"))

    assert (position.created_at, position.id) == (moment, "abc")
    for forged in ("", "!!!", "WyJ4Il0", encode_cursor(moment, "abc")[:-3], "WyIyMDI2LTAxLTAxIiwieCJd"):
        with pytest.raises(InvalidCursor):
            decode_cursor(forged)


def test_bulk_envelope_accepts_exactly_the_documented_fields() -> None:
    assert BulkCreate.__struct_fields__ == BulkEnvelope.__struct_fields__
    assert msgspec.json.decode(b'{"items": [{"user_id": "a", "payload": {}}]}', type=BulkCreate)
    # An item that breaks CreateRecord is still a valid body: the 207 answer reports it.
    assert msgspec.json.decode(b'[{"user_id": "a*", "payload": 1}]', type=BulkBody)


def test_settings_come_from_app_variables() -> None:
    settings = Settings.from_env(
        {"APP_PORT": "9000", "APP_SERVER": "uvicorn", "APP_CACHE_TTL_SECONDS": "1.5"}
    )

    assert (settings.port, settings.server, settings.cache_ttl_seconds) == (9000, "uvicorn", 1.5)
    assert Settings.from_env({}).port == 8000


@pytest.mark.parametrize(
    "env",
    [
        {"APP_PORT": "eighty"},
        {"APP_SERVER": "gunicorn"},
        {"APP_DATABASE_URL": "mysql://x"},
        {"APP_PAGE_SIZE_DEFAULT": "0"},
        {"APP_LEASE_SECONDS": "-1"},
        {"APP_LEASE_SECONDS": "31"},
        {"APP_LEASE_MAX_TOKENS": "0"},
        {"APP_CACHE_MIN_USES": "0"},
        {"APP_MAX_BODY_BYTES": "-1"},
    ],
)
def test_bad_settings_are_refused_at_start(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        Settings.from_env(env)


def test_the_database_url_is_not_in_the_repr() -> None:
    assert "secret" not in repr(Settings(database_url="oracle://u:secret@h:1521/s"))
