"""Answers: JSON bodies encoded once by msgspec, and problems (RFC 9457) for every error."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import msgspec
import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from app.errors import (
    MethodNotAllowed,
    NotFound,
    RateLimited,
    ServiceError,
)
from app.http import compression
from app.http.conditional import not_modified, page_etag
from app.http.links import page_links
from app.ports.cache import Page, StalePage, digest_tag
from app.schemas.common import FieldError, Problem
from app.schemas.records import ListQuery

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"
encoder = msgspec.json.Encoder()
VARY = (b"vary", b"accept-encoding")  # appended raw: a header mapping costs a cached read more
_GZIP = (b"content-encoding", b"gzip")
log = structlog.get_logger("app.http")


def json_response(
    body: Any,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    *,
    request: Request | None = None,
    packed: bytes | None = None,
) -> Response:
    """A Struct (or already-encoded bytes) as an application/json answer; gzip-compressed when
    `request` accepts it and the body is over the threshold (`packed`: the body compressed
    already, as a cached page's copy is)."""
    content = body if isinstance(body, bytes) else encoder.encode(body)
    if request is None or len(content) < compression.THRESHOLD:
        return _answer(content, status, headers)
    gzipped = compression.wanted(request.scope, content)
    answer = _answer(
        (compression.gzip(content) if packed is None else packed) if gzipped else content, status, headers
    )
    # Appended as they are: a header mapping costs a cached read more (docs/performance.md).
    answer.raw_headers.append(VARY)
    if gzipped:
        answer.raw_headers.append(_GZIP)
    return answer


def _answer(content: bytes, status: int, headers: Mapping[str, str] | None) -> Response:
    if headers is None and status >= 200 and status not in (204, 304):
        return JsonAnswer(content, status)
    return Response(content, status_code=status, headers=headers, media_type=JSON)


_JSON_TYPE = (b"content-type", JSON.encode())


class JsonAnswer(Response):
    """A JSON body with no headers of its own but its length and type, made in one step:
    Starlette's constructor looks through the headers and the media type on every answer
    (about 2% of a cached read's own cost, docs/performance.md)."""

    media_type = JSON

    def __init__(self, content: bytes, status: int = 200) -> None:
        self.status_code = status
        self.background = None
        self.body = content
        self.raw_headers = [(b"content-length", b"%d" % len(content)), _JSON_TYPE]


CACHEABLE = b"public, max-age=300"  # the service's own fixed files: anyone may keep them a while


def wants_gzip(request: Request) -> bool:
    """Whether the client accepts gzip, from the middleware's scan or, on the admin port (no
    middleware there), from the header itself."""
    known = request.scope.get("gzip")
    if known is not None:
        return bool(known)
    return compression.accepts_gzip(request.headers.get("accept-encoding", "").encode("latin-1"))


class Fixed:
    """An answer whose bytes never change while the process runs (the OpenAPI document, the
    docs page's files): its strong ETag and its gzip copy made once; cacheable by anyone for
    five minutes, then revalidated by ETag (304)."""

    def __init__(self, body: bytes, media_type: str) -> None:
        self.body = body
        self._media_type = media_type
        self.tag = b'"' + digest_tag(body) + b'"'
        compressible = not media_type.startswith("image/")
        self._packed = compression.gzip(body) if compressible and len(body) >= compression.THRESHOLD else None

    def answer(self, request: Request) -> Response:
        request.scope["cache_control"] = CACHEABLE
        if not_modified(request, self.tag):
            unchanged = Response(status_code=304)
            unchanged.raw_headers.append((b"etag", self.tag))
            return unchanged
        packed = self._packed is not None and wants_gzip(request)
        answer = Response(self._packed if packed else self.body, media_type=self._media_type)
        answer.raw_headers.append((b"etag", self.tag))
        if self._packed is not None:
            answer.raw_headers.append(VARY)
        if packed:
            answer.raw_headers.append(_GZIP)
        return answer


def exposition(request: Request, body: bytes, media_type: str) -> Response:
    """A scrape's answer, gzip-compressed when the scraper asks (Prometheus does)."""
    if len(body) < compression.THRESHOLD or not wants_gzip(request):
        return Response(body, media_type=media_type)
    answer = Response(compression.gzip(body), media_type=media_type)
    answer.raw_headers += [VARY, _GZIP]
    return answer


class PageAnswers:
    """A list page's answer: 304 when the client's copy is current, the page (gzip from the copy
    kept for its tag when the client accepts it), the stale page's Cache-Status and Age while
    the database is away, the page's ETag and its Link header."""

    def __init__(self, copies: compression.CompressedPages) -> None:
        self._copies = copies  # gzip copies of cached pages, made once each

    def answer(self, request: Request, found: Page | StalePage, query: ListQuery) -> Response:
        page = found.page if isinstance(found, StalePage) else found
        body = page.body
        tag = page_etag(page.tag)
        if not_modified(request, tag):
            unchanged = Response(status_code=304)
            unchanged.raw_headers.append((b"etag", tag))
            if len(body) >= compression.THRESHOLD:
                unchanged.raw_headers.append(VARY)
            return unchanged
        copy = self._copies(page) if compression.wanted(request.scope, body) else None
        if isinstance(found, StalePage):  # the database is away: RFC 9211 says so, RFC 9111 how old
            status = f"data-service; hit; ttl={-math.ceil(found.overdue)}; detail=database-unavailable"
            stale = {"Cache-Status": status, "Age": str(int(found.age))}
            answer = json_response(body, 200, stale, request=request, packed=copy)
        else:
            answer = json_response(body, request=request, packed=copy)
        answer.raw_headers.append((b"etag", tag))
        links = page_links(
            f"{request.scope.get('root_path', '')}/data", request.scope["query_string"], query, body
        )
        if links is not None:  # appended as it is, as VARY is
            answer.raw_headers.append((b"link", links.encode("latin-1")))
        return answer


def problem_response(request: Request, error: ServiceError) -> Response:
    """The one place a ServiceError becomes an HTTP answer."""
    request.scope["problem"] = error.slug  # for the access log
    problem = Problem(
        type=error.type_uri,
        title=error.title,
        status=error.status,
        detail=error.detail,
        instance=request.url.path,
        request_id=request.scope.get("request_id"),
        errors=[FieldError(path=e.path, message=e.message) for e in error.errors] or None,
    )
    headers: dict[str, str] = {}
    if isinstance(error, RateLimited):
        headers = {
            "Retry-After": str(error.retry_after),
            "RateLimit-Policy": f'"per-user";q={error.limit};w={error.window}',
            "RateLimit": f'"per-user";r=0;t={error.retry_after}',
        }
    elif (retry_after := getattr(error, "retry_after", None)) is not None:  # every 503 says when
        headers = {"Retry-After": str(retry_after)}
    return Response(
        encoder.encode(problem), status_code=error.status, headers=headers, media_type=PROBLEM_JSON
    )


class ServiceErrors:
    """The app's handler of ServiceError, which logs a 5xx's cause (its problem, the underlying
    error's class and code) at most once per `every` seconds for each problem and cause: a
    database down for an hour writes a line every ten seconds, not one per request."""

    def __init__(self, every: float = 10.0) -> None:
        self._every = every
        self._logged: dict[tuple[str, str], float] = {}

    async def __call__(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ServiceError)
        if exc.status >= 500:
            self._log_cause(exc)
        return problem_response(request, exc)

    def _log_cause(self, error: ServiceError) -> None:
        cause = error.__cause__
        key = (error.slug, type(cause).__name__ if cause is not None else "")
        now = time.monotonic()
        if now - self._logged.get(key, -math.inf) < self._every:
            return
        self._logged[key] = now
        log.warning(
            "unavailable" if error.status == 503 else "failed",
            problem=error.slug,
            detail=error.detail,
            cause=key[1] or None,
            code=getattr(cause, "sqlstate", None),
            hint=getattr(error, "hint", None),
        )


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 (no such route) and 405 answers, in the problem format."""
    assert isinstance(exc, HTTPException)
    error: ServiceError
    if exc.status_code == 405:
        error = MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}")
        response = problem_response(request, error)
        if exc.headers and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    if exc.status_code == 404:
        return problem_response(request, NotFound(f"no route for {request.url.path}"))
    error = ServiceError(str(exc.detail))
    error.status = exc.status_code
    return problem_response(request, error)


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    """Anything unforeseen: a bare 500 that names the request id, never the cause."""
    log.error(
        "unhandled error", request_id=request.scope.get("request_id"), path=request.url.path, exc_info=exc
    )
    return problem_response(request, ServiceError("an unexpected error occurred; quote the request id"))
