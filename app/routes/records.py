"""/data: create, bulk create, read one, list a user's pages."""

from __future__ import annotations

import math

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from app.auth import Caller
from app.http.openapi import Operation
from app.http.requests import BodyLimits, read_json, read_query
from app.http.responses import json_response
from app.ports.cache import StalePage
from app.schemas.records import (
    BulkCreate,
    BulkEnvelope,
    BulkResult,
    CreateRecord,
    ListQuery,
    Record,
    RecordPage,
)
from app.services.records import RecordService

_create = msgspec.json.Decoder(CreateRecord)
_bulk = msgspec.json.Decoder(BulkEnvelope)
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
_BODY_ERRORS = (400, 413, 415, 422, 429, 503)


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
        item = await read_json(request, _create, self._body)
        record = await self._service.create(item, caller(request))
        location = f"{request.scope.get('root_path', '')}/data/{record.id}"
        return json_response(record, 201, {"Location": location})

    async def create_many(self, request: Request) -> Response:
        envelope = await read_json(request, _bulk, self._bulk_body)
        result = await self._service.create_many(
            envelope.items, all_or_nothing=envelope.all_or_nothing, caller=caller(request)
        )
        return json_response(result, 207 if result.rejected else 201)

    async def get(self, request: Request) -> Response:
        return json_response(await self._service.get(request.path_params["id"], caller(request)))

    async def list_page(self, request: Request) -> Response:
        page = await self._service.list_page(read_query(request, ListQuery), caller(request))
        if isinstance(page, StalePage):  # the database is away: RFC 9211 says so, RFC 9111 how old
            status = f"data-service; hit; ttl={-math.ceil(page.overdue)}; detail=database-unavailable"
            return json_response(page.body, 200, {"Cache-Status": status, "Age": str(int(page.age))})
        return json_response(page)

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
                response_headers={201: {"Location": "The new record's URL"}, **limited},
            ),
            Operation(
                "POST",
                "/data/bulk",
                self.create_many,
                "createRecords",
                "Store up to the configured maximum of records in one round trip",
                responses={201: BulkResult, 207: BulkResult},
                body=BulkCreate,
                errors=_BODY_ERRORS,
                response_headers=limited,
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
                response_headers={200: _STALE_HEADERS, **limited},
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
