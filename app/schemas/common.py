"""Structs shared by every route: problems and probes."""

from __future__ import annotations

from msgspec import Struct


class FieldError(Struct, kw_only=True):
    """One invalid value: a JSON path (`$.payload`, or a query parameter name) and the reason."""

    path: str
    message: str


class Problem(Struct, kw_only=True, omit_defaults=True):
    """An error answer (RFC 9457, application/problem+json)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = None


class Health(Struct, kw_only=True):
    """Liveness: the process runs."""

    status: str


class Ready(Struct, kw_only=True):
    """Readiness: `ready`; `degraded` when a shared dependency fails (still 200: see /ready);
    `not_ready` for what is this process's own (`starting`, `draining`). Each dependency's
    check is `ok`, `open` (its breaker is open) or the reason it failed."""

    status: str
    checks: dict[str, str]
    process: str = "serving"
