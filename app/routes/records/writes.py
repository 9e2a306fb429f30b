"""POST, PATCH and DELETE on /data: create one or many, change one, delete one."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from app.errors import PreconditionRequired
from app.http.auth import caller
from app.http.conditional import etag, if_match
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
)
from app.http.responses import json_response
from app.ports.storage import KeptAnswer
from app.schemas.headers import (
    BODY_ERRORS,
    ETAG_HEADER,
    IF_MATCH_HEADER,
    KEY_HEADER,
    KEYED_HEADERS,
    RATE_LIMIT_HEADERS,
)
from app.schemas.records import (
    BulkBody,
    BulkEnvelope,
    BulkResult,
    CreateRecord,
    MergePatch,
    RawItems,
    Record,
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


class WriteRoutes:
    """The /data writes, bound to one RecordService."""

    def __init__(
        self,
        service: RecordService,
        *,
        body: BodyLimits,
        bulk_body: BodyLimits,
        require_if_match: bool = False,
    ) -> None:
        self._service = service
        self._body = body
        self._bulk_body = bulk_body
        self._require_if_match = require_if_match

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

    @property
    def operations(self) -> list[Operation]:
        """Every /data write with what the OpenAPI document says of it."""
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
