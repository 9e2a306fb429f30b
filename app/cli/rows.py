"""The rows an import reads: NDJSON or CSV, the export's own formats, one row at a time.

A row becomes the bulk item `{"user_id": ..., "payload": ...}`; the export's other fields and
columns (id, created_at, updated_at, version) are read and left out, since an import stores
new records. A row that cannot become an item carries the reason instead, and the service
judges the rest (the user id's form, the payload's limits) as it judges any bulk request.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Literal

import msgspec

Format = Literal["ndjson", "csv"]
_encode = msgspec.json.Encoder().encode


class _Line(msgspec.Struct):
    user_id: str
    payload: msgspec.Raw


_line = msgspec.json.Decoder(_Line)


@dataclass(frozen=True, slots=True)
class Row:
    """One row of the input: its number (from 1; an NDJSON row is a line, a CSV row a record
    after the header), the item it becomes or why it cannot, and the text it was read from."""

    number: int
    item: bytes | None
    reason: str | None
    text: str


def item_of(user_id: str, payload: bytes) -> bytes:
    return b'{"user_id":' + _encode(user_id) + b',"payload":' + payload + b"}"


def ndjson_rows(stream: BinaryIO, skip: int = 0) -> Iterator[Row]:
    """A row per line; blank lines are counted but yield nothing."""
    for number, line in enumerate(stream, start=1):
        if number <= skip or not line.strip():
            continue
        try:
            parsed = _line.decode(line)
        except msgspec.DecodeError as exc:
            yield Row(number, None, f"not a JSON object with user_id and payload: {exc}", _text(line))
            continue
        if not bytes(parsed.payload).lstrip().startswith(b"{"):
            yield Row(number, None, "payload is not a JSON object", _text(line))
            continue
        yield Row(number, item_of(parsed.user_id, bytes(parsed.payload)), None, _text(line))


def csv_rows(stream: BinaryIO, skip: int = 0) -> Iterator[Row]:
    """A row per CSV record after a header that names user_id and payload (RFC 4180)."""
    reader = csv.reader(codecs.iterdecode(stream, "utf-8"))
    header = next(reader, None)
    if header is None:
        return
    names = [name.strip().lstrip("\ufeff") for name in header]
    if "user_id" not in names or "payload" not in names:
        raise ValueError(
            f"the CSV header names {', '.join(names) or 'nothing'}: it needs user_id and payload"
        )
    user_at, payload_at = names.index("user_id"), names.index("payload")
    for number, fields in enumerate(reader, start=1):
        if number <= skip or not fields:
            continue
        text = ",".join(fields)
        if len(fields) != len(names):
            yield Row(number, None, f"{len(fields)} fields where the header names {len(names)}", text)
            continue
        payload = fields[payload_at].encode()
        try:
            msgspec.json.decode(payload)
        except msgspec.DecodeError as exc:
            yield Row(number, None, f"payload is not JSON: {exc}", text)
            continue
        if not payload.lstrip().startswith(b"{"):
            yield Row(number, None, "payload is not a JSON object", text)
            continue
        yield Row(number, item_of(fields[user_at], payload), None, text)


def rows_of(stream: BinaryIO, form: Format, skip: int = 0) -> Iterator[Row]:
    return csv_rows(stream, skip) if form == "csv" else ndjson_rows(stream, skip)


def _text(line: bytes) -> str:
    return line.rstrip(b"\r\n").decode("utf-8", "replace")
