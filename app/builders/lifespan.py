"""What the lifespan opens at start and closes at shutdown, in order, and the lifespan itself."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from starlette.applications import Starlette

from app.lifecycle import Lifecycle

log = structlog.get_logger("app")


@dataclass(frozen=True, slots=True)
class Step:
    """Something the lifespan opens at start and closes at shutdown, after what was opened
    after it: a builder names both halves when it builds the thing."""

    name: str
    open: Callable[[], Awaitable[None]]
    close: Callable[[], Awaitable[None]]


async def nothing() -> None:
    return None


def tune_gc() -> None:
    """Once the app is built: keep what exists now (modules, routes, settings) out of every
    future collection, and collect the young generation every 20,000 allocations instead of
    700. A request allocates a few hundred objects that reference counting frees; collecting
    the few survivors less often shortens the pauses that set the tail latency of cached reads
    (docs/performance.md, "Garbage collection in served workers")."""
    gc.freeze()
    gc.set_threshold(20_000, 20, 100)


def lifespan_of(
    steps: Sequence[Step],
    lifecycle: Lifecycle,
    *,
    served: bool,
    started: dict[str, Any],
    warnings: Sequence[str] = (),
) -> Callable[[Starlette], Any]:
    """The app's lifespan: open every step in order (whatever opened is closed, in reverse
    order, however far the start got), then serve; a served worker drains on its signals."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as opened:
            for step in steps:
                try:
                    await step.open()
                except Exception as exc:
                    log.error("start failed", step=step.name, error=type(exc).__name__)
                    raise
                opened.push_async_callback(step.close)
            if served:  # a server's worker process, not a test holding many apps
                tune_gc()
            for warning in warnings:
                log.warning(warning)
            log.info("started", **started)
            lifecycle.state = "serving"
            try:
                if served:  # a signal to a server's worker fails /ready before anything else
                    with lifecycle.draining_on_signals():
                        yield
                else:
                    yield
            finally:
                lifecycle.state = "draining"

    return lifespan
