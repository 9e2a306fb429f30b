"""Read-only mode: writes answer 503 `read-only` while reads go on (a database in maintenance,
a migration, a failover drill). Set at start by APP_READ_ONLY, switched at run time through
PUT /admin/read-only; with Redis the switch is shared, and every process follows it within
about a second (it reads the shared mode every `poll_seconds`). While Redis cannot be read, a
process keeps the mode it last knew."""

from __future__ import annotations

import contextlib
import time

import structlog
from redis.exceptions import RedisError

from app.concurrency import Every
from app.errors import ReadOnly, ServiceError
from app.ports.maintenance import ModeStore, WriteMode
from app.resilience.breakers import BreakerOpen

log = structlog.get_logger("app.maintenance")


class Maintenance:
    """This process's write mode, and the shared one when there is a store."""

    def __init__(self, *, read_only: bool, store: ModeStore | None, poll_seconds: float = 1.0) -> None:
        self._mode = WriteMode(
            read_only=read_only, reason="APP_READ_ONLY" if read_only else None, since=time.time()
        )
        self._started_read_only = read_only
        self._store = store
        self._follower = Every(poll_seconds, self._follow_store)

    @property
    def mode(self) -> WriteMode:
        return self._mode

    def check_writable(self) -> None:
        """Raise ReadOnly while writes are refused."""
        if self._mode.read_only:
            raise ReadOnly(
                "the service is read-only" + (f": {self._mode.reason}" if self._mode.reason else "")
            )

    async def switch(self, read_only: bool, reason: str | None) -> WriteMode:
        """Set the mode here and, with a store, everywhere (StorageUnavailable when it cannot be)."""
        mode = WriteMode(read_only=read_only, reason=reason, since=time.time())
        if self._store is not None:
            await self._store.write(mode)
        self._follow(mode)
        return mode

    async def start(self) -> None:
        """With a store: a process started with APP_READ_ONLY switches everyone; any other one
        takes the shared mode. Then it keeps reading it."""
        if self._store is None:
            return
        try:
            if self._started_read_only:
                await self._store.write(self._mode)
            else:
                await self._refresh()
        except (ServiceError, RedisError, OSError, BreakerOpen) as exc:
            log.warning("write_mode_not_shared", error=str(exc))
        await self._follower.start()

    async def close(self) -> None:
        await self._follower.close()

    async def _refresh(self) -> None:
        assert self._store is not None
        shared = await self._store.read()
        if shared is not None:
            self._follow(shared)

    async def _follow_store(self) -> None:
        with contextlib.suppress(RedisError, OSError, BreakerOpen):  # keep the mode last known
            await self._refresh()

    def _follow(self, mode: WriteMode) -> None:
        if mode.read_only != self._mode.read_only:
            log.warning("write_mode_switched", read_only=mode.read_only, reason=mode.reason)
        self._mode = mode
