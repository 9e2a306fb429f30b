"""Plain ASGI middleware around every request."""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_CLIENT_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")


class RequestContext:
    """Gives each request an id (the client's X-Request-ID when well formed) and echoes it,
    with the headers every answer carries."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = b""
        for name, value in scope["headers"]:
            if name == b"x-request-id" and _CLIENT_ID.match(value):
                request_id = value
                break
        if not request_id:
            request_id = uuid.uuid4().hex.encode()
        scope["request_id"] = request_id.decode()
        # Records are private to their owner: no shared cache may keep an answer.
        extra = [
            (b"x-request-id", request_id),
            (b"x-content-type-options", b"nosniff"),
            (b"cache-control", b"no-store"),
        ]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
