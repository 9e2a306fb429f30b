"""Read replicas: which of them may serve a read now, learned in the background.

Every `every` seconds the primary is asked for its write position and each replica for its
replay position (one small query each: `position.sql`), never a query per request. A replica's
lag is how long ago the primary was at a position the replica has not replayed yet, from the
primary positions seen lately. A replica serves a read when its breaker is closed, its lag is
within `max_lag` and it has replayed the position the read needs (the reader's latest write:
ports/positions.py); among those, in turn. One that is down, frozen or behind drops out of
rotation by itself and comes back by itself: its breaker tries it again, and its lag is
measured at every tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from app.concurrency import Every
from app.errors import StorageUnavailable
from app.ports.storage import RecordRepository
from app.resilience.breakers import Breaker, BreakerOpen

log = structlog.get_logger("app.replicas")


class Lagging(Exception):
    """The replica is further behind than APP_DATABASE_READ_MAX_LAG_SECONDS (/ready says so)."""


def replica_failed(exc: BaseException) -> bool:
    """What counts against a replica's breaker: it could not be reached or did not answer."""
    return isinstance(exc, StorageUnavailable | TimeoutError)


@dataclass
class Replica:
    """One read replica: its repository, its breaker, and what the last tick learned of it."""

    name: str
    repository: RecordRepository
    breaker: Breaker
    opened: bool = False
    replayed: int = -1  # its replay position at the last tick (-1: not known)
    lag: float = math.inf  # seconds behind the primary at the last tick
    reads: int = 0  # reads it served
    fallbacks: int = 0  # reads it failed, served by the primary instead

    def usable(self, max_lag: float) -> bool:
        return self.opened and not self.breaker.is_open and self.lag <= max_lag


@dataclass
class _Seen:
    """Primary positions of the last ticks, with when each was seen."""

    keep_seconds: float
    marks: deque[tuple[float, int]] = field(default_factory=deque)

    def add(self, now: float, position: int) -> None:
        if not self.marks or self.marks[-1][1] != position:
            self.marks.append((now, position))
        while len(self.marks) > 1 and self.marks[1][0] < now - self.keep_seconds:
            self.marks.popleft()

    def lag(self, now: float, replayed: int) -> float:
        """Seconds since the primary first held a position past `replayed` (0: caught up)."""
        for when, position in self.marks:
            if position > replayed:
                return now - when
        return 0.0


class ReplicaSet:
    """The replicas of one primary, ticked in the background."""

    def __init__(
        self,
        primary: RecordRepository,
        replicas: list[Replica],
        *,
        max_lag: float,
        every: float = 0.25,
        timeout: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.replicas = replicas
        self.max_lag = max_lag
        self.primary_reads = 0
        self._primary = primary
        self._timeout = timeout
        self._clock = clock
        self._seen = _Seen(keep_seconds=max_lag * 2 + 1)
        self._turn = itertools.cycle(range(len(replicas)))
        self._ticks = Every(every, self._tick_logged)

    def choose(self, needed: int | None) -> Replica | None:
        """A replica that may serve a read needing position `needed` (None: only the primary
        may), in turn; None when none may."""
        if needed is None:
            return None
        for _ in self.replicas:
            replica = self.replicas[next(self._turn)]
            if replica.replayed >= needed and replica.usable(self.max_lag):
                return replica
        return None

    async def open(self) -> None:
        """Open what can be opened now and start the ticks; a replica that is down now is
        opened by a later tick."""
        await self.tick()
        await self._ticks.start()

    async def close(self) -> None:
        await self._ticks.close()
        for replica in self.replicas:
            if replica.opened:
                with contextlib.suppress(Exception):
                    await replica.repository.close()

    async def _tick_logged(self) -> None:
        try:
            await self.tick()
        except Exception as exc:  # a tick must never end the ticks
            log.warning("replica tick failed", error=type(exc).__name__)

    async def tick(self) -> None:
        """Learn the primary's position, then each replica's (all at once)."""
        try:
            primary = await asyncio.wait_for(self._primary.position(), self._timeout)
        except (StorageUnavailable, TimeoutError):
            primary = None  # the replicas' lag cannot grow on what nobody saw
        now = self._clock()
        if primary is not None:
            self._seen.add(now, primary)
        await asyncio.gather(*(self._learn(replica, now) for replica in self.replicas))

    async def _learn(self, replica: Replica, now: float) -> None:
        try:
            with replica.breaker.guard():
                if not replica.opened:
                    await asyncio.wait_for(replica.repository.open(), self._timeout)
                    replica.opened = True
                replayed = await asyncio.wait_for(replica.repository.position(), self._timeout)
        except BreakerOpen:
            return
        except (StorageUnavailable, TimeoutError) as exc:
            replica.lag = math.inf
            log.warning("replica unreachable", replica=replica.name, error=type(exc).__name__)
            return
        replica.replayed = replayed
        replica.lag = self._seen.lag(now, replayed)

    async def check(self, replica: Replica) -> None:
        """/ready's check of one replica: it answers and is not too far behind."""
        with replica.breaker.guard():
            await replica.repository.ping()
        if replica.lag > self.max_lag:
            raise Lagging(f"{replica.name} is {replica.lag:.1f} s behind")
