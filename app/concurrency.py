"""Work that concurrent requests share: a coalescer sends many callers' items as one batch, a
single-flight lets callers asking for the same thing meanwhile wait for one caller's result.

One rule for both, whoever uses them (the Redis pipelines, the group commits, the page loads):

- each caller gets its own outcome: its item's result, or its item's error;
- when the shared work raises, every caller waiting on it gets that error;
- when the shared work is cancelled (the process is stopping) or ends without an outcome for
  an item, every caller still waiting gets `lost()`: the owner's error for "the outcome is not
  known" (StorageUnavailable, a Redis ConnectionError), never a CancelledError of a task the
  caller does not own, which would look to it as if it had been cancelled itself;
- a caller that is cancelled itself stops waiting; the work goes on for the others (an item
  already handed to a batch cannot be taken back).

Tracing attaches its span links here: the requests a batch served are the items of `send`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
K = TypeVar("K", bound=Hashable)

Lost = Callable[[], Exception]


class Coalescer(Generic[T, R]):
    """Items of many callers sent together: every item added while the event loop runs one turn
    goes out in one batch. `send` answers a batch with one outcome an item, an error as a value.

    With `one_at_a_time` a batch waits while another is in flight, and everything that arrived
    meanwhile goes in the next one (a group commit: one transaction, one fsync, for all of
    them); without it batches overlap (pipelines on a connection pool).
    """

    def __init__(
        self,
        send: Callable[[list[T]], Awaitable[Sequence[R | Exception]]],
        *,
        lost: Lost,
        one_at_a_time: bool = False,
    ) -> None:
        self._send = send
        self._lost = lost
        self._one_at_a_time = one_at_a_time
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._scheduled = False
        self._in_flight: set[asyncio.Task[None]] = set()  # also the strong references to them

    async def __call__(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if not self._scheduled:
            self._schedule()
        return await future

    async def settled(self) -> None:
        """Returns once no batch is in flight: a batch goes on after its callers stopped waiting
        (their deadlines passed), and what it runs on must not be closed under it."""
        while self._in_flight:
            await asyncio.wait(set(self._in_flight))

    def _schedule(self) -> None:
        if self._scheduled or not self._waiting or (self._one_at_a_time and self._in_flight):
            return
        self._scheduled = True
        asyncio.get_running_loop().call_soon(self._dispatch)

    def _dispatch(self) -> None:
        self._scheduled = False
        batch, self._waiting = self._waiting, []
        task = asyncio.get_running_loop().create_task(self._run(batch))
        self._in_flight.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._schedule()

    async def _run(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        outcomes: Sequence[R | Exception] | None = None
        try:
            outcomes = await self._send([item for item, _ in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} items was answered {len(outcomes)} times")
        except Exception as exc:
            outcomes = [exc] * len(batch)
        finally:
            if outcomes is None:  # cancelled, or stopped by what no caller should see: unknown
                outcomes = [self._lost() for _ in batch]
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():
                    continue  # its caller was cancelled and stopped waiting
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)


class SingleFlight(Generic[K, R]):
    """Concurrent calls for one key share the first caller's work: `work` runs once, in the first
    caller's task, and the others wait for its result (or its error)."""

    def __init__(self, *, lost: Lost) -> None:
        self._lost = lost
        self._flights: dict[K, asyncio.Future[R]] = {}

    async def __call__(self, key: K, work: Callable[[], Awaitable[R]]) -> R:
        if (flight := self._flights.get(key)) is not None:
            return await asyncio.shield(flight)  # a follower's cancellation leaves the flight alone
        flight = asyncio.get_running_loop().create_future()
        self._flights[key] = flight
        try:
            result = await work()
        except Exception as exc:
            flight.set_exception(exc)
            raise
        except BaseException:  # the first caller was cancelled: the others are told, not cancelled
            flight.set_exception(self._lost())
            raise
        else:
            flight.set_result(result)
            return result
        finally:
            del self._flights[key]
            flight.exception()  # an error is retrieved here: the followers re-raise it


class Every:
    """Runs `work` about every `seconds` (each wait drawn from seconds x (1 +- spread), so
    replicas drift apart) in a task of its own, from start() until close(). `work` handles
    its own failures.

    close() cancels the task and also tells the loop to stop: a cancellation that `work`
    swallowed (asyncio.wait_for on Python 3.11 can lose one that arrives as its inner call
    ends, and drivers call it) would otherwise leave the loop running and the shutdown
    waiting for it forever."""

    def __init__(self, seconds: float, work: Callable[[], Awaitable[object]], *, spread: float = 0.0) -> None:
        self._seconds = seconds
        self._work = work
        self._spread = spread
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def start(self) -> None:
        self._closing = False
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while not self._closing:
            wait = self._seconds * random.uniform(1 - self._spread, 1 + self._spread)  # noqa: S311
            await asyncio.sleep(wait)
            if not self._closing:
                await self._work()
