"""The OpenAPI 3.1 document, built from the same operations and Structs the routes use."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from app.schemas.common import Problem

Handler = Callable[[Request], Awaitable[Response]]
_REF = "#/components/schemas/{name}"
_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    204: "Deleted",
    207: "Some items stored, some rejected",
    304: "Not modified: the client's copy is current",
    400: "Malformed request",
    404: "Not found",
    406: "Not acceptable: none of the formats the client accepts",
    413: "Body too large",
    409: "Conflict",
    412: "Precondition failed: the record changed since the version If-Match names",
    415: "Unsupported media type",
    422: "Validation failed",
    428: "Precondition required: send If-Match",
    429: "Rate limited",
    503: "Unavailable",
}


@dataclass(frozen=True, slots=True)
class Operation:
    """One route: what Starlette serves and what the OpenAPI document says of it."""

    method: str
    path: str
    handler: Handler
    operation_id: str
    summary: str
    responses: dict[int, type | None]
    body: Any = None  # a type, or a union of them (msgspec describes either)
    body_media: tuple[str, ...] = ("application/json",)
    query: type | None = None
    query_more: Sequence[dict[str, Any]] = ()  # parameters a Struct cannot name (payload.<field>)
    errors: Sequence[int] = field(default=())
    response_headers: dict[int, dict[str, str]] = field(default_factory=dict)
    request_headers: dict[str, str] = field(default_factory=dict)  # optional ones: name, description
    body_required: bool = True
    public: bool = False  # served without a token even when authentication is on
    documented: bool = True  # False: served, but not part of the API's document (the docs page)
    streamed: Sequence[str] = ()  # the 200 answer's media types when it is a stream, not one JSON body


def _media(status: int) -> str:
    return "application/problem+json" if status >= 400 else "application/json"


def openapi_document(
    operations: Sequence[Operation], *, title: str, version: str, bearer_auth: bool = False
) -> dict[str, Any]:
    """An OpenAPI 3.1 document for these operations; with bearer_auth, every non-public one
    needs a JWT and may answer 401 and 403."""
    operations = [op for op in operations if op.documented]
    types: list[Any] = [Problem]
    for op in operations:
        types += [t for t in (op.body, op.query, *op.responses.values()) if t is not None]
    refs, components = msgspec.json.schema_components(types, ref_template=_REF)
    ref_of = {t: r for t, r in zip(types, refs, strict=True)}
    for kind, schema in list(ref_of.items()):
        # A titled schema that is not a Struct's (a JSON object of any members) is a component
        # too, so that a body offered in several media types is one model to a client generator.
        if "$ref" not in schema and "title" in schema:
            components[schema["title"]] = schema
            ref_of[kind] = {"$ref": _REF.format(name=schema["title"])}
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        entry: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary}
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{(\w+)}", op.path)
        ]
        if op.query is not None:
            schema = components[ref_of[op.query]["$ref"].rsplit("/", 1)[1]]
            required = set(schema.get("required", ()))
            parameters += [
                {"name": name, "in": "query", "required": name in required, "schema": prop}
                for name, prop in schema["properties"].items()
            ]
        parameters += list(op.query_more)
        parameters += [
            {
                "name": name,
                "in": "header",
                "required": False,
                "description": text,
                "schema": {"type": "string", "minLength": 1, "maxLength": 257},
            }
            for name, text in op.request_headers.items()
        ]
        if parameters:
            entry["parameters"] = parameters
        if op.body is not None:
            entry["requestBody"] = {
                "required": op.body_required,
                "content": {media: {"schema": ref_of[op.body]} for media in op.body_media},
            }
        responses: dict[str, Any] = {}
        errors = [*op.errors, *((401, 403) if bearer_auth and not op.public else ())]
        statuses: dict[int, type | None] = {**op.responses, **dict.fromkeys(errors, Problem)}
        if bearer_auth and not op.public:
            entry["security"] = [{"bearer": []}]
        for status, kind in sorted(statuses.items()):
            answer: dict[str, Any] = {"description": _STATUS_TEXT.get(status, "")}
            if status == 200 and op.streamed:
                answer["content"] = {media: {"schema": {"type": "string"}} for media in op.streamed}
            elif kind is not None:
                answer["content"] = {_media(status): {"schema": ref_of[kind]}}
            headers = op.response_headers.get(status)
            if headers:
                answer["headers"] = {
                    name: {"description": text, "schema": {"type": "string"}}
                    for name, text in headers.items()
                }
            responses[str(status)] = answer
        entry["responses"] = responses
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": components},
    }
    if bearer_auth:
        document["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        }
    return document
