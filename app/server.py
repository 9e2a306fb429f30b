"""Serving the app on the ASGI server APP_SERVER names."""

from __future__ import annotations

import asyncio
import math
import signal

from app.observability.server_logs import server_log_config
from app.settings import Settings

FACTORY = "app.main:app_from_env"
# Each server reads up to twice APP_MAX_HEADER_BYTES of request line and headers, so that the
# service itself refuses headers over its limit (431 with a problem body, as every refusal);
# past twice the limit the server's own refusal answers, with no body.
HEADER_ROOM = 2


def serve(settings: Settings) -> None:
    """Run until SIGINT or SIGTERM on settings.server (granian, uvicorn or hypercorn). On the
    signal each stops accepting connections, lets the requests it accepted finish for up to
    APP_SHUTDOWN_GRACE_SECONDS, then closes the app (its pools, within the database timeout)."""
    if settings.server == "granian":
        from granian import Granian
        from granian.constants import Interfaces, Loops
        from granian.http import HTTP1Settings
        from granian.log import LogLevels

        Granian(
            FACTORY,
            address=settings.host,
            port=settings.port,
            interface=Interfaces.ASGI,
            factory=True,
            workers=settings.workers,
            loop=Loops.uvloop,
            websockets=False,
            log_level=LogLevels(settings.log_level),
            log_access=False,
            log_dictconfig=server_log_config(settings.log_level),
            # The read buffer holds the request line and headers; granian's floor is 8 KiB.
            http1_settings=HTTP1Settings(max_buffer_size=max(8192, HEADER_ROOM * settings.max_header_bytes)),
            workers_kill_timeout=math.ceil(settings.shutdown_grace_seconds),
        ).serve()
    elif settings.server == "uvicorn":
        import uvicorn

        uvicorn.run(
            FACTORY,
            factory=True,
            workers=settings.workers,
            host=settings.host,
            port=settings.port,
            loop="uvloop",
            http="httptools",
            access_log=False,
            server_header=False,
            h11_max_incomplete_event_size=HEADER_ROOM * settings.max_header_bytes,
            log_level=settings.log_level,
            log_config=server_log_config(settings.log_level),
            timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_seconds),
        )
    else:
        import uvloop

        uvloop.run(_hypercorn(settings))


async def _hypercorn(settings: Settings) -> None:
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    from app.main import create_app
    from app.observability.tracing import tracing_from_env

    config = Config()
    config.bind = [f"{settings.host}:{settings.port}"]
    config.accesslog = None
    config.logconfig_dict = server_log_config(settings.log_level)
    config.include_server_header = False
    config.h11_max_incomplete_size = HEADER_ROOM * settings.max_header_bytes
    config.graceful_timeout = settings.shutdown_grace_seconds
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    app = create_app(settings, served=True, tracing=tracing_from_env())
    await hypercorn_serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]
