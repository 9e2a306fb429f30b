"""The process's budget of request-body bytes in flight (app/http/budget.py): pure logic."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.errors import BodiesBusy
from app.http.budget import RELEASE, BodyBudget

pytestmark = pytest.mark.anyio


async def test_bodies_that_fit_are_held_until_their_answer_is_sent() -> None:
    budget = BodyBudget(100)
    first: dict[str, Any] = {}
    second: dict[str, Any] = {}

    await budget.take(60, first)
    await budget.take(40, second)
    held = budget.used
    first[RELEASE]()
    second[RELEASE]()

    assert held == 100 and budget.used == 0


async def test_a_body_that_does_not_fit_waits_for_one_that_ends() -> None:
    budget = BodyBudget(100, wait_seconds=5)
    first: dict[str, Any] = {}
    await budget.take(80, first)

    waiting = asyncio.create_task(budget.take(50, {}))
    await asyncio.sleep(0.05)
    waited = not waiting.done()
    first[RELEASE]()
    await asyncio.wait_for(waiting, 1)

    assert waited and budget.used == 50


async def test_a_body_that_waits_too_long_is_refused_and_holds_nothing() -> None:
    budget = BodyBudget(100, wait_seconds=0.1)
    await budget.take(80, {})

    with pytest.raises(BodiesBusy) as refused:
        await budget.take(50, {})

    assert refused.value.status == 503 and refused.value.retry_after == 1
    assert budget.used == 80 and budget.refused == 1
    await budget.take(20, {})  # what is left is still there to take
    assert budget.used == 100


async def test_waiting_bodies_are_served_first_come_first_served() -> None:
    budget = BodyBudget(100, wait_seconds=5)
    first: dict[str, Any] = {}
    await budget.take(100, first)
    order: list[str] = []

    async def take(name: str, size: int) -> None:
        await budget.take(size, {})
        order.append(name)

    big = asyncio.create_task(take("big", 90))
    await asyncio.sleep(0.01)
    small = asyncio.create_task(take("small", 10))  # fits beside big, but came after it
    await asyncio.sleep(0.01)
    first[RELEASE]()
    await asyncio.wait_for(asyncio.gather(big, small), 1)

    assert order == ["big", "small"]


async def test_a_client_gone_while_waiting_takes_nothing_and_blocks_no_one() -> None:
    budget = BodyBudget(100, wait_seconds=5)
    first: dict[str, Any] = {}
    await budget.take(100, first)
    gone = asyncio.create_task(budget.take(100, {}))
    await asyncio.sleep(0.01)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    first[RELEASE]()

    await asyncio.wait_for(budget.take(100, {}), 1)

    assert budget.used == 100


async def test_a_body_larger_than_the_budget_takes_all_of_it_and_a_streamed_one_gives_back_the_rest() -> None:
    budget = BodyBudget(100)
    scope: dict[str, Any] = {}

    give_back = await budget.take(500, scope)
    whole = budget.used
    give_back(70)  # the body held 30 bytes
    part = budget.used
    scope[RELEASE]()

    assert (whole, part, budget.used) == (100, 30, 0)


async def test_many_bodies_refused_at_once_leave_the_budget_whole() -> None:
    budget = BodyBudget(100, wait_seconds=0.05)
    first: dict[str, Any] = {}
    await budget.take(100, first)

    async def later() -> None:
        await asyncio.sleep(0.05)
        first[RELEASE]()  # as the waits end: grants pass over the ones cancelled by their timeout

    outcomes = await asyncio.gather(
        *(budget.take(60, {}) for _ in range(50)), later(), return_exceptions=True
    )

    assert all(isinstance(o, BodiesBusy) or callable(o) for o in outcomes[:50]), outcomes
    assert budget.used == 60 * sum(callable(o) for o in outcomes[:50])
