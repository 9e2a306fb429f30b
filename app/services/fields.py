"""`fields=`: the parts of a record a client asked for, in the record's own order."""

from __future__ import annotations

from typing import Any

import msgspec

from app.schemas.finding import RECORD_FIELDS
from app.schemas.records import Record

_payload = msgspec.json.Decoder(dict[str, Any])


def project(record: Record, fields: tuple[str, ...]) -> dict[str, Any]:
    """The record with only `fields`: its own (id, payload, ...) and `payload.<field>`s, the
    latter as a payload object holding those of them the record has."""
    picked = [name[len("payload.") :] for name in fields if name.startswith("payload.")]
    shown: dict[str, Any] = {}
    for name in RECORD_FIELDS:
        if name in fields:
            shown[name] = getattr(record, name)
        elif name == "payload" and picked:
            whole = _payload.decode(record.payload)
            shown["payload"] = {key: whole[key] for key in picked if key in whole}
    return shown


def projected(records: list[Record], fields: tuple[str, ...] | None) -> list[Any]:
    """The records as asked: whole when no fields were named."""
    return records if fields is None else [project(record, fields) for record in records]
