"""The rows `data-service import` reads: the export's formats become bulk items, and a row that
cannot become one says why, under its number."""

from __future__ import annotations

import io
import json

import pytest

from app.cli.rows import csv_rows, ndjson_rows


def test_an_exported_ndjson_line_becomes_its_user_and_payload_only() -> None:
    exported = {
        "id": "0b7c",
        "user_id": "user-1",
        "payload": {"type": "order", "total": 12.5},
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "version": 3,
    }
    [row] = ndjson_rows(io.BytesIO(json.dumps(exported).encode() + b"\n"))

    assert row.number == 1 and row.reason is None
    assert json.loads(row.item or b"") == {"user_id": "user-1", "payload": {"type": "order", "total": 12.5}}


def test_ndjson_rows_that_cannot_be_items_say_why_under_their_line_number() -> None:
    lines = [
        b'{"user_id": "a", "payload": {}}',
        b"",
        b"not json",
        b'{"user_id": 7, "payload": {}}',
        b'{"payload": {}}',
        b'{"user_id": "a", "payload": [1, 2]}',
        b'{"user_id": "a", "payload": {"x": 1}}',
    ]
    rows = list(ndjson_rows(io.BytesIO(b"\n".join(lines) + b"\n")))

    assert [(r.number, r.item is not None) for r in rows] == [
        (1, True),
        (3, False),
        (4, False),
        (5, False),
        (6, False),
        (7, True),
    ]
    reasons = {r.number: r.reason or "" for r in rows}
    assert "malformed" in reasons[3]
    assert "str" in reasons[4] and "user_id" in reasons[5]
    assert reasons[6] == "payload is not a JSON object"
    assert rows[1].text == "not json"


def test_skip_leaves_out_the_rows_already_imported_but_keeps_their_numbers() -> None:
    data = b"".join(b'{"user_id": "u", "payload": {"n": %d}}\n' % n for n in range(1, 6))
    assert [r.number for r in ndjson_rows(io.BytesIO(data), skip=3)] == [4, 5]
    csv_data = b"user_id,payload\r\n" + b"".join(b'u,"{""n"": %d}"\r\n' % n for n in range(1, 6))
    assert [r.number for r in csv_rows(io.BytesIO(csv_data), skip=3)] == [4, 5]


def test_an_exported_csv_reads_back_with_its_quoted_json() -> None:
    data = (
        "id,user_id,created_at,updated_at,version,payload\r\n"
        'x1,user-1,2026-01-01T00:00:00Z,2026-01-01T00:00:00Z,1,"{""note"": ""a, b"", ""é"": 1}"\r\n'
        "x2,user-2,2026-01-01T00:00:00Z,2026-01-01T00:00:00Z,1,not json\r\n"
        "x3,user-3,too few\r\n"
    ).encode()
    rows = list(csv_rows(io.BytesIO(data)))

    assert json.loads(rows[0].item or b"") == {"user_id": "user-1", "payload": {"note": "a, b", "é": 1}}
    assert rows[1].item is None and "payload is not JSON" in (rows[1].reason or "")
    assert rows[2].item is None and "3 fields where the header names 6" in (rows[2].reason or "")


def test_a_csv_header_without_user_id_and_payload_is_refused() -> None:
    with pytest.raises(ValueError, match="needs user_id and payload"):
        list(csv_rows(io.BytesIO(b"id,body\r\n1,{}\r\n")))
