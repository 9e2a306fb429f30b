"""The breakers: one a dependency, so that a dead server costs one timeout, not one a request.

Today only Redis has one, and it is the simplest breaker there is: one failure opens it for
`reset_seconds`, after which the next call goes through again (no half-open trial, no failure
count). Callers use only `is_open` and `failure()`: the pybreaker-based breakers of the
resilience work replace this class behind the same two names.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

log = structlog.get_logger("app.resilience")


class Breaker:
    """Open for `reset_seconds` after any failure of its dependency; closed otherwise."""

    def __init__(
        self, name: str, *, reset_seconds: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name = name
        self._reset_seconds = reset_seconds
        self._clock = clock
        self._until = 0.0

    @property
    def is_open(self) -> bool:
        """While open, callers skip the dependency and take their fallback at once."""
        return self._clock() < self._until

    def failure(self, operation: str, exc: BaseException) -> None:
        """The dependency failed `operation`: open (again) for `reset_seconds`."""
        if not self.is_open:
            log.warning(
                f"{self.name} unavailable, skipping it",
                dependency=self.name,
                operation=operation,
                error=type(exc).__name__,
                open_seconds=self._reset_seconds,
            )
        self._until = self._clock() + self._reset_seconds
