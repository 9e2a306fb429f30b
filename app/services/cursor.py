"""Opaque keyset cursors: the (created_at, id) of the last record of a page."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

import msgspec

from app.ports.storage import Position


class InvalidCursor(ValueError):
    """The cursor was not made by this service."""


def encode_cursor(created_at: datetime, record_id: str) -> str:
    """The cursor that starts the page after this record."""
    raw = msgspec.json.encode([created_at.isoformat(), record_id])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> Position:
    """The position a cursor names; InvalidCursor if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, record_id = msgspec.json.decode(raw, type=tuple[str, str])
        moment = datetime.fromisoformat(created_at)
    except (binascii.Error, msgspec.DecodeError, ValueError):
        raise InvalidCursor("the cursor is not one this service issued") from None
    if moment.tzinfo is None:
        raise InvalidCursor("the cursor is not one this service issued")
    return Position(created_at=moment, id=record_id)
