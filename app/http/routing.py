"""The routes whose path holds no parameter, or one at its end (`/data/{id}`), found by one
dict lookup instead of the router's walk over every route's pattern, and a path's handlers by
its method.

FixedRoutes sits where Starlette's exception middleware and router sit, and a request it finds
gets what the router would give it: the route and its endpoint in the scope, one Request, and
the app's exception handlers for whatever the handler raises. It calls the method's handler
itself: the router's way wraps it in two ASGI apps, an exception wrapper around every message
sent, and a second exception middleware. Anything else (a path with other parameters, no
route, a method the path has not, an app mounted under a root path, the lifespan) goes on to
the exception middleware and the router as before. In process a cached GET /data cost about a
quarter less than through the router (docs/performance.md).

A path that names a fixed route is never taken for a parameter's value (GET /data/bulk, which
has only POST, goes to the router, which finds /data/{id} for it, as it always did)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from starlette._exception_handler import wrap_app_handling_exceptions
from starlette._utils import is_async_callable
from starlette.convertors import StringConvertor
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from app.http.openapi import Handler


class Methods:
    """One path's handlers by method; its `handle` is the path's one endpoint (a HEAD is its
    GET)."""

    def __init__(self, handlers: Mapping[str, Handler]) -> None:
        self.handlers = dict(handlers)
        if "GET" in self.handlers:
            self.handlers.setdefault("HEAD", self.handlers["GET"])

    async def handle(self, request: Request) -> Response:
        return await self.handlers[request.method](request)


class FixedRoutes:
    def __init__(self, app: ASGIApp, routes: Sequence[Route]) -> None:
        if not isinstance(app, ExceptionMiddleware):  # Starlette's stack: the router is behind it
            raise TypeError("FixedRoutes goes right in front of Starlette's exception middleware")
        self.app = app
        self.router = app.app
        # The exception handlers as the exception middleware hands them to a route's app.
        self.handlers = (app._exception_handlers, app._status_handlers)
        served = [route for route in routes if is_async_callable(route.endpoint)]
        self.routes = {
            route.path: (route, _by_method(route)) for route in served if not route.param_convertors
        }
        # By the path up to its last "/": the route with its handlers, and its one parameter's
        # name; the first route of a prefix, as the router would find it.
        self.trailing: dict[str, tuple[tuple[Route, dict[str, Handler]], str]] = {}
        for route in served:
            if (found := _trailing(route)) is not None:
                self.trailing.setdefault(found[0], ((route, _by_method(route)), found[1]))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            path = scope["path"]
            found = self.routes.get(path)
            params = {}
            if found is None:
                cut = path.rfind("/") + 1
                if (trailing := self.trailing.get(path[:cut])) is not None and cut < len(path):
                    found, name = trailing
                    params = {name: path[cut:]}
            if found is not None and (handler := found[1].get(scope["method"])) is not None:
                scope["starlette.exception_handlers"] = self.handlers
                scope["router"] = self.router
                scope["route"] = route = found[0]
                scope["endpoint"] = route.endpoint
                scope["path_params"] = params
                request = Request(scope, receive, send)
                try:
                    response = await handler(request)
                except Exception as exc:  # the app's handler for it answers, as the router's would
                    await wrap_app_handling_exceptions(_Raising(exc), request)(scope, receive, send)
                    return
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _trailing(route: Route) -> tuple[str, str] | None:
    """The path before a route's one parameter and the parameter's name, when the parameter is
    a plain string (no "/" in it) and the path's last segment; else None."""
    if len(route.param_convertors) != 1:
        return None
    name, convertor = next(iter(route.param_convertors.items()))
    prefix = route.path.removesuffix(f"{{{name}}}")
    if type(convertor) is not StringConvertor or not prefix.endswith("/") or "{" in prefix:
        return None
    return prefix, name


def _by_method(route: Route) -> dict[str, Handler]:
    endpoint = route.endpoint
    if isinstance(methods := getattr(endpoint, "__self__", None), Methods):
        return methods.handlers
    return dict.fromkeys(route.methods or (), endpoint)


class _Raising:
    """An ASGI app that raises what a handler raised, for Starlette's exception wrapper to find
    the app's handler of it."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise self.error
