"""Retries of the guarded repository: only failures known to have changed nothing, at most
three attempts, capped and jittered pauses, within the request deadline, never through an open breaker."""

from __future__ import annotations

import time
from typing import Any

import pytest

from app.errors import StorageConflict, StorageUnavailable
from app.ports.storage import AuditEntry, NewRecord
from app.resilience import deadline
from app.resilience.breakers import Breaker
from app.resilience.repository import GuardedRepository, database_failed

pytestmark = pytest.mark.anyio
NOT_SENT = StorageUnavailable("refused", safe_to_retry=True)
UNKNOWN = StorageUnavailable("the connection dropped after the statement went out")


class Flaky:
    """Stands in for a repository: fails with the given errors in turn, then answers."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def get_by_id(self, record_id: str) -> Any:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "record"

    async def create(self, record: NewRecord, audit: AuditEntry) -> Any:
        return await self.get_by_id("")


def guarded(inner: Flaky, *, fail_max: int = 10) -> GuardedRepository:
    breaker = Breaker("database", fail_max=fail_max, reset_seconds=30, counts=database_failed)
    return GuardedRepository(
        inner,  # type: ignore[arg-type]
        breaker,
        base_seconds=0.01,
        cap_seconds=0.04,
        random=lambda: 1.0,  # the longest pause each time, to measure
    )


async def test_a_failure_that_changed_nothing_is_tried_again_after_growing_pauses() -> None:
    inner = Flaky(NOT_SENT, NOT_SENT)
    started = time.monotonic()

    assert await guarded(inner).get_by_id("x") == "record"

    assert inner.calls == 3
    assert 0.02 + 0.04 <= time.monotonic() - started < 0.5  # 0.01*2^1, then capped at 0.04


async def test_at_most_three_attempts() -> None:
    inner = Flaky(NOT_SENT, NOT_SENT, NOT_SENT, NOT_SENT)

    with pytest.raises(StorageUnavailable):
        await guarded(inner).get_by_id("x")

    assert inner.calls == 3


async def test_a_write_whose_outcome_is_unknown_is_never_retried() -> None:
    inner = Flaky(UNKNOWN)

    with pytest.raises(StorageUnavailable) as raised:
        await guarded(inner).create(NewRecord("u", b"{}"), AuditEntry("a", "r"))

    assert raised.value is UNKNOWN and inner.calls == 1


async def test_the_callers_errors_are_not_retried() -> None:
    inner = Flaky(StorageConflict("duplicate"))

    with pytest.raises(StorageConflict):
        await guarded(inner).get_by_id("x")

    assert inner.calls == 1


async def test_no_retry_past_the_request_deadline() -> None:
    inner = Flaky(NOT_SENT, NOT_SENT)

    with pytest.raises(StorageUnavailable), deadline.within(0.015):
        await guarded(inner).get_by_id("x")  # the first pause (0.02) would pass the deadline

    assert inner.calls == 1


async def test_a_breaker_that_opens_stops_the_retries_with_a_503_that_says_when() -> None:
    inner = Flaky(NOT_SENT, NOT_SENT, NOT_SENT)

    with pytest.raises(StorageUnavailable) as raised:
        await guarded(inner, fail_max=2).get_by_id("x")  # the second failure opens it

    assert inner.calls == 2
    assert "unavailable" in raised.value.detail and raised.value.retry_after >= 29
