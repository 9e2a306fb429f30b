"""The routes whose path holds no parameter, found by one dict lookup instead of the router's
walk over every route's pattern.

It sits where Starlette's exception middleware and router sit, and a request it finds gets what
the router would give it: the route and its endpoint in the scope, the exception handlers, and
the route's own app (one Request, one exception wrapper: the router's way adds a second of
each around it). Anything else (a path with a parameter, no route, a method the path has not, an
app mounted under a root path, the lifespan) goes on to the exception middleware and the router
as before. In process a cached GET /data cost about a tenth less (docs/performance.md)."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send


class FixedRoutes:
    def __init__(self, app: ASGIApp, routes: Sequence[Route]) -> None:
        if not isinstance(app, ExceptionMiddleware):  # Starlette's stack: the router is behind it
            raise TypeError("FixedRoutes goes right in front of Starlette's exception middleware")
        self.app = app
        self.router = app.app
        # The exception handlers as the exception middleware hands them to a route's app.
        self.handlers = (app._exception_handlers, app._status_handlers)
        self.routes = {route.path: route for route in routes if not route.param_convertors}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            route = self.routes.get(scope["path"])
            if route is not None and route.methods is not None and scope["method"] in route.methods:
                scope["starlette.exception_handlers"] = self.handlers
                scope["router"] = self.router
                scope["route"] = route
                scope["endpoint"] = route.endpoint
                scope["path_params"] = {}
                await route.app(scope, receive, send)
                return
        await self.app(scope, receive, send)
