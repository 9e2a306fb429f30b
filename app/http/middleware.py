"""Plain ASGI middleware around every request."""

from __future__ import annotations

import re
import time
from random import getrandbits

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import HeadersTooLarge
from app.http.responses import problem_response
from app.observability import context
from app.observability.context import route_template
from app.observability.logging import AccessLog
from app.observability.metrics import Metrics
from app.resilience import deadline

_CLIENT_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")


class RequestContext:
    """Gives each request an id (the client's X-Request-ID when well formed) and echoes it,
    with the headers every answer carries; refuses oversized headers with 431 (each server
    has a limit of its own, and uvicorn's httptools parser a generous one); starts the
    request's deadline (app/resilience/deadline.py); counts and times every answer (metrics)."""

    def __init__(
        self,
        app: ASGIApp,
        max_header_bytes: int = 16_384,
        deadline_seconds: float = 10.0,
        metrics: Metrics | None = None,
        access_log: AccessLog | None = None,
    ) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes
        self.deadline_seconds = deadline_seconds
        self.metrics = metrics
        self.access_log = access_log if access_log is not None and access_log.enabled else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        deadline.start(self.deadline_seconds)
        request_id = b""
        length = b""
        size = 0
        for name, value in scope["headers"]:
            size += len(name) + len(value) + 4
            if name == b"x-request-id" and _CLIENT_ID.match(value):
                request_id = value
            elif name == b"content-length":
                length = value
        if not request_id:
            request_id = b"%032x" % getrandbits(128)
        scope["request_id"] = text_id = request_id.decode()
        context.request_id.set(text_id)
        context.user_id.set(None)
        context.scope.set(scope)
        # Records are private to their owner: no shared cache may keep an answer.
        extra = [
            (b"x-request-id", request_id),
            (b"x-content-type-options", b"nosniff"),
            (b"cache-control", b"no-store"),
        ]

        status = 500  # what the server answers when the app fails before it could

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        try:
            if size > self.max_header_bytes:
                problem = HeadersTooLarge(f"request headers may hold at most {self.max_header_bytes} bytes")
                await problem_response(Request(scope), problem)(scope, receive, send_with_headers)
                return
            await self.app(scope, receive, send_with_headers)
        finally:
            took = time.perf_counter() - started
            endpoint = route_template(scope)
            if self.metrics is not None:
                self.metrics.request(scope["method"], endpoint, status, took)
            if self.access_log is not None:
                self.access_log.write(
                    status,
                    scope["method"],
                    endpoint,
                    took,
                    context.user_id.get(),
                    int(length) if length.isdigit() else None,
                    scope.get("problem"),
                )
