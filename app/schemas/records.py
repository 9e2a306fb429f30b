"""Structs of the /data resource: what clients send and what they get back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from msgspec import Meta, Raw, Struct, field

UserId = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9._:@|+-]+$",
        description="The owner of the record: 1 to 100 letters, digits or ._:@|+-",
        examples=["user-42"],
    ),
]
RecordId = Annotated[str, Meta(description="Opaque record id", examples=["4b7f8c2e-..."])]
Timestamp = Annotated[datetime, Meta(tz=True, description="ISO-8601 with a time zone")]
# Stored payloads are answered as the bytes the database holds, never decoded and re-encoded.
StoredPayload = Annotated[Raw, Meta(extra_json_schema={"type": "object"})]
PageSize = Annotated[int, Meta(ge=1, le=100, description="Records per page (1 to 100)")]
PageNumber = Annotated[int, Meta(ge=1, le=1_000_000, description="1-based page number")]
FilterValue = Annotated[str, Meta(min_length=1, max_length=100)]
Search = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=500,
        description="Full-text search of the payload's strings and numbers: records holding every "
        'word, and each "quoted phrase" as a phrase (case folded, no stemming)',
        examples=['paid "blue widget"'],
    ),
]
SortParam = Annotated[
    str,
    Meta(
        max_length=80,
        description="The page's order: -created_at (newest first, the default), created_at, "
        "payload.<field> or -payload.<field> (by the field's JSON value; records without it last), "
        "relevance (with q). Page mode only: cursor mode is newest first",
        examples=["-payload.total"],
    ),
]
Fields = Annotated[
    str,
    Meta(
        max_length=2000,
        description="Comma-separated fields to answer: id, user_id, payload, created_at, updated_at, "
        "version, payload.<field> (a top-level payload field); all of them when absent",
        examples=["id,created_at,payload.total"],
    ),
]


class CreateRecord(Struct, forbid_unknown_fields=True, kw_only=True):
    """A record to store: its owner and any JSON object."""

    user_id: UserId
    payload: dict[str, Any]


class Record(Struct, kw_only=True):
    """A stored record."""

    id: RecordId
    user_id: str
    payload: StoredPayload
    created_at: datetime
    updated_at: datetime
    # 1 when stored, one more with every change; the record's ETag is this number, quoted.
    version: Annotated[int, Meta(ge=1, description="1 when stored, one more with every change")] = 1


class RecordPage(Struct, kw_only=True):
    """One page of a user's records, newest first.

    `page` and `total` are set in page mode and null in cursor mode, where counting every
    page would make deep pages cost more than the first.
    """

    items: list[Record]
    page: int | None
    page_size: int
    total: int | None
    has_more: bool
    next_cursor: str | None = None


MergePatch = Annotated[
    dict[str, Any],
    Meta(
        title="MergePatch",
        description="A JSON Merge Patch (RFC 7396) of the payload: a member replaces the payload's, "
        "null removes it, a nested object merges into the payload's",
        examples=[{"status": "paid", "draft": None}],
    ),
]


class ListQuery(Struct, forbid_unknown_fields=True, kw_only=True):
    """The query parameters of GET /data."""

    user_id: UserId
    page: PageNumber | None = None
    page_size: PageSize | None = None
    cursor: (
        Annotated[
            str,
            Meta(
                max_length=512,
                description="next_cursor of the previous page; empty (`cursor=`) for the first "
                "page in cursor mode, which counts no total",
            ),
        ]
        | None
    ) = None
    created_from: Timestamp | None = field(default=None, name="from")
    created_to: Timestamp | None = field(default=None, name="to")
    type: FilterValue | None = None
    status: FilterValue | None = None
    count: (
        Annotated[
            Literal["exact", "estimated", "none"],
            Meta(
                description="page mode's total: exact (the default) counts the matches; estimated "
                "takes the database's statistics instead (SQLite: an exact count up to 1000, which "
                "then means at least 1000); none counts nothing (total is null)"
            ),
        ]
        | None
    ) = None
    q: Search | None = None
    sort: SortParam | None = None
    fields: Fields | None = None


class ExportQuery(Struct, forbid_unknown_fields=True, kw_only=True):
    """The query parameters of GET /data/export: a list's filters, without paging."""

    user_id: UserId
    created_from: Timestamp | None = field(default=None, name="from")
    created_to: Timestamp | None = field(default=None, name="to")
    type: FilterValue | None = None
    status: FilterValue | None = None
    q: Search | None = None
    fields: Fields | None = None


class ReadQuery(Struct, forbid_unknown_fields=True, kw_only=True):
    """The query parameters of GET /data/{id}."""

    fields: Fields | None = None


# An item as the document describes it: any JSON object, because each is checked on its own
# against CreateRecord, and one that does not match is answered in the 207's `rejected` list
# (or, with all_or_nothing, fails the whole request with 422) rather than refusing the request.
BulkItem = Annotated[
    dict[str, Any],
    Meta(
        description="A record to store, as the body of POST /data (CreateRecord). Each item is "
        "checked on its own: one that does not match is listed in the answer's `rejected` "
        "(status 207) and the others are stored, unless all_or_nothing is set",
        examples=[{"user_id": "user-42", "payload": {"type": "order"}}],
    ),
]
BulkItems = Annotated[list[BulkItem], Meta(min_length=1, description="The items, without the envelope")]


class BulkCreate(Struct, forbid_unknown_fields=True, kw_only=True):
    """Many records in one request; with all_or_nothing a single bad item stores none."""

    items: BulkItems
    all_or_nothing: bool = False


# The body of POST /data/bulk: the envelope, or a bare array of items (all_or_nothing unset).
BulkBody = BulkCreate | BulkItems


# BulkItems as decoded at run time: each item kept as its JSON text, to be checked on its own.
RawItems = Annotated[list[Raw], Meta(min_length=1)]


class BulkEnvelope(Struct, forbid_unknown_fields=True, kw_only=True):
    """BulkCreate as decoded at run time."""

    items: RawItems
    all_or_nothing: bool = False


class StoredItem(Struct, kw_only=True):
    """An item of a bulk request that was stored."""

    index: int
    id: RecordId


class RejectedItem(Struct, kw_only=True):
    """An item of a bulk request that was not stored, and why."""

    index: int
    path: str
    reason: str


class BulkResult(Struct, kw_only=True):
    """What became of each item of a bulk request."""

    stored: list[StoredItem]
    rejected: list[RejectedItem]


@dataclass(frozen=True, slots=True)
class Versions:
    """What an If-Match header names: some versions of the record, or any (`*`)."""

    versions: frozenset[int] = frozenset()
    any: bool = False

    def holds(self, version: int) -> bool:
        return self.any or version in self.versions
