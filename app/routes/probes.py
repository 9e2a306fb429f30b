"""/health (liveness), /ready (readiness) and /openapi.json."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from app.errors import SchemaMissing
from app.http.openapi import Operation, openapi_document
from app.http.responses import Fixed, encoder, json_response
from app.lifecycle import Lifecycle
from app.resilience.breakers import BreakerOpen
from app.schemas.common import Health, Ready

Check = Callable[[], Awaitable[None]]
_HEALTHY = encoder.encode(Health(status="healthy"))


class ProbeRoutes:
    """Liveness answers whenever the process runs. Readiness fails (503) for what is this
    process's own; a shared dependency that fails (the database, Redis: every replica sees
    the same outage) is reported as `degraded` with 200, because a Service that drops every
    replica at once would turn the degraded modes (each process's own budget, cached pages) into no
    service at all. With `strict` (APP_READY_STRICT) any failing check is a 503, for
    deployments that would rather take a replica out than serve degraded."""

    def __init__(
        self, checks: Mapping[str, Check], *, lifecycle: Lifecycle, strict: bool = False, timeout: float = 2.0
    ) -> None:
        self._checks = checks
        self._lifecycle = lifecycle
        self._strict = strict
        self._timeout = timeout

    async def health(self, request: Request) -> Response:
        return json_response(_HEALTHY)

    async def ready(self, request: Request) -> Response:
        process = self._lifecycle.state
        if process != "serving":  # the pools may be opening or closing: leave them alone
            checks = dict.fromkeys(self._checks, "not checked")
            return json_response(Ready(status="not_ready", checks=checks, process=process), 503)
        results = await asyncio.gather(*(self._run(check) for check in self._checks.values()))
        checks = dict(zip(self._checks, results, strict=True))
        healthy = all(result == "ok" for result in checks.values())
        if self._strict and not healthy:
            status, code = "not_ready", 503
        else:
            status, code = ("ready" if healthy else "degraded"), 200
        return json_response(Ready(status=status, checks=checks, process=process), code)

    async def _run(self, check: Check) -> str:
        try:
            await asyncio.wait_for(check(), self._timeout)
        except BreakerOpen:
            return "open"  # the dependency's breaker is open: it was not even asked
        except SchemaMissing:
            return "error: schema not migrated, run data-service migrate"
        except TimeoutError:
            return "timeout"
        except Exception as exc:  # any failure means not ready; the reason is its type only
            return f"error: {type(exc).__name__}"
        return "ok"

    @property
    def operations(self) -> list[Operation]:
        """The probe routes."""
        return [
            Operation(
                "GET", "/health", self.health, "health", "Liveness", responses={200: Health}, public=True
            ),
            Operation(
                "GET",
                "/ready",
                self.ready,
                "ready",
                "Readiness of this process, and the state of the database and cache",
                responses={200: Ready, 503: Ready},
                public=True,
            ),
        ]


class OpenApiRoute:
    """Serves the document generated from the routes' own operations, encoded once."""

    def __init__(
        self, operations: Sequence[Operation], *, title: str, version: str, bearer_auth: bool = False
    ) -> None:
        own = Operation(
            "GET", "/openapi.json", self.serve, "openapi", "This document", responses={200: None}, public=True
        )
        self.operations = [*operations, own]
        self.document: dict[str, Any] = openapi_document(
            self.operations, title=title, version=version, bearer_auth=bearer_auth
        )
        self._fixed = Fixed(encoder.encode(self.document), "application/json")

    async def serve(self, request: Request) -> Response:
        return self._fixed.answer(request)
