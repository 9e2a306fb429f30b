"""Where the read-only switch is shared, so that it reaches every process of the service."""

from __future__ import annotations

from typing import Protocol

import msgspec


class WriteMode(msgspec.Struct, frozen=True, kw_only=True):
    """Whether writes are refused, why, and since when (Unix time)."""

    read_only: bool
    reason: str | None = None
    since: float = 0.0


class ModeStore(Protocol):
    """The shared switch (Redis); absent with one process and no Redis."""

    async def read(self) -> WriteMode | None:
        """The shared mode, None when nobody ever switched it; raises when the store is away."""
        ...

    async def write(self, mode: WriteMode) -> None:
        """Share the mode; raises StorageUnavailable when the store is away."""
        ...
