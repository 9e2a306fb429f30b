"""CORS for an exact list of origins: an origin not on the list never gets a CORS header.

(Starlette's CORSMiddleware sends Access-Control-Expose-Headers to every origin.)
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import Forbidden
from app.http.responses import problem_response


class ExactOriginCors:
    """Answers preflights and marks answers for the listed origins only."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        origins: Sequence[str],
        allow_credentials: bool,
        methods: Sequence[str],
        request_headers: Sequence[str],
        expose_headers: Sequence[str],
        max_age: int = 600,
    ) -> None:
        self.app = app
        self.origins = frozenset(origins)
        self.credentials = allow_credentials
        self.methods = ", ".join(methods)
        self.request_headers = {h.lower() for h in request_headers}
        self.allow_headers = ", ".join(request_headers)
        self.expose = ", ".join(expose_headers)
        self.max_age = str(max_age)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if scope["method"] == "OPTIONS" and origin is not None and "access-control-request-method" in headers:
            await self._preflight(scope, receive, send, origin, headers)
            return
        allowed = origin is not None and origin in self.origins

        async def send_marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer = MutableHeaders(scope=message)
                answer.add_vary_header("Origin")
                if allowed and origin is not None:
                    answer["Access-Control-Allow-Origin"] = origin
                    answer["Access-Control-Expose-Headers"] = self.expose
                    if self.credentials:
                        answer["Access-Control-Allow-Credentials"] = "true"
            await send(message)

        await self.app(scope, receive, send_marked)

    async def _preflight(
        self, scope: Scope, receive: Receive, send: Send, origin: str, headers: Headers
    ) -> None:
        asked = {
            h.strip().lower()
            for h in headers.get("access-control-request-headers", "").split(",")
            if h.strip()
        }
        if origin not in self.origins or not asked <= self.request_headers:
            response = problem_response(
                Request(scope), Forbidden("this origin, method or header is not allowed")
            )
            await response(scope, receive, send)
            return
        answer = {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": self.methods,
            "Access-Control-Allow-Headers": self.allow_headers,
            "Access-Control-Max-Age": self.max_age,
            "Vary": "Origin",
        }
        if self.credentials:
            answer["Access-Control-Allow-Credentials"] = "true"
        await Response(status_code=204, headers=answer)(scope, receive, send)
