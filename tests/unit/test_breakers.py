"""The breaker callers consult before a dependency: open after a failure, closed again after
its reset time."""

from __future__ import annotations

from app.resilience.breakers import Breaker
from tests.clock import Clock


def test_a_failure_opens_the_breaker_for_its_reset_time() -> None:
    clock = Clock(100.0)
    breaker = Breaker("redis", reset_seconds=1.0, clock=clock)
    assert not breaker.is_open

    breaker.failure("cache read", ConnectionError())

    assert breaker.is_open
    clock.now = 100.99
    assert breaker.is_open
    clock.now = 101.0
    assert not breaker.is_open  # the next call goes to the dependency again


def test_another_failure_while_open_keeps_it_open_from_then() -> None:
    clock = Clock(100.0)
    breaker = Breaker("redis", reset_seconds=1.0, clock=clock)
    breaker.failure("cache read", ConnectionError())
    clock.now = 100.8

    breaker.failure("cache write", TimeoutError())

    clock.now = 101.5
    assert breaker.is_open
