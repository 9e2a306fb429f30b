"""The request's deadline: the one bound on how long a request waits for its dependencies.

The middleware starts it as each request comes in (APP_REQUEST_DEADLINE_SECONDS); every wait
on the database (a pooled connection, a statement, the pauses between retries) takes the
smaller of its own timeout and what is left of it, so retries and queued waits can never add
up past it. Outside a request (the CLI, tests of an adapter) there is no deadline: each call
is bounded by its own timeout alone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_ends: ContextVar[float] = ContextVar("request_deadline", default=float("inf"))


def start(seconds: float) -> None:
    """Begin the current request's deadline (a request runs in a task, and so a context, of its own)."""
    _ends.set(time.monotonic() + seconds)


def left() -> float:
    """Seconds left before the current request's deadline (inf outside a request)."""
    return _ends.get() - time.monotonic()


def budget(timeout: float) -> float:
    """How long the next wait may last: `timeout`, or what is left of the deadline when less."""
    return min(timeout, _ends.get() - time.monotonic())


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """Run the block under a deadline of its own (background work, tests)."""
    token = _ends.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _ends.reset(token)
