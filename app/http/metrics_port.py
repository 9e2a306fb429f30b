"""APP_METRICS_PORT, the admin port: /metrics, the probes and the administration endpoints
(/admin/read-only) on a second port, so that the public port need not expose them (as
PostgREST's admin server does) and a NetworkPolicy can open this one to the monitoring
namespace, the kubelet and the operators only.

It is served by hypercorn inside the worker's own event loop, whatever server serves the
public port: the same process's metrics and lifecycle, no thread and no second process. The
socket is bound when the app starts, so a port in use stops the start with a clear error; it
closes after the public server has drained, so /ready keeps answering 503 while it drains."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute
from starlette.types import ExceptionHandler


class MetricsPort:
    """A small app of its own on host:port, from start() until close()."""

    def __init__(
        self,
        routes: Sequence[BaseRoute],
        *,
        host: str,
        port: int,
        exception_handlers: Mapping[Any, ExceptionHandler] | None = None,
    ) -> None:
        self._app = Starlette(routes=list(routes), exception_handlers=dict(exception_handlers or {}))
        self._host = host
        self._port = port
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        try:
            sock = socket.create_server((self._host, self._port), family=family, backlog=128)
        except OSError as exc:
            raise OSError(f"APP_METRICS_PORT {self._port} cannot be bound: {exc.strerror}") from exc
        config = Config()
        config.bind = [f"fd://{sock.detach()}"]  # hypercorn owns the socket from here on
        config.accesslog = None
        config.loglevel = "WARNING"
        config.include_server_header = False
        config.graceful_timeout = 1.0
        self._stop.clear()
        self._task = asyncio.get_running_loop().create_task(
            serve(self._app, config, shutdown_trigger=self._stop.wait)  # type: ignore[arg-type]
        )

    async def close(self) -> None:
        if self._task is None:
            return
        self._stop.set()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(self._task, 5.0)
        self._task = None
