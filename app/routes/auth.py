"""/auth/revoke: put a token on the deny-list (shared through Redis when configured)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta, Struct
from starlette.requests import Request
from starlette.responses import Response

from app.auth import Principal
from app.auth.revocation import Revocations
from app.errors import FieldProblem, Forbidden, NotFound, ValidationFailed
from app.http.openapi import Operation
from app.http.requests import BodyLimits, read_json


class RevokeToken(Struct, forbid_unknown_fields=True, kw_only=True):
    """Another token to revoke (admins only): its jti and when it expires."""

    jti: Annotated[str, Meta(min_length=1, max_length=200)]
    expires_at: Annotated[datetime, Meta(tz=True)]


_revoke = msgspec.json.Decoder(RevokeToken)


class AuthRoutes:
    """Logout (revoke the presented token) and revocation of other tokens by admins."""

    def __init__(self, revocations: Revocations, *, enabled: bool, body: BodyLimits) -> None:
        self._revocations = revocations
        self._enabled = enabled
        self._body = body

    async def revoke(self, request: Request) -> Response:
        principal: Principal | None = request.scope.get("principal")
        if not self._enabled or principal is None:
            raise NotFound("authentication is off: there are no tokens to revoke")
        has_body = request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
        if has_body:
            target = await read_json(request, _revoke, self._body)
            if not principal.is_admin:
                raise Forbidden("only an admin revokes other tokens; send no body to revoke your own")
            await self._revocations.revoke(target.jti, target.expires_at.timestamp())
        else:
            if principal.jti is None or principal.expires_at is None:
                raise ValidationFailed(
                    "this token has no jti to revoke",
                    errors=[FieldProblem("jti", "the token carries no jti claim")],
                )
            await self._revocations.revoke(principal.jti, principal.expires_at)
        return Response(status_code=204)

    @property
    def operations(self) -> list[Operation]:
        return [
            Operation(
                "POST",
                "/auth/revoke",
                self.revoke,
                "revokeToken",
                "Revoke the presented token (no body) or, as an admin, the token named",
                responses={204: None},
                body=RevokeToken,
                body_required=False,
                errors=(400, 404, 413, 415, 422, 503),
            ),
        ]
