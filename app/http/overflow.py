"""Connections beyond a granian worker's cap, answered 503 at once instead of queued.

granian accepts a connection only while it holds fewer than its cap (APP_MAX_CONNECTIONS); the
rest wait in the kernel's backlog, with no timer, until a place frees. A client holding a
worker's whole cap with silent connections would keep every new client waiting for up to
APP_IDLE_TIMEOUT_SECONDS. uvicorn answers such a connection 503 itself; granian has no such mode.

So a worker served by granian watches its public listening socket from a thread of its own.
When a connection has waited to be accepted at two looks in a row (0.1 s apart) and the process
holds as many files as its cap, nothing is accepting it: the watch accepts what waits and
answers each `503 connections-full` with `Retry-After: 1` and `Connection: close`, as uvicorn
would. Below the cap granian accepts in microseconds, so the watch never sees a connection wait
twice and takes none. On Linux each granian worker listens on a socket of its own (SO_REUSEPORT),
with its own queue: each worker's watch answers for its own.

From the worker's stop signal on the watch ends and closes its copy of the socket, so that once
granian closes its own a new client is refused at once and goes elsewhere.

The watch costs nothing per request: it wakes ten times a second and takes the GIL for one
poll of one socket. Linux only (it reads /proc/self/fd); elsewhere nothing is watched."""

from __future__ import annotations

import contextlib
import math
import os
import select
import socket
import threading
import time
from collections.abc import Callable

import msgspec
import structlog

from app.errors import ConnectionsFull
from app.schemas.common import Problem

log = structlog.get_logger("app.http")
FILES = "/proc/self/fd"
FIND_SECONDS = 30.0  # looked for this long after the app starts
LOG_EVERY = 10.0  # seconds between two lines of the log about answered connections


def overflow_answer() -> bytes:
    """The whole answer sent on a connection beyond the cap, before it is closed."""
    error = ConnectionsFull("this worker holds as many connections as it may; try again")
    body = msgspec.json.encode(
        Problem(type=error.type_uri, title=error.title, status=error.status, detail=error.detail)
    )
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "content-type: application/problem+json\r\n"
        f"content-length: {len(body)}\r\n"
        f"retry-after: {error.retry_after}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


def listening_socket(port: int) -> socket.socket | None:
    """A copy of this process's socket listening on `port` (the server's own stays open and its
    own), or None where there is none yet or no /proc to find it in."""
    try:
        fds = os.listdir(FILES)
    except OSError:
        return None
    for name in fds:
        try:
            fd = os.dup(int(name))
        except (OSError, ValueError):
            continue
        try:
            found = socket.socket(fileno=fd)
        except OSError:  # not a socket
            os.close(fd)
            continue
        try:
            if (
                found.type == socket.SOCK_STREAM
                and found.family in (socket.AF_INET, socket.AF_INET6)
                and found.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
                and found.getsockname()[1] == port
            ):
                return found
        except OSError:
            pass
        found.close()
    return None


def open_files() -> int:
    try:
        return len(os.listdir(FILES))
    except OSError:
        return 0


class Overflow:
    """The watch on one worker's public port, from start() until close()."""

    def __init__(
        self, port: int, cap: int, *, draining: Callable[[], bool] = lambda: False, every: float = 0.1
    ) -> None:
        self._port = port
        self._draining = draining
        self._cap = cap
        self._every = every
        self._answer = overflow_answer()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.answered = 0  # connections answered 503 since start, read by the metrics
        self._logged = 0  # of them, those the log has told of
        self._logged_at = -math.inf

    async def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="overflow", daemon=True)
        self._thread.start()

    async def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * self._every + 1)
            self._thread = None

    def _watch(self) -> None:
        # granian listens only once the app has started: the socket is looked for until then.
        listener, looks = None, 0
        while listener is None and not self._stop.wait(self._every):
            listener = listening_socket(self._port)
            looks += 1
            if listener is None and looks * self._every >= FIND_SECONDS:
                log.warning("connections beyond the cap are not watched: no socket listens", port=self._port)
                return
        if listener is None:
            return
        # Closed (only the copy: the server's socket is the server's) as soon as the worker
        # drains: the copy would keep the socket listening once the server has closed its own,
        # and new clients would wait in its queue instead of being refused.
        with listener:
            poller = select.poll()
            poller.register(listener, select.POLLIN)
            waited = False
            while not self._stop.wait(self._every) and not self._draining():
                waiting = bool(poller.poll(0))
                if waiting and waited and open_files() >= self._cap:
                    self._answer_waiting(listener)
                    waiting = False
                waited = waiting

    def _answer_waiting(self, listener: socket.socket) -> None:
        """Accept every connection waiting now and answer each 503. The copy shares the
        server's non-blocking mode, so accept() stops with BlockingIOError once none waits."""
        answered = 0
        while True:
            try:
                conn, _ = listener.accept()
            except BlockingIOError:
                break
            except OSError:  # one that reset before it was taken, or the process out of files
                break
            with contextlib.suppress(OSError):
                conn.setblocking(False)
                conn.send(self._answer)  # a few hundred bytes: fits in a new socket's buffer
                with contextlib.suppress(BlockingIOError):
                    conn.recv(65536)  # what the client already sent, so closing sends FIN, not RST
                conn.shutdown(socket.SHUT_WR)
            conn.close()
            answered += 1
        self.answered += answered
        now = time.monotonic()
        if answered and now - self._logged_at >= LOG_EVERY:  # a flood writes a line every 10 s
            log.warning(
                "connections beyond the cap answered 503",
                connections=self.answered - self._logged,
                cap=self._cap,
            )
            self._logged_at, self._logged = now, self.answered
