"""/data: create, bulk create, read one, list a user's pages."""

from __future__ import annotations

import math

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from app.auth import Caller
from app.http.links import page_links
from app.http.openapi import Operation
from app.http.requests import (
    BodyLimits,
    decode_json,
    fingerprint,
    idempotency_key,
    read_json,
    read_json_body,
    read_query,
)
from app.http.responses import json_response
from app.ports.cache import StalePage
from app.ports.storage import KeptAnswer
from app.schemas.records import (
    BulkBody,
    BulkEnvelope,
    BulkResult,
    CreateRecord,
    ListQuery,
    RawItems,
    Record,
    RecordPage,
)
from app.services.bulk import BulkRequest
from app.services.records import RecordService

_create = msgspec.json.Decoder(CreateRecord)
_bulk = msgspec.json.Decoder(BulkEnvelope | RawItems)
_RATE_LIMIT_HEADERS = {
    "Retry-After": "Seconds until the user's next request is admitted",
    "RateLimit-Policy": 'The per-user quota, e.g. "per-user";q=100;w=60',
    "RateLimit": 'What is left of it, e.g. "per-user";r=0;t=1',
}
_STALE_HEADERS = {
    "Cache-Status": "Only on a page served stale while the database is away (RFC 9211): "
    '"data-service; hit; ttl=-<seconds past its TTL>; detail=database-unavailable"',
    "Age": "With Cache-Status: seconds since the page was read from the database",
}
_LINK_HEADER = {
    "Link": "The neighbouring pages (RFC 8288): in cursor mode `</data?user_id=u&cursor=...>; "
    'rel="next"` while there are more; in page mode `rel="first"` and `rel="prev"` past page 1 '
    'and `rel="next"` while there are more; none on a result that fits one page',
}
_BODY_ERRORS = (400, 409, 413, 415, 422, 429, 503)
_KEY_HEADER = {
    "Idempotency-Key": "Makes the write idempotent (draft-ietf-httpapi-idempotency-key-header): "
    'a string such as "a1b2", 1 to 255 printable ASCII characters, kept per caller for the '
    "configured time. A retry with it gets the first answer; the same key with another body "
    "422; while the first still runs 409",
}
_KEYED_HEADERS = {
    "Idempotent-Replayed": "true when the answer is the one kept for the Idempotency-Key, replayed",
}


class _Id(msgspec.Struct):
    id: str


_id_of = msgspec.json.Decoder(_Id)


def _location(request: Request, record_id: str) -> str:
    return f"{request.scope.get('root_path', '')}/data/{record_id}"


def _envelope(body: BulkEnvelope | list[msgspec.Raw]) -> BulkRequest:
    """A bare array is the envelope's items with all_or_nothing unset; its items' paths start
    at `$[i]` instead of `$.items[i]`."""
    if isinstance(body, BulkEnvelope):
        return BulkRequest(body.items, all_or_nothing=body.all_or_nothing, root="$.items")
    return BulkRequest(body, all_or_nothing=False, root="$")


def _replayed(kept: KeptAnswer) -> dict[str, str]:
    """A replayed answer says so (as Stripe's and others' idempotency keys do)."""
    return {"Idempotent-Replayed": "true"} if kept.replayed else {}


def caller(request: Request) -> Caller:
    """Who is calling, as the authentication middleware found out."""
    return Caller(principal=request.scope.get("principal"), request_id=request.scope.get("request_id", ""))


class RecordRoutes:
    """The /data handlers, bound to one RecordService."""

    def __init__(self, service: RecordService, *, body: BodyLimits, bulk_body: BodyLimits) -> None:
        self._service = service
        self._body = body
        self._bulk_body = bulk_body

    async def create(self, request: Request) -> Response:
        key = idempotency_key(request)
        if key is None:
            item = await read_json(request, _create, self._body)
            record = await self._service.create(item, caller(request))
            return json_response(record, 201, {"Location": _location(request, record.id)})
        body = await read_json_body(request, self._body)
        item = decode_json(body, _create, self._body)
        kept = await self._service.create_once(item, caller(request), key, fingerprint(request, body))
        headers = _replayed(kept)
        if kept.answer.status == 201:
            headers["Location"] = _location(request, _id_of.decode(kept.answer.body).id)
        return json_response(kept.answer.body, kept.answer.status, headers)

    async def create_many(self, request: Request) -> Response:
        key = idempotency_key(request)
        if key is None:
            bulk = _envelope(await read_json(request, _bulk, self._bulk_body))
            result = await self._service.create_many(bulk, caller=caller(request))
            return json_response(result, 207 if result.rejected else 201)
        body = await read_json_body(request, self._bulk_body)
        kept = await self._service.create_many_once(
            _envelope(decode_json(body, _bulk, self._bulk_body)),
            caller=caller(request),
            key=key,
            fingerprint=fingerprint(request, body),
        )
        return json_response(kept.answer.body, kept.answer.status, _replayed(kept))

    async def get(self, request: Request) -> Response:
        return json_response(await self._service.get(request.path_params["id"], caller(request)))

    async def list_page(self, request: Request) -> Response:
        query = read_query(request, ListQuery)
        page = await self._service.list_page(query, caller(request))
        body = page.body if isinstance(page, StalePage) else page
        if isinstance(page, StalePage):  # the database is away: RFC 9211 says so, RFC 9111 how old
            status = f"data-service; hit; ttl={-math.ceil(page.overdue)}; detail=database-unavailable"
            answer = json_response(body, 200, {"Cache-Status": status, "Age": str(int(page.age))})
        else:
            answer = json_response(body)
        links = page_links(
            f"{request.scope.get('root_path', '')}/data", request.scope["query_string"], query, body
        )
        if links is not None:  # appended as it is: a header mapping costs the cached read ~1.5 us
            answer.raw_headers.append((b"link", links.encode("latin-1")))
        return answer

    @property
    def operations(self) -> list[Operation]:
        """Every /data route with what the OpenAPI document says of it."""
        limited = {429: _RATE_LIMIT_HEADERS}
        return [
            Operation(
                "POST",
                "/data",
                self.create,
                "createRecord",
                "Store a record",
                responses={201: Record},
                body=CreateRecord,
                errors=_BODY_ERRORS,
                response_headers={201: {"Location": "The new record's URL", **_KEYED_HEADERS}, **limited},
                request_headers=_KEY_HEADER,
            ),
            Operation(
                "POST",
                "/data/bulk",
                self.create_many,
                "createRecords",
                "Store up to the configured maximum of records in one round trip: the envelope, "
                "or a bare array of items. Each item is checked on its own: 201 when every one "
                "was stored, 207 when some were and `rejected` says why the others were not "
                "(with all_or_nothing, or when none could be stored, 422 and nothing is stored)",
                responses={201: BulkResult, 207: BulkResult},
                body=BulkBody,
                errors=_BODY_ERRORS,
                response_headers={201: _KEYED_HEADERS, 207: _KEYED_HEADERS, **limited},
                request_headers=_KEY_HEADER,
            ),
            Operation(
                "GET",
                "/data",
                self.list_page,
                "listRecords",
                "A user's records, newest first, by page or by cursor",
                responses={200: RecordPage},
                query=ListQuery,
                errors=(422, 429, 503),
                response_headers={200: _LINK_HEADER | _STALE_HEADERS, **limited},
            ),
            Operation(
                "GET",
                "/data/{id}",
                self.get,
                "getRecord",
                "One record by id",
                responses={200: Record},
                errors=(404, 503),
            ),
        ]
