"""/data: create, bulk create, read, change and delete one, list a user's pages, export them."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from app.auth import Caller
from app.errors import PreconditionRequired
from app.http import compression, export
from app.http.conditional import etag, if_match, not_modified
from app.http.openapi import Operation
from app.http.requests import (
    MERGE_PATCH,
    BodyLimits,
    decode_json,
    fingerprint,
    idempotency_key,
    read_json,
    read_json_body,
    read_merge_patch,
    read_query,
)
from app.http.responses import PageAnswers, json_response
from app.ports.storage import KeptAnswer
from app.schemas.headers import (
    BODY_ERRORS,
    ETAG_HEADER,
    IF_MATCH_HEADER,
    IF_NONE_MATCH_HEADER,
    IF_NONE_MATCH_PAGE,
    KEY_HEADER,
    KEYED_HEADERS,
    LINK_HEADER,
    PAGE_TAG_HEADER,
    RATE_LIMIT_HEADERS,
    STALE_HEADERS,
)
from app.schemas.records import (
    BulkBody,
    BulkEnvelope,
    BulkResult,
    CreateRecord,
    ExportQuery,
    ListQuery,
    MergePatch,
    RawItems,
    Record,
    RecordPage,
    Versions,
)
from app.services.bulk import BulkRequest
from app.services.records import RecordService

_create = msgspec.json.Decoder(CreateRecord)
_patch = msgspec.json.Decoder(MergePatch)
_bulk = msgspec.json.Decoder(BulkEnvelope | RawItems)


class _Id(msgspec.Struct):
    id: str
    version: int = 1


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

    def __init__(
        self,
        service: RecordService,
        *,
        body: BodyLimits,
        bulk_body: BodyLimits,
        pages: PageAnswers,
        require_if_match: bool = False,
    ) -> None:
        self._service = service
        self._body = body
        self._bulk_body = bulk_body
        self._require_if_match = require_if_match
        self._pages = pages

    async def create(self, request: Request) -> Response:
        key = idempotency_key(request)
        if key is None:
            item = await read_json(request, _create, self._body)
            record = await self._service.create(item, caller(request))
            headers = {"Location": _location(request, record.id), "ETag": etag(record.version)}
            return json_response(record, 201, headers, request=request)
        body = await read_json_body(request, self._body)
        item = decode_json(body, _create, self._body)
        kept = await self._service.create_once(item, caller(request), key, fingerprint(request, body))
        headers = _replayed(kept)
        if kept.answer.status == 201:
            stored = _id_of.decode(kept.answer.body)
            headers["Location"] = _location(request, stored.id)
            headers["ETag"] = etag(stored.version)
        return json_response(kept.answer.body, kept.answer.status, headers, request=request)

    async def create_many(self, request: Request) -> Response:
        key = idempotency_key(request)
        if key is None:
            bulk = _envelope(await read_json(request, _bulk, self._bulk_body))
            result = await self._service.create_many(bulk, caller=caller(request))
            return json_response(result, 207 if result.rejected else 201, request=request)
        body = await read_json_body(request, self._bulk_body)
        kept = await self._service.create_many_once(
            _envelope(decode_json(body, _bulk, self._bulk_body)),
            caller=caller(request),
            key=key,
            fingerprint=fingerprint(request, body),
        )
        return json_response(kept.answer.body, kept.answer.status, _replayed(kept), request=request)

    async def get(self, request: Request) -> Response:
        record = await self._service.get(request.path_params["id"], caller(request))
        tag = etag(record.version)
        if not_modified(request, tag.encode()):
            return Response(status_code=304, headers={"ETag": tag})
        return json_response(record, headers={"ETag": tag}, request=request)

    async def export(self, request: Request) -> Response:
        chosen = export.negotiate(request.headers.get("accept", ""))
        batches = await self._service.export(read_query(request, ExportQuery), caller(request))
        headers = {"Vary": "Accept-Encoding"}
        if chosen is export.CSV:
            headers["Content-Disposition"] = 'attachment; filename="records.csv"'
        packed = compression.Streamed() if request.scope.get("gzip") else None
        if packed is not None:
            headers["Content-Encoding"] = "gzip"
        first = await export.started(batches)
        return StreamingResponse(
            export.body(first, batches, chosen, packed), media_type=chosen.media_type, headers=headers
        )

    async def update(self, request: Request) -> Response:
        expected = self._expected(request)
        patch = await read_merge_patch(request, _patch, self._body)
        record = await self._service.update(
            request.path_params["id"], patch, caller(request), if_match=expected
        )
        return json_response(record, headers={"ETag": etag(record.version)}, request=request)

    async def delete(self, request: Request) -> Response:
        await self._service.delete(
            request.path_params["id"], caller(request), if_match=self._expected(request)
        )
        return Response(status_code=204)

    def _expected(self, request: Request) -> Versions | None:
        expected = if_match(request)
        if expected is None and self._require_if_match:
            raise PreconditionRequired("send If-Match with the record's ETag (as GET answers it)")
        return expected

    async def list_page(self, request: Request) -> Response:
        query = read_query(request, ListQuery)
        return self._pages.answer(request, await self._service.list_page(query, caller(request)), query)

    @property
    def operations(self) -> list[Operation]:
        """Every /data route with what the OpenAPI document says of it."""
        limited = {429: RATE_LIMIT_HEADERS}
        return [
            Operation(
                "POST",
                "/data",
                self.create,
                "createRecord",
                "Store a record",
                responses={201: Record},
                body=CreateRecord,
                errors=BODY_ERRORS,
                response_headers={
                    201: {"Location": "The new record's URL", **ETAG_HEADER, **KEYED_HEADERS},
                    **limited,
                },
                request_headers=KEY_HEADER,
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
                errors=BODY_ERRORS,
                response_headers={201: KEYED_HEADERS, 207: KEYED_HEADERS, **limited},
                request_headers=KEY_HEADER,
            ),
            Operation(
                "GET",
                "/data",
                self.list_page,
                "listRecords",
                "A user's records, newest first, by page or by cursor",
                responses={200: RecordPage, 304: None},
                query=ListQuery,
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
                errors=(406, 422, 429, 503),
                response_headers=limited,
                streamed=("application/x-ndjson", "text/csv", "text/event-stream"),
            ),
            Operation(
                "GET",
                "/data/{id}",
                self.get,
                "getRecord",
                "One record by id",
                responses={200: Record, 304: None},
                errors=(400, 404, 503),
                response_headers={200: ETAG_HEADER, 304: ETAG_HEADER},
                request_headers=IF_NONE_MATCH_HEADER,
            ),
            Operation(
                "PATCH",
                "/data/{id}",
                self.update,
                "updateRecord",
                "Change a record's payload with a JSON Merge Patch (RFC 7396): members of the patch "
                "replace the payload's, null removes one, nested objects merge. Answers the record "
                "as stored, with its next version",
                responses={200: Record},
                body=MergePatch,
                body_media=(MERGE_PATCH, "application/json"),
                errors=(400, 404, 409, 412, 413, 415, 422, 428, 429, 503),
                response_headers={200: ETAG_HEADER, **limited},
                request_headers=IF_MATCH_HEADER,
            ),
            Operation(
                "DELETE",
                "/data/{id}",
                self.delete,
                "deleteRecord",
                "Delete a record",
                responses={204: None},
                errors=(400, 404, 409, 412, 428, 429, 503),
                response_headers=limited,
                request_headers=IF_MATCH_HEADER,
            ),
        ]
