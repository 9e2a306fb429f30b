"""GET /data/export's formats: NDJSON (the default), CSV and Server-Sent Events, chosen from
the Accept header, each written a batch of records at a time as the database yields them."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from app.errors import NotAcceptable
from app.http.compression import Streamed
from app.schemas.records import Record

_encoder = msgspec.json.Encoder()
CSV_COLUMNS = ("id", "user_id", "created_at", "updated_at", "version", "payload")


def _ndjson(batch: list[Record]) -> bytes:
    return _encoder.encode_lines(batch)


def _timestamp(moment: object) -> str:
    return _encoder.encode(moment)[1:-1].decode()  # the JSON answers' form: ...Z


def _csv(batch: list[Record]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180
    writer.writerows(
        (
            r.id,
            r.user_id,
            _timestamp(r.created_at),
            _timestamp(r.updated_at),
            r.version,
            bytes(r.payload).decode(),
        )
        for r in batch
    )
    return out.getvalue().encode()


def _sse(batch: list[Record]) -> bytes:
    # One event a record (`data: {...}`); a line break
    # inside stored JSON text (whitespace) would end the field, so each line gets its own.
    return b"".join(
        b"data: " + line.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\ndata: ") + b"\n\n"
        for line in map(_encoder.encode, batch)
    )


@dataclass(frozen=True, slots=True)
class Format:
    media_type: str
    encode: Callable[[list[Any]], bytes]
    head: bytes = b""
    tail: Callable[[int], bytes] = lambda count: b""


NDJSON = Format("application/x-ndjson", _ndjson)
CSV = Format("text/csv; charset=utf-8", _csv, head=(",".join(CSV_COLUMNS) + "\r\n").encode())
SSE = Format(
    "text/event-stream",
    _sse,
    tail=lambda count: b'event: end\ndata: {"count":%d}\n\n' % count,  # a complete export says so
)
_BY_TYPE = {"application/x-ndjson": NDJSON, "text/csv": CSV, "text/event-stream": SSE}


def with_fields(chosen: Format, fields: tuple[str, ...]) -> Format:
    """The format for records cut to `fields` (services.fields.project): NDJSON and SSE encode
    them as they are; CSV has those columns only, in its own order, then each payload.<field>
    as its JSON text (empty where a record lacks it)."""
    if chosen is not CSV:
        return chosen
    columns = [name for name in CSV_COLUMNS if name in fields]
    picked = [name for name in fields if name.startswith("payload.")]

    def cell(record: dict[str, Any], name: str) -> object:
        value = record[name]
        if name in ("created_at", "updated_at"):
            return _timestamp(value)
        return bytes(value).decode() if name == "payload" else value

    def encode(batch: list[Any]) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        for record in batch:
            payload = record.get("payload", {})
            if picked and "payload" in fields:  # the whole payload, as stored
                payload = msgspec.json.decode(payload)
            writer.writerow(
                [cell(record, name) for name in columns]
                + [
                    _encoder.encode(payload[name[8:]]).decode() if name[8:] in payload else ""
                    for name in picked
                ]
            )
        return out.getvalue().encode()

    return Format(CSV.media_type, encode, head=(",".join([*columns, *picked]) + "\r\n").encode())


def negotiate(accept: str) -> Format:
    """The format the Accept header prefers (RFC 9110, section 12.5.1): the highest q among the
    three, NDJSON for `*/*`, `application/*` or no header; NotAcceptable when none may do."""
    if not accept.strip():
        return NDJSON
    best: tuple[float, int, Format] | None = None
    for order, element in enumerate(accept.split(",")):
        media, *params = (part.strip() for part in element.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        chosen = _BY_TYPE.get(media) or (NDJSON if media in ("*/*", "application/*") else None)
        if chosen is None and media == "text/*":
            chosen = CSV
        if chosen is None or quality <= 0:
            continue
        if best is None or (quality, -order) > (best[0], -best[1]):
            best = (quality, order, chosen)
    if best is None:
        raise NotAcceptable("the export is application/x-ndjson, text/csv or text/event-stream")
    return best[2]


async def started(batches: AsyncGenerator[list[Record], None]) -> list[Record] | None:
    """The first batch, read before the answer starts: a query the database refuses (a value
    it cannot hold) is still a problem answer with its status, not a cut-off 200."""
    try:
        return await anext(batches, None)
    except BaseException:
        await batches.aclose()
        raise


async def body(
    first: list[Record] | None,
    batches: AsyncGenerator[list[Record], None],
    chosen: Format,
    packed: Streamed | None = None,
) -> AsyncIterator[bytes]:
    """The answer's chunks: `first`, then a batch at a time as the database yields them, each
    encoded (and, with `packed`, compressed); the database cursor closes with the answer,
    whether the export ended or the client left."""
    count = 0
    pack = packed.chunk if packed is not None else None

    async def rest() -> AsyncIterator[list[Record]]:
        if first is not None:
            yield first
            async for batch in batches:
                yield batch

    try:
        if chosen.head:
            yield chosen.head if pack is None else pack(chosen.head)
        async for batch in rest():
            count += len(batch)
            encoded = chosen.encode(batch)
            yield encoded if pack is None else pack(encoded)
        tail = chosen.tail(count)
        if packed is None:
            if tail:
                yield tail
        else:
            yield packed.chunk(tail) + packed.end()
    finally:
        await batches.aclose()
