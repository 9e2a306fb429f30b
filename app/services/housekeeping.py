"""Work the service does on its own, away from any request: expired idempotency keys deleted."""

from __future__ import annotations

import structlog

from app.concurrency import Every
from app.errors import ServiceError
from app.ports.storage import RecordRepository

log = structlog.get_logger("app.housekeeping")


class AnswerPurge:
    """Deletes expired idempotency keys about every `every` seconds (jittered, so replicas spread
    out), `batch` rows a statement, until none is left. An expired key is never answered even
    before it is deleted: the purge only gives the space back."""

    def __init__(self, repository: RecordRepository, *, every: float, batch: int = 1000) -> None:
        self._repository = repository
        self._batch = batch
        task = Every(every, self._purge_logged, spread=0.5)
        self.start, self.close = task.start, task.close

    async def purge(self) -> int:
        """Delete every expired key now; how many went."""
        deleted = 0
        while True:
            gone = await self._repository.purge_answers(self._batch)
            deleted += gone
            if gone < self._batch:
                return deleted

    async def _purge_logged(self) -> None:
        try:
            deleted = await self.purge()
        except ServiceError as exc:
            log.warning("idempotency_purge_failed", error=exc.detail)
        else:
            if deleted:
                log.info("idempotency_keys_purged", deleted=deleted)
