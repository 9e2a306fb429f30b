"""The ASGI servers' own lines (granian's "Starting granian", uvicorn's and hypercorn's start and
stop) as JSON lines with the service's fields, so that everything on standard output is one
JSON object a line (readable columns on a terminal, as the service's own lines are)."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import msgspec

_encoder = msgspec.json.Encoder()
# Every logger the three servers write through; their access logs are off (the service writes
# its own access lines).
SERVER_LOGGERS = (
    "_granian",
    "granian.access",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "hypercorn.error",
)


class JsonLines(logging.Formatter):
    """A stdlib log record as the service's log line: event, level, logger, timestamp (RFC 3339,
    UTC, to the microsecond)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "event": record.getMessage(),
            "logger": record.name.lstrip("_"),
            "level": record.levelname.lower(),
            "timestamp": datetime.fromtimestamp(record.created, UTC),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return _encoder.encode(line).decode()


def server_log_config(level: str) -> dict[str, Any]:
    """A logging.dictConfig for the servers' loggers: JSON lines on standard output, or the
    servers' own readable format on a terminal."""
    terminal = sys.stdout.isatty()
    formatter = (
        {"()": "logging.Formatter", "fmt": "%(asctime)s [%(levelname)-8s] %(message)s [%(name)s]"}
        if terminal
        else {"()": f"{__name__}.JsonLines"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"service": formatter},
        "handlers": {
            "stdout": {"class": "logging.StreamHandler", "formatter": "service", "stream": "ext://sys.stdout"}
        },
        "loggers": {
            name: {"handlers": ["stdout"], "level": level.upper(), "propagate": False}
            for name in SERVER_LOGGERS
        },
    }
