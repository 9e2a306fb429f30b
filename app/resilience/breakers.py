"""The circuit breakers: one a dependency (the database, Redis), on pybreaker.

A breaker counts consecutive failures of its dependency's network calls, and only those the
dependency is to blame for (`counts`: a lost connection, a timeout, a server shutting down; a
unique violation or a refused row is the caller's error). After `fail_max` of them it opens:
calls fail at once, with no network call, for `reset_seconds`; then the next call is a trial
(half-open) that closes it again when it succeeds or opens it for another period when it fails;
a probe that finds the dependency answering (`answered`) makes the next call the trial at once.
Only one trial is in flight at a time: pybreaker lets every call through while half-open, so
against a frozen dependency each concurrent request would wait out a timeout; here the others
fail at once, as while open.

pybreaker's `call()` and decorator see a coroutine function return, not fail, so the calls go
through its generator path instead: `with breaker.guard(): await ...`. While the breaker is
closed and has counted no failure (the healthy case, nearly every call), `guard()` is a shared
object that only watches for a failure: the first attempt costs a state check, nothing more.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from types import TracebackType

import pybreaker
import structlog

log = structlog.get_logger("app.resilience")
BreakerOpen = pybreaker.CircuitBreakerError  # what a call through an open breaker raises


class _Log(pybreaker.CircuitBreakerListener):
    """Logs each transition and counts it by the state entered (the metrics read the counts)."""

    def __init__(self, transitions: dict[str, int]) -> None:
        self._transitions = transitions

    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        log.warning(
            "breaker state changed",
            dependency=cb.name,
            old=None if old_state is None else old_state.name,
            new=new_state.name,
        )
        self._transitions[new_state.name] = self._transitions.get(new_state.name, 0) + 1


class Breaker:
    """One dependency's breaker."""

    def __init__(
        self,
        name: str,
        *,
        fail_max: int,
        reset_seconds: float,
        counts: Callable[[BaseException], bool],
    ) -> None:
        self.name = name
        self.reset_seconds = reset_seconds
        self._counts = counts
        self.transitions: dict[str, int] = {}  # by the state entered: open, half-open, closed
        self._storage = pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=fail_max,
            reset_timeout=reset_seconds,
            exclude=[lambda exc: not counts(exc)],
            listeners=[_Log(self.transitions)],
            state_storage=self._storage,
            name=name,
            throw_new_error_on_trip=False,  # the dependency's own error goes on to the caller
        )
        self._watch = _Watch(self)
        self._trial_running = False

    def guard(self) -> AbstractContextManager[object]:
        """Around one network call: raises BreakerOpen at once (the call is not made) while
        open or while another call is the trial, and counts the call's failure or success."""
        if self._storage.counter == 0 and self._storage.state == pybreaker.STATE_CLOSED:
            return self._watch
        if self._trial_running:
            raise BreakerOpen(f"a trial call to the {self.name} is in flight")
        state = self.state
        if state == pybreaker.STATE_HALF_OPEN or (
            state == pybreaker.STATE_OPEN and self.retry_after_seconds() == 0
        ):
            return self._trial()
        calling: AbstractContextManager[object] = self._breaker.calling()
        return calling

    @contextlib.contextmanager
    def _trial(self) -> Iterator[None]:
        self._trial_running = True
        try:
            with self._breaker.calling():
                yield
        finally:
            self._trial_running = False

    @property
    def state(self) -> str:
        """closed, open or half-open."""
        return self._breaker.current_state

    @property
    def is_open(self) -> bool:
        """Whether a call now would fail at once (open, its reset time not over, or a trial in flight)."""
        return self._trial_running or (self.state == pybreaker.STATE_OPEN and self.retry_after_seconds() > 0)

    def answered(self) -> None:
        """A look at the dependency outside the breaker (a probe) found it answering: while open,
        the next call is the trial at once, not after the rest of `reset_seconds`."""
        if self.state == pybreaker.STATE_OPEN:
            self._breaker.half_open()

    def retry_after_seconds(self) -> int:
        """Whole seconds until the next trial call (0 when one may go now)."""
        opened_at = self._storage.opened_at
        if self.state != pybreaker.STATE_OPEN or opened_at is None:
            return 0
        left = self.reset_seconds - (datetime.now(UTC) - opened_at).total_seconds()
        return max(0, math.ceil(left))

    def _failed(self, exc: BaseException) -> None:
        """A failure seen on the fast path: counted as if the call had gone through pybreaker
        (the caller re-raises the original itself)."""
        with contextlib.suppress(BaseException), self._breaker.calling():
            raise exc

    def counts(self, exc: BaseException) -> bool:
        return self._counts(exc)


class _Watch:
    """The healthy-state guard: no bookkeeping unless the call fails."""

    __slots__ = ("_breaker",)

    def __init__(self, breaker: Breaker) -> None:
        self._breaker = breaker

    def __enter__(self) -> object:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None and self._breaker.counts(exc):
            self._breaker._failed(exc)
