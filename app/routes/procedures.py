"""/procedures/<name>: one route a procedure declared in app/services/procedures.py; any other
name is no route at all (404), so an undeclared procedure never reaches a database."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from app.http.auth import caller
from app.http.openapi import Operation
from app.http.requests import BodyLimits, read_json
from app.http.responses import json_response
from app.schemas.headers import BODY_ERRORS, RATE_LIMIT_HEADERS
from app.services.procedures import PROCEDURES, ProcedureResult
from app.services.records import RecordService


class ProcedureRoutes:
    """POST /procedures/<name> for each declared procedure."""

    def __init__(self, service: RecordService, *, body: BodyLimits) -> None:
        self._service = service
        self._body = body

    def _handler(self, name: str) -> Callable[[Request], Awaitable[Response]]:
        decoder = msgspec.json.Decoder(PROCEDURES[name].arguments)

        async def call(request: Request) -> Response:
            arguments = await read_json(request, decoder, self._body)
            return json_response(await self._service.call_procedure(name, arguments, caller(request)))

        return call

    @property
    def operations(self) -> list[Operation]:
        return [
            Operation(
                "POST",
                f"/procedures/{name}",
                self._handler(name),
                f"procedure_{name}",
                declared.summary,
                responses={200: ProcedureResult},
                body=declared.arguments,
                errors=(*BODY_ERRORS, 403),
                response_headers={429: RATE_LIMIT_HEADERS},
            )
            for name, declared in PROCEDURES.items()
        ]
