"""Structured logs: one JSON object a line on standard output (readable columns on a terminal).

Every line written while a request runs carries its `request_id` (from the request's scope,
the one context variable the middleware sets: app/observability/context.py; no per-request
binding). The access log is one line
per answered request with the fields operators search by, written the fast way: cached
bound loggers, msgspec's encoder, bytes straight to stdout, no stdlib logging on the way.
`APP_ACCESS_LOG` picks which requests get one: all (default), errors (status >= 400),
sample:N (every error and every write, one read in N: probes, pages, single reads), off.
"""

from __future__ import annotations

import io
import logging
import random
import sys
import time
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any, BinaryIO

import msgspec
import structlog

from app.concurrency import Every
from app.observability.context import request_id

SERVICE = "data-service"
_READS = frozenset({"GET", "HEAD", "OPTIONS"})  # what sample:N samples; every write is logged
_encoder = msgspec.json.Encoder()


def _add_request_id(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    current = request_id()
    if current is not None and "request_id" not in event:
        event["request_id"] = current
    return event


def add_trace_id(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """The current span's trace id on every line written within it (only while tracing is
    on: app/observability/tracing.py)."""
    from opentelemetry import trace

    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid and "trace_id" not in event:
        event["trace_id"] = format(span_context.trace_id, "032x")
    return event


def _render(_: Any, __: str, event: MutableMapping[str, Any]) -> bytes:
    return _encoder.encode(event)


_second: list[Any] = [0, ""]  # the last whole second seen, and its ISO text


def _timestamp(now: float | None = None) -> str:
    """Now (or that moment) in ISO 8601, UTC, to the microsecond; the date part is formatted
    once a second, cheaper than structlog's TimeStamper (docs/performance.md)."""
    if now is None:
        now = time.time()
    whole = int(now)
    if whole != _second[0]:
        _second[0] = whole
        _second[1] = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{_second[1]}.{int((now - whole) * 1_000_000):06d}Z"


def _add_timestamp(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    event["timestamp"] = _timestamp()
    return event


class _Stdout:
    """structlog's logger for rendered bytes: written to stdout's buffer and flushed, so a
    line about a failure is out before whatever comes next (access lines are not flushed
    one by one: LogFlush sends them on)."""

    def msg(self, message: bytes) -> None:
        _out.write(message + b"\n")
        _out.flush()

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


_out: BinaryIO = sys.stdout.buffer
OUT_BUFFER_BYTES = 64 * 1024


def _buffered_stdout() -> BinaryIO:
    """A buffer of our own on stdout's file descriptor: with PYTHONUNBUFFERED=1 (set in most
    images, this one's included) `sys.stdout.buffer` is the raw file, and each access line
    would be a write system call of its own. Buffered, access lines leave in 64 KiB writes (or
    each second: LogFlush); other lines are flushed as they are written."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # stdout replaced by an object without a file
        return sys.stdout.buffer
    return io.BufferedWriter(io.FileIO(fd, "wb", closefd=False), buffer_size=OUT_BUFFER_BYTES)


def configure_logging(level: str, *, traced: bool = False) -> None:
    """JSON log lines at `level` and above, for the service and the libraries it uses."""
    global _out, _terminal
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    logging.basicConfig(level=numeric, format="%(message)s")
    _terminal = sys.stdout.isatty()
    _out = _buffered_stdout()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _add_request_id,
            *([add_trace_id] if traced else []),
            structlog.processors.add_log_level,
            _add_timestamp,
            structlog.processors.format_exc_info,
            structlog.dev.ConsoleRenderer() if _terminal else _render,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory() if _terminal else lambda *_: _Stdout(),
        # Not cached: a logger used before would keep the level of the app configured first
        # (tests build many apps in one process). No request logs through structlog (the
        # access line has its own path), so nothing is lost on the hot path.
        cache_logger_on_first_use=False,
    )


_terminal = False
_console = structlog.dev.ConsoleRenderer()


class LogFlush:
    """Sends the access lines kept and buffered to stdout every second, and the rest at the end."""

    def __init__(self, access_log: AccessLog, every: float = 1.0) -> None:
        self._access_log = access_log
        self._task = Every(every, self.flush)
        self.start = self._task.start

    async def flush(self) -> None:
        self._access_log.drain()
        _out.flush()

    async def close(self) -> None:
        await self._task.close()
        await self.flush()


class _Line(msgspec.Struct, omit_defaults=True, gc=False):
    """An access line, in the fields and order of every log line: encoded by msgspec straight
    from the struct (cheaper than a dict per line), built from positional arguments (cheaper
    than keywords), never tracked by the garbage collector (it holds no containers). Its
    timestamp is a datetime that msgspec's encoder writes as RFC 3339 in C, cheaper than
    formatting it in Python (docs/performance.md, "Figures behind the code's choices")."""

    event: str
    service: str
    status: int
    method: str
    endpoint: str
    duration_ms: float
    user_id: str | None
    payload_size: int | None
    error: str | None
    request_id: str | None
    level: str
    timestamp: datetime
    trace_id: str | None = None  # left out when None, as the omitted default


class AccessLog:
    """Which requests get an access-log line (APP_ACCESS_LOG), and writing it.

    A line is the same JSON as every structlog line (same fields, same encoder, same
    timestamp), built in one step, a fraction of what structlog's bound-logger call and
    processor chain cost (docs/performance.md). On a terminal, structlog's console renderer
    gives the readable columns. APP_ACCESS_LOG alone decides which lines are written, whatever
    APP_LOG_LEVEL says (as a web server's access and error logs are set apart).
    """

    BATCH = 128  # lines kept before they are encoded

    def __init__(self, setting: str) -> None:
        self.enabled = setting != "off"
        self._pending: list[tuple[Any, ...]] = []
        self._errors_only = setting == "errors"
        self._one_in = int(setting.partition(":")[2]) if setting.startswith("sample:") else 1

    def write(
        self,
        status: int,
        method: str,
        endpoint: str,
        seconds: float,
        user: str | None,
        payload_size: int | None,
        error: str | None,
        trace_id: str | None = None,
        request: str | None = None,
    ) -> None:
        """Keep the request's line, to be encoded with the next BATCH (at once for a 5xx, or on
        a terminal): encoding lines in a row, away from the request's own work, costs a
        fraction of encoding each in the middle of it (docs/performance.md)."""
        if status < 400:
            if self._errors_only:
                return
            if (
                self._one_in > 1 and method in _READS and random.randrange(self._one_in)  # noqa: S311 (sampling, not secrets)
            ):
                return
        pending = self._pending
        now = time.time()
        pending.append((status, method, endpoint, seconds, user, payload_size, error, request, trace_id, now))
        if len(pending) >= self.BATCH or status >= 500 or _terminal:
            self.drain()

    def drain(self) -> None:
        """Encode the kept lines and hand them to the output buffer."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        at_time = datetime.fromtimestamp
        lines = [
            _Line(
                "request",
                SERVICE,
                status,
                method,
                endpoint,
                round(seconds * 1000, 3),
                user,
                size,
                error,
                request,
                "error" if status >= 500 else "info",
                at_time(at, UTC),
                trace,  # only while tracing is on (app/observability/tracing.py)
            )
            for status, method, endpoint, seconds, user, size, error, request, trace, at in pending
        ]
        if _terminal:
            readable = (
                {
                    **{k: v for k, v in msgspec.structs.asdict(line).items() if v is not None},
                    "timestamp": _timestamp(line.timestamp.timestamp()),
                }
                for line in lines
            )
            _out.write(b"".join(_console(None, "info", event).encode() + b"\n" for event in readable))
        else:
            _out.write(_encoder.encode_lines(lines))  # one call for the batch
        if _terminal:
            _out.flush()  # a person is reading
