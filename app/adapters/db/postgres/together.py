"""Statements shared by the callers of one turn of the event loop: the group commit
(writes.py), the reads by id and the plain pages read together (reads.py).

One rule for all of them: the shared statement runs in a task of its own under the database
timeout, whichever caller's request it started in; each caller waits for it at most the
timeout, or what is left of its own request's deadline. The coalescer (app/concurrency.py)
gathers the callers and hands each its own outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from app.concurrency import Coalescer
from app.errors import StorageUnavailable
from app.resilience import deadline

T = TypeVar("T")
R = TypeVar("R")


def shared(
    send: Callable[[list[T]], Awaitable[Sequence[R | Exception]]],
    *,
    timeout: float,
    lost: str,
    one_at_a_time: bool = False,
) -> Coalescer[T, R]:
    """The callers' items of one turn sent together by `send`, under the database timeout;
    `lost` says what a caller is told when the outcome is not known."""

    async def bounded(items: list[T]) -> Sequence[R | Exception]:
        with deadline.within(timeout):
            return await send(items)

    return Coalescer(bounded, lost=lambda: StorageUnavailable(lost), one_at_a_time=one_at_a_time)


async def joined(statement: Coalescer[T, R], item: T, *, most: float) -> R:
    """One caller's item, its wait bounded by `most` (the database timeout) or what is left of
    its request's deadline, whichever ends first (TimeoutError)."""
    async with asyncio.timeout(deadline.budget(most)):
        return await statement(item)
