"""GET /data: a user's pages (filtered, searched, sorted, with the fields asked), one record,
an export of everything a user's filters match."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from app.http import compression, export
from app.http.auth import caller
from app.http.conditional import etag, not_modified
from app.http.openapi import Operation
from app.http.requests import convert_query, query_params, read_query
from app.http.responses import PageAnswers, json_response
from app.schemas.finding import PAYLOAD_FILTER_PARAMETER, fields_of, payload_filters, payload_params
from app.schemas.headers import (
    ETAG_HEADER,
    IF_NONE_MATCH_HEADER,
    IF_NONE_MATCH_PAGE,
    LINK_HEADER,
    PAGE_TAG_HEADER,
    RATE_LIMIT_HEADERS,
    STALE_HEADERS,
)
from app.schemas.records import ExportQuery, ListQuery, ReadQuery, Record, RecordPage
from app.services.fields import project
from app.services.records import RecordService


class ReadRoutes:
    """The /data reads, bound to one RecordService."""

    def __init__(self, service: RecordService, *, pages: PageAnswers) -> None:
        self._service = service
        self._pages = pages

    async def get(self, request: Request) -> Response:
        fields = fields_of(read_query(request, ReadQuery).fields) if request.scope["query_string"] else None
        record = await self._service.get(request.path_params["id"], caller(request))
        tag = etag(record.version)
        if not_modified(request, tag.encode()):
            return Response(status_code=304, headers={"ETag": tag})
        shown = record if fields is None else project(record, fields)
        return json_response(shown, headers={"ETag": tag}, request=request)

    async def list_page(self, request: Request) -> Response:
        params = query_params(request)
        match = (
            payload_filters(payload_params(params)) if b"payload." in request.scope["query_string"] else ()
        )
        query = convert_query(params, ListQuery)
        return self._pages.answer(
            request, await self._service.list_page(query, caller(request), match), query
        )

    async def export(self, request: Request) -> Response:
        chosen = export.negotiate(request.headers.get("accept", ""))
        params = query_params(request)
        match = payload_filters(payload_params(params))
        query = convert_query(params, ExportQuery)
        batches = await self._service.export(query, caller(request), match)
        if query.fields is not None:
            chosen = export.with_fields(chosen, fields_of(query.fields) or ())
        headers = {"Vary": "Accept-Encoding"}
        if chosen.media_type.startswith("text/csv"):
            headers["Content-Disposition"] = 'attachment; filename="records.csv"'
        packed = compression.Streamed() if request.scope.get("gzip") else None
        if packed is not None:
            headers["Content-Encoding"] = "gzip"
        first = await export.started(batches)
        return StreamingResponse(
            export.body(first, batches, chosen, packed), media_type=chosen.media_type, headers=headers
        )

    @property
    def operations(self) -> list[Operation]:
        """Every /data read with what the OpenAPI document says of it."""
        limited = {429: RATE_LIMIT_HEADERS}
        return [
            Operation(
                "GET",
                "/data",
                self.list_page,
                "listRecords",
                "A user's records, newest first, by page or by cursor; narrowed by any payload "
                "field (payload.<field>) and by full-text search (q), in page mode sorted as asked "
                "(sort), answering only the fields asked (fields)",
                responses={200: RecordPage, 304: None},
                query=ListQuery,
                query_more=[PAYLOAD_FILTER_PARAMETER],
                errors=(400, 422, 429, 503),
                response_headers={
                    200: LINK_HEADER | STALE_HEADERS | PAGE_TAG_HEADER,
                    304: PAGE_TAG_HEADER,
                    **limited,
                },
                request_headers=IF_NONE_MATCH_PAGE,
            ),
            Operation(  # before /data/{id}, which would take "export" for an id
                "GET",
                "/data/export",
                self.export,
                "exportRecords",
                "Every record of a user that the filters match, newest first, streamed as the "
                "database reads them: NDJSON (application/x-ndjson, one record a line; the "
                "default), CSV (text/csv: id, user_id, created_at, updated_at, version, payload "
                "as JSON text) or Server-Sent Events (text/event-stream: `data: {record}` each, "
                '`event: end` with `{"count": n}` last), as Accept asks. One token of the rate limit',
                responses={200: None},
                query=ExportQuery,
                query_more=[PAYLOAD_FILTER_PARAMETER],
                errors=(406, 422, 429, 503),
                response_headers=limited,
                streamed=("application/x-ndjson", "text/csv", "text/event-stream"),
            ),
            Operation(
                "GET",
                "/data/{id}",
                self.get,
                "getRecord",
                "One record by id (only the fields asked, with fields)",
                responses={200: Record, 304: None},
                query=ReadQuery,
                errors=(400, 404, 422, 503),
                response_headers={200: ETAG_HEADER, 304: ETAG_HEADER},
                request_headers=IF_NONE_MATCH_HEADER,
            ),
        ]
