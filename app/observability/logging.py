"""Structured logs: one JSON object a line on standard output (readable columns on a terminal).

Every line written while a request runs carries its `request_id` (one context variable, set
by the middleware, read by a processor: no per-request binding). The access log is one line
per answered request with the architecture document's fields, written the fast way: cached
bound loggers, msgspec's encoder, bytes straight to stdout, no stdlib logging on the way.
`APP_ACCESS_LOG` picks which requests get one: all (default), errors (status >= 400),
sample:N (one request in N, and every error), off.
"""

from __future__ import annotations

import logging
import random
import sys
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

import msgspec
import structlog

SERVICE = "data-service"
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_encoder = msgspec.json.Encoder()


def _add_request_id(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    current = request_id.get()
    if current is not None and "request_id" not in event:
        event["request_id"] = current
    return event


def _render(_: Any, __: str, event: MutableMapping[str, Any]) -> bytes:
    return _encoder.encode(event)


def configure_logging(level: str) -> None:
    """JSON log lines at `level` and above, for the service and the libraries it uses."""
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    logging.basicConfig(level=numeric, format="%(message)s")
    terminal = sys.stdout.isatty()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _add_request_id,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.dev.ConsoleRenderer() if terminal else _render,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory() if terminal else structlog.BytesLoggerFactory(),
        cache_logger_on_first_use=True,
    )


class AccessLog:
    """Which requests get an access-log line (APP_ACCESS_LOG), and writing it."""

    def __init__(self, setting: str) -> None:
        self.enabled = setting != "off"
        self._errors_only = setting == "errors"
        self._one_in = int(setting.partition(":")[2]) if setting.startswith("sample:") else 1
        self._log = structlog.get_logger("app.access")

    @staticmethod
    def parse(setting: str) -> str:
        """The setting, checked (ValueError when it is none of the forms)."""
        if setting in ("all", "errors", "off"):
            return setting
        kind, _, every = setting.partition(":")
        if kind == "sample" and every.isdigit() and int(every) >= 1:
            return setting
        raise ValueError(setting)

    def write(self, status: int, fields: dict[str, Any]) -> None:
        if status < 400:
            if self._errors_only:
                return
            if self._one_in > 1 and random.randrange(self._one_in):  # noqa: S311 (sampling, not secrets)
                return
        self._log.info("request", service=SERVICE, status=status, **fields)
