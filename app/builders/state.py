"""What the processes of a deployment share: the page cache, the limiter and the read gate,
the users' write positions (read-your-writes on replicas) and the read-only switch. In Redis
when APP_REDIS_URL is set (shared by every process), else held in this process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.adapters.memory.gate import MemoryReadGate
from app.adapters.memory.limiter import MemoryLimiter
from app.adapters.memory.pages import MemoryPageCache
from app.adapters.memory.positions import MemoryPositions
from app.builders.lifespan import Step, nothing
from app.ports.cache import PageCache
from app.ports.gate import ReadGate
from app.ports.limiter import Limiter
from app.ports.positions import WritePositions
from app.resilience.breakers import Breaker
from app.services.maintenance import Maintenance
from app.settings import Settings
from app.tallies import Tally

if TYPE_CHECKING:
    from app.adapters.redis.client import Client


@dataclass(frozen=True, slots=True)
class RedisLink:
    """One client and one breaker, shared by everything of a process that uses Redis, so one
    failure noticed by any of them spares all the others the same timeout."""

    client: Client
    breaker: Breaker
    trips: Tally  # the client's round trips
    read_leases: dict[str, int]  # read leases granted, renewed and revoked


@dataclass(frozen=True, slots=True)
class SharedState:
    """The page cache, the limiter and the read gate over them; `redis` when they live there."""

    cache: PageCache
    limiter: Limiter
    gate: ReadGate
    redis: RedisLink | None
    positions: WritePositions


def build_shared_state(settings: Settings, steps: list[Step]) -> SharedState:
    """Redis when APP_REDIS_URL is set, else in-process ones."""
    if not settings.redis_url:
        pages = MemoryPageCache(
            max_bytes=settings.cache_max_bytes,
            ttl_seconds=settings.cache_ttl_seconds,
            max_stale_seconds=settings.max_stale_seconds,
            min_uses=settings.cache_min_uses,
        )
        limiter = MemoryLimiter(rate=settings.rate_limit_per_minute, window=60)
        steps += [Step("page cache", nothing, pages.close), Step("limiter", nothing, limiter.close)]
        positions = MemoryPositions(keep_seconds=_positions_kept(settings))
        return SharedState(pages, limiter, MemoryReadGate(limiter, pages), None, positions)
    return _in_redis(settings, steps)


def _in_redis(settings: Settings, steps: list[Step]) -> SharedState:
    from app.adapters.redis.client import connect, connect_listener, redis_failed
    from app.adapters.redis.gate import RedisReadGate
    from app.adapters.redis.leases import Budget, Leases
    from app.adapters.redis.limiter import RedisLimiter
    from app.adapters.redis.pages import RedisPageCache
    from app.adapters.redis.positions import RedisPositions

    trips = Tally()
    client = connect(
        settings.redis_url,
        timeout=settings.redis_timeout_seconds,
        pool_size=settings.redis_pool_size,
        trips=trips,
        cluster=settings.redis_cluster,
    )
    steps.append(Step("redis", nothing, client.aclose))
    breaker = Breaker(
        "redis",
        fail_max=settings.redis_breaker_failures,
        reset_seconds=settings.redis_breaker_reset_seconds,
        counts=redis_failed,
    )
    leases = Leases(
        client,
        connect_listener(
            settings.redis_url, timeout=settings.redis_timeout_seconds, cluster=settings.redis_cluster
        )
        if settings.lease_seconds > 0
        else None,
        seconds=settings.lease_seconds,
        max_tokens=settings.lease_max_tokens,
        budget=Budget(rate=settings.rate_limit_per_minute, window=60),
    )

    async def start_leases() -> None:
        leases.start()

    steps.append(Step("leases", start_leases, leases.close))
    pages = RedisPageCache(
        client,
        ttl_seconds=settings.cache_ttl_seconds,
        local_max_bytes=settings.cache_local_max_bytes,
        breaker=breaker,
        leases=leases,
        max_stale_seconds=settings.max_stale_seconds,
        min_uses=settings.cache_min_uses,
    )
    limiter = RedisLimiter(breaker=breaker, leases=leases)
    gate = RedisReadGate(pages, limiter, breaker=breaker, leases=leases)
    steps += [Step("page cache", nothing, pages.close), Step("limiter", nothing, limiter.close)]
    link = RedisLink(client, breaker, trips, leases.book.read_leases)
    positions = RedisPositions(client, breaker, keep_seconds=_positions_kept(settings))
    return SharedState(pages, limiter, gate, link, positions)


def _positions_kept(settings: Settings) -> float:
    """How long a write's position matters: past twice the lag a usable replica may have (and
    a margin for the ticks that measure it), every replica that serves reads has replayed it."""
    return settings.database_read_max_lag_seconds * 2 + 10


def build_maintenance(settings: Settings, redis: RedisLink | None, steps: list[Step]) -> Maintenance:
    """Read-only mode, from APP_READ_ONLY, shared through Redis when configured."""
    store = None
    if redis is not None:
        from app.adapters.redis.mode import RedisModeStore

        store = RedisModeStore(redis.client, redis.breaker)
    maintenance = Maintenance(read_only=settings.read_only, store=store)
    steps.append(Step("write mode", maintenance.start, maintenance.close))
    return maintenance
