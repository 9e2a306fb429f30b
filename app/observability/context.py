"""What is known about the request being served, for whatever runs on its behalf: log lines
(its id), the Oracle session's tags (its route, user and id), spans. Context variables, set by
the middleware (app/http/middleware.py) and the service, so that nothing is passed down the
calls and a task started for the request sees them too."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from contextvars import ContextVar
from typing import Any

UNMATCHED = "unmatched"

# The request's ASGI scope: the middleware puts the request id in it and sets this once per
# request; the router writes the matched route into it, the service the user it charged. One
# variable for all of them: each set of a context variable costs the request path its share.
scope: ContextVar[MutableMapping[str, Any] | None] = ContextVar("scope", default=None)
CHARGED = "charged_user"  # the scope's key for the user a request is charged to
QUOTA = "quota"  # the scope's key for (limit, window, remaining) of the token the request spent


def request_id() -> str | None:
    """The id of the request being served, None outside of one."""
    current = scope.get()
    return None if current is None else current.get("request_id")


def charged_user() -> str | None:
    """The user the request is charged to (the limiter's key: the token's subject, or the
    user_id the request names when authentication is off), once the service knows it."""
    current = scope.get()
    return None if current is None else current.get(CHARGED)


def charge(user: str, quota: tuple[int, int, int] | None = None) -> None:
    """Say which user the request being served is charged to and, when it spent a token, what
    is left of the user's quota (limit, window in seconds, remaining): the answer's RateLimit
    headers say so."""
    current = scope.get()
    if current is not None:
        current[CHARGED] = user
        if quota is not None:
            current[QUOTA] = quota


def route_template(request: Mapping[str, Any]) -> str:
    """The matched route's path template (`/data/{id}`), or UNMATCHED."""
    route = request.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


def operation() -> str:
    """`GET /data/{id}` for the request being served, "" outside of one."""
    current = scope.get()
    return "" if current is None else f"{current['method']} {route_template(current)}"
