"""Authentication as plain ASGI middleware: a bearer token on every non-public route."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth import Caller
from app.errors import Unauthorized
from app.http.responses import problem_response

if TYPE_CHECKING:  # jwt and cryptography load only where tokens are verified
    from app.auth.tokens import TokenVerifier


class Authenticate:
    """Puts the verified Principal in the scope, or answers 401 before any route runs."""

    def __init__(self, app: ASGIApp, verifier: TokenVerifier, public: frozenset[str]) -> None:
        self.app = app
        self.verifier = verifier
        self.public = public  # the probes and the OpenAPI document

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.public:
            await self.app(scope, receive, send)
            return
        try:
            scope["principal"] = await self.verifier.verify(_bearer(scope))
        except Unauthorized as exc:
            response = problem_response(Request(scope), exc)
            response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _bearer(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = bytes(value).decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            break
    raise Unauthorized("send a bearer token: Authorization: Bearer <JWT>")


def caller(request: Request) -> Caller:
    """Who is calling, as the authentication middleware found out."""
    return Caller(principal=request.scope.get("principal"), request_id=request.scope.get("request_id", ""))
