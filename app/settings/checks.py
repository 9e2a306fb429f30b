"""The rules the settings keep (each names the variable it refuses), apart from the values."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from app.errors import ConfigError
from app.settings import DATABASE_SCHEMES, SERVERS

if TYPE_CHECKING:
    from app.settings import Settings


def _access_log_policy(setting: str) -> bool:
    """Whether APP_ACCESS_LOG is one of its forms: all, errors, off or sample:N (N >= 1)."""
    kind, _, every = setting.partition(":")
    return setting in ("all", "errors", "off") or (kind == "sample" and every.isdigit() and int(every) >= 1)


def check(s: Settings) -> None:
    """Every rule the settings keep, checked once at start: ConfigError names the variable."""
    if s.server not in SERVERS:
        raise ConfigError(f"APP_SERVER must be one of {', '.join(SERVERS)}, not {s.server!r}")
    if not 0 <= s.metrics_port <= 65535 or (s.metrics_port and s.metrics_port == s.port):
        raise ConfigError("APP_METRICS_PORT is 0 (off) or a port other than APP_PORT")
    if s.metrics_namespace and not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", s.metrics_namespace):
        raise ConfigError("APP_METRICS_NAMESPACE is empty or a metric name prefix: letters, digits, _")
    if not 1 <= s.workers <= 64:
        raise ConfigError("APP_WORKERS must lie between 1 and 64")
    if s.workers > 1 and s.server == "hypercorn":
        raise ConfigError("APP_WORKERS above 1 needs APP_SERVER=granian or uvicorn")
    if s.workers > 1 and s.metrics_port:
        raise ConfigError(
            "APP_METRICS_PORT serves one process's metrics: run one worker (APP_WORKERS=1) with it"
        )
    if s.database_url.partition(":")[0] not in DATABASE_SCHEMES:
        scheme = s.database_url.partition(":")[0]
        raise ConfigError(f"APP_DATABASE_URL has an unknown scheme {scheme!r}")
    _database(s)
    _redis(s)
    _security(s)
    if s.oracle_bulk_path not in ("array_dml", "plsql"):
        raise ConfigError("APP_ORACLE_BULK_PATH must be array_dml or plsql")
    if s.pg_pool_min_size > s.pg_pool_max_size:
        raise ConfigError("APP_PG_POOL_MIN_SIZE must not exceed APP_PG_POOL_MAX_SIZE")
    if not 0.1 <= s.db_breaker_reset_seconds <= 600 or not 0.1 <= s.redis_breaker_reset_seconds <= 600:
        raise ConfigError(
            "APP_DB_BREAKER_RESET_SECONDS and APP_REDIS_BREAKER_RESET_SECONDS lie between 0.1 and 600"
        )
    if not 0.1 <= s.request_deadline_seconds <= 600 or not 0.1 <= s.database_timeout_seconds <= 600:
        raise ConfigError(
            "APP_REQUEST_DEADLINE_SECONDS and APP_DATABASE_TIMEOUT_SECONDS lie between 0.1 and 600"
        )
    if not 1 <= s.idempotency_ttl_seconds <= 30 * 86_400:
        raise ConfigError("APP_IDEMPOTENCY_TTL_SECONDS must lie between 1 and 2592000 (30 days)")
    if not _access_log_policy(s.access_log):
        raise ConfigError("APP_ACCESS_LOG must be all, errors, sample:N (N >= 1) or off") from None
    if not 1 <= s.shutdown_grace_seconds <= 300:
        raise ConfigError("APP_SHUTDOWN_GRACE_SECONDS must lie between 1 and 300")
    if not 1 <= s.idle_timeout_seconds <= 3600:
        raise ConfigError("APP_IDLE_TIMEOUT_SECONDS must lie between 1 and 3600")
    if s.idempotency_purge_seconds < 1:
        raise ConfigError("APP_IDEMPOTENCY_PURGE_SECONDS must be at least 1")
    if not 0 <= s.lease_seconds <= 30:
        raise ConfigError("APP_LEASE_SECONDS must lie between 0 (no leases) and 30")
    if not 1 <= s.exports_max <= 64:
        raise ConfigError("APP_EXPORTS_MAX must lie between 1 and 64")
    if not 1 <= s.page_size_default <= 100:
        raise ConfigError("APP_PAGE_SIZE_DEFAULT must lie between 1 and 100")
    for name in (
        "max_body_bytes",
        "max_bulk_body_bytes",
        "max_json_depth",
        "max_header_bytes",
        "max_connections",
        "max_inflight_body_bytes",
        "max_string_length",
        "max_array_length",
        "bulk_max_items",
        "cache_max_bytes",
        "cache_local_max_bytes",
        "cache_gzip_max_bytes",
        "cache_min_uses",
        "rate_limit_per_minute",
        "sqlite_readers",
        "pg_pool_min_size",
        "pg_pool_max_size",
        "redis_pool_size",
        "oracle_pool_size",
        "lease_max_tokens",
        "db_breaker_failures",
        "redis_breaker_failures",
    ):
        if getattr(s, name) < 1:
            raise ConfigError(f"APP_{name.upper()} must be at least 1")


def _database(s: Settings) -> None:
    if s.database_pooler not in ("none", "pgbouncer"):
        raise ConfigError("APP_DATABASE_POOLER must be none or pgbouncer")
    if s.database_pooler == "pgbouncer" and s.database_dialect != "postgres":
        raise ConfigError("APP_DATABASE_POOLER=pgbouncer is for PostgreSQL")
    for url in s.read_url_list:
        if DATABASE_SCHEMES.get(url.partition(":")[0]) != s.database_dialect:
            raise ConfigError("APP_DATABASE_READ_URLS name replicas of APP_DATABASE_URL's dialect")
    if s.read_url_list and s.database_dialect == "sqlite":
        raise ConfigError("SQLite has no replicas: leave APP_DATABASE_READ_URLS empty")
    if not 0.5 <= s.database_read_max_lag_seconds <= 3600:
        raise ConfigError("APP_DATABASE_READ_MAX_LAG_SECONDS must lie between 0.5 and 3600")
    if not 0.1 <= s.database_read_timeout_seconds <= 600:
        raise ConfigError("APP_DATABASE_READ_TIMEOUT_SECONDS must lie between 0.1 and 600")


def _security(s: Settings) -> None:
    if s.auth_mode not in ("none", "jwt"):
        raise ConfigError("APP_AUTH_MODE must be jwt or none")
    if s.auth_mode == "jwt":
        sources = [bool(s.jwt_secret), bool(s.jwt_jwks_url), bool(s.jwt_jwks_file)]
        if sum(sources) != 1:
            raise ConfigError(
                "with APP_AUTH_MODE=jwt set exactly one of APP_JWT_SECRET, "
                "APP_JWT_JWKS_URL and APP_JWT_JWKS_FILE"
            )
        if not s.jwt_audience or not s.jwt_issuer:
            raise ConfigError("with APP_AUTH_MODE=jwt set APP_JWT_AUDIENCE and APP_JWT_ISSUER")
        if s.jwt_secret and len(s.jwt_secret.encode()) < 32:
            raise ConfigError("APP_JWT_SECRET must hold at least 32 bytes (RFC 7518, section 3.2)")
        algorithms = set(s.algorithms)
        if not algorithms or "none" in {a.lower() for a in algorithms}:
            raise ConfigError("APP_JWT_ALGORITHMS must list real algorithms, never none")
        symmetric = {a for a in algorithms if a.startswith("HS")}
        if s.jwt_secret and symmetric != algorithms:
            raise ConfigError("a shared secret verifies HS* algorithms only")
        if not s.jwt_secret and symmetric:
            raise ConfigError("HS* algorithms need APP_JWT_SECRET; a key set verifies RS/PS/ES/EdDSA")
    if s.jwt_leeway_seconds < 0 or s.jwt_leeway_seconds > 300:
        raise ConfigError("APP_JWT_LEEWAY_SECONDS must lie between 0 and 300")
    if "*" in s.cors_origin_list:
        raise ConfigError("APP_CORS_ORIGINS takes exact origins; a wildcard is refused")


def _redis(s: Settings) -> None:
    if s.redis_url and not s.redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("APP_REDIS_URL must be a redis://, rediss:// or unix:// URL")
    if s.redis_cluster:
        if not s.redis_url.startswith(("redis://", "rediss://")):
            raise ConfigError(
                "APP_REDIS_CLUSTER=true needs APP_REDIS_URL naming one node: redis:// or rediss://"
            )
        if urlsplit(s.redis_url).path not in ("", "/", "/0"):
            raise ConfigError("a Redis Cluster has database 0 only: APP_REDIS_URL names no other")
