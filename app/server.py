"""Serving the app on the ASGI server APP_SERVER names."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import math
import resource
import signal

from app.observability.server_logs import server_log_config
from app.settings import Settings

FACTORY = "app.main:app_from_env"
# Each server reads up to twice APP_MAX_HEADER_BYTES of request line and headers, so that the
# service itself refuses headers over its limit (431 with a problem body, as every refusal);
# past twice the limit the server's own refusal answers, with no body.
HEADER_ROOM = 2
# Connections the kernel queues for a worker that has not accepted them yet (Linux caps it at
# net.core.somaxconn, 4096 by default). A worker at APP_MAX_CONNECTIONS accepts no more.
BACKLOG = 2048
# Files a worker keeps open besides its clients: pools, logs, the event loop's own.
RESERVED_FILES = 256


def connection_cap(settings: Settings) -> int:
    """The most connections one worker holds: APP_MAX_CONNECTIONS, fewer when the process may
    not open that many files. The open-files limit is raised first, as far as its hard limit
    allows (a container's is usually far above its soft one; the soft one is often 1,024)."""
    wanted = settings.max_connections + RESERVED_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return settings.max_connections
    return max(1, min(settings.max_connections, soft - RESERVED_FILES))


# glibc's mallopt: blocks this large or larger are mapped on their own and unmapped when freed.
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 128 * 1024


def give_back_large_blocks() -> None:
    """Have glibc return a request body's large blocks to the system once freed. By default
    glibc raises its mmap threshold to the largest block freed (up to 32 MiB), so after one
    burst of 1 MiB bodies later ones come from the heap, which keeps what it grew to: measured,
    200 bodies at once left a worker at 152 MiB after the burst, 108 MiB with the threshold
    fixed. Elsewhere (musl, macOS) nothing is done."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    except (OSError, AttributeError, TypeError):
        pass


def serve(settings: Settings) -> None:
    """Run until SIGINT or SIGTERM on settings.server (granian, uvicorn or hypercorn). On the
    signal each stops accepting connections, lets the requests it accepted finish for up to
    APP_SHUTDOWN_GRACE_SECONDS, then closes the app (its pools, within the database timeout).

    Each worker holds at most connection_cap() connections and closes one that has sent no whole
    request within APP_IDLE_TIMEOUT_SECONDS; what happens beyond the cap is each server's own
    (docs/deploy.md, "Connections")."""
    cap = connection_cap(settings)
    idle = settings.idle_timeout_seconds
    if settings.server == "granian":
        from granian import Granian
        from granian.constants import HTTPModes, Interfaces, Loops
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
            # HTTP/1.1 only: its connections are timed from their first moment. Told to detect
            # HTTP/2 too, granian waits for a connection's first bytes with no timer at all, and
            # a client that never sends one holds its place for good. Proxies and clients speak
            # HTTP/1.1 to the service; HTTP/2 ends at the ingress.
            http=HTTPModes.http1,
            backlog=BACKLOG,
            backpressure=cap,  # connections a worker serves at once; the rest wait in the backlog
            log_level=LogLevels(settings.log_level),
            log_access=False,
            log_dictconfig=server_log_config(settings.log_level),
            http1_settings=HTTP1Settings(
                # One timer for a new connection's first request, a request's headers and a
                # kept-alive connection's next request.
                header_read_timeout=math.ceil(idle * 1000),
                # The read buffer holds the request line and headers; granian's floor is 8 KiB.
                max_buffer_size=max(8192, HEADER_ROOM * settings.max_header_bytes),
            ),
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
            backlog=BACKLOG,
            limit_concurrency=cap,  # connections and requests at once; beyond them a 503 at once
            timeout_keep_alive=math.ceil(idle),
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
    config.backlog = BACKLOG
    config.keep_alive_timeout = settings.idle_timeout_seconds  # also a new connection's first request
    config.read_timeout = math.ceil(settings.idle_timeout_seconds)  # no byte for that long: closed
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    app = create_app(settings, served=True, tracing=tracing_from_env())
    await hypercorn_serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]
