"""Work the service does on its own, away from any request: expired idempotency keys deleted."""

from __future__ import annotations

import asyncio
import contextlib
import random

import structlog

from app.errors import ServiceError
from app.ports.storage import RecordRepository

log = structlog.get_logger("app.housekeeping")


class AnswerPurge:
    """Deletes expired idempotency keys about every `every` seconds (jittered, so replicas spread
    out), `batch` rows a statement, until none is left. An expired key is never answered even
    before it is deleted: the purge only gives the space back."""

    def __init__(self, repository: RecordRepository, *, every: float, batch: int = 1000) -> None:
        self._repository = repository
        self._every = every
        self._batch = batch
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def purge(self) -> int:
        """Delete every expired key now; how many went."""
        deleted = 0
        while True:
            gone = await self._repository.purge_answers(self._batch)
            deleted += gone
            if gone < self._batch:
                return deleted

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every * random.uniform(0.5, 1.5))  # noqa: S311 (spreading, not secrets)
            try:
                deleted = await self.purge()
            except ServiceError as exc:
                log.warning("idempotency_purge_failed", error=exc.detail)
            else:
                if deleted:
                    log.info("idempotency_keys_purged", deleted=deleted)
