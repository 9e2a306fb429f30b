"""unique_users_active{time_window}: the users a request was charged to are gathered in a set
(a set.add on the request path), and every few seconds that set goes to the Audience (Redis
HyperLogLogs, or memory) and the windows' counts come back for the next scrape. Never a
user id as a label value."""

from __future__ import annotations

import time

import structlog

from app.concurrency import Every
from app.observability.metrics import Metrics
from app.ports.audience import Audience

log = structlog.get_logger("app.observability")


class ActiveUsers:
    def __init__(self, metrics: Metrics, audience: Audience, *, every: float = 10.0) -> None:
        self._metrics = metrics
        self._audience = audience
        task = Every(every, self.count)
        self.start, self.close = task.start, task.close

    async def count(self) -> None:
        """Hand the users seen since the last time to the audience; read the windows' counts.
        While the store is away those users are not counted (the gauge says fewer, never more)."""
        seen, self._metrics.users_seen = self._metrics.users_seen, set()
        now = time.time()
        try:
            await self._audience.add(seen, now)
            self._metrics.active_users = await self._audience.counts(now)
        except Exception as exc:  # a gauge must not stop the service: the next round tries again
            log.warning("active users not counted", error=type(exc).__name__)
