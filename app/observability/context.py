"""What is known about the request being served, for whatever runs on its behalf: log lines
(its id), the Oracle session's tags (its route, user and id), spans. Context variables, set by
the middleware (app/http/middleware.py) and the service, so that nothing is passed down the
calls and a task started for the request sees them too."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

UNMATCHED = "unmatched"

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
# The user a request is charged to (the limiter's key: the token's subject, or the user_id
# the request names when authentication is off), once the service knows it.
user_id: ContextVar[str | None] = ContextVar("user_id", default=None)
# The request's ASGI scope: the router writes the matched route into it.
scope: ContextVar[Mapping[str, Any] | None] = ContextVar("scope", default=None)


def route_template(request: Mapping[str, Any]) -> str:
    """The matched route's path template (`/data/{id}`), or UNMATCHED."""
    route = request.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


def operation() -> str:
    """`GET /data/{id}` for the request being served, "" outside of one."""
    current = scope.get()
    return "" if current is None else f"{current['method']} {route_template(current)}"
