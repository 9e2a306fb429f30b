"""/admin/read-only: read and switch the read-only mode (app/services/maintenance.py)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta, Struct
from starlette.requests import Request
from starlette.responses import Response

from app.auth import Principal
from app.errors import Forbidden
from app.http.openapi import Operation
from app.http.requests import BodyLimits, read_json
from app.http.responses import json_response
from app.ports.maintenance import WriteMode
from app.services.maintenance import Maintenance


class SwitchMode(Struct, forbid_unknown_fields=True, kw_only=True):
    """Refuse writes (true) or take them again (false), and why, for the logs and the 503s."""

    read_only: bool
    reason: Annotated[str, Meta(max_length=200)] | None = None


_switch = msgspec.json.Decoder(SwitchMode)


def _admin_only(request: Request) -> None:
    """With tokens on, only an admin; with authentication off every caller is trusted alike."""
    principal: Principal | None = request.scope.get("principal")
    if principal is not None and not principal.is_admin:
        raise Forbidden("only an admin reads or switches the write mode")


class AdminRoutes:
    """The maintenance switches, for operators."""

    def __init__(self, maintenance: Maintenance, *, body: BodyLimits) -> None:
        self._maintenance = maintenance
        self._body = body

    async def read_only(self, request: Request) -> Response:
        _admin_only(request)
        return json_response(self._maintenance.mode)

    async def switch_read_only(self, request: Request) -> Response:
        _admin_only(request)
        wanted = await read_json(request, _switch, self._body)
        return json_response(await self._maintenance.switch(wanted.read_only, wanted.reason))

    @property
    def operations(self) -> list[Operation]:
        return [
            Operation(
                "GET",
                "/admin/read-only",
                self.read_only,
                "getWriteMode",
                "Whether writes are refused (read-only mode), why and since when",
                responses={200: WriteMode},
                errors=(),
            ),
            Operation(
                "PUT",
                "/admin/read-only",
                self.switch_read_only,
                "switchWriteMode",
                "Switch read-only mode on or off, in every process (through Redis when configured)",
                responses={200: WriteMode},
                body=SwitchMode,
                errors=(400, 413, 415, 422, 503),
            ),
        ]
