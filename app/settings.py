"""Settings read once from APP_* environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

SERVERS = ("granian", "uvicorn", "hypercorn")
DEFAULT_SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
DEFAULT_PLSQL_DIR = DEFAULT_SQL_DIR.parent / "plsql"


class ConfigError(ValueError):
    """A setting is missing or malformed; raised at start, never on a request."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service can be configured with, validated once at start."""

    database_url: str = field(default="sqlite:///data-service.db", repr=False)
    redis_url: str = field(default="", repr=False)  # empty: the in-process cache and limiter
    host: str = "127.0.0.1"
    port: int = 8000
    server: str = "granian"
    sql_dir: Path = DEFAULT_SQL_DIR
    plsql_dir: Path = DEFAULT_PLSQL_DIR
    log_level: str = "info"
    max_body_bytes: int = 1024 * 1024
    max_bulk_body_bytes: int = 8 * 1024 * 1024
    max_json_depth: int = 64
    bulk_max_items: int = 1000
    page_size_default: int = 20
    cache_ttl_seconds: float = 300.0
    cache_max_bytes: int = 64 * 1024 * 1024
    cache_local_max_bytes: int = 8 * 1024 * 1024
    rate_limit_per_minute: int = 100
    sqlite_readers: int = 4
    pg_pool_min_size: int = 4
    pg_pool_max_size: int = 8
    database_timeout_seconds: float = 5.0
    redis_timeout_seconds: float = 0.25
    redis_pool_size: int = 32
    oracle_pool_size: int = 8
    oracle_bulk_path: str = "array_dml"

    def __post_init__(self) -> None:
        if self.server not in SERVERS:
            raise ConfigError(f"APP_SERVER must be one of {', '.join(SERVERS)}, not {self.server!r}")
        scheme = self.database_url.partition(":")[0]
        if scheme not in ("sqlite", "postgresql", "postgres", "oracle"):
            raise ConfigError(f"APP_DATABASE_URL has an unknown scheme {scheme!r}")
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError("APP_REDIS_URL must be a redis://, rediss:// or unix:// URL")
        if self.oracle_bulk_path not in ("array_dml", "plsql"):
            raise ConfigError("APP_ORACLE_BULK_PATH must be array_dml or plsql")
        if self.pg_pool_min_size > self.pg_pool_max_size:
            raise ConfigError("APP_PG_POOL_MIN_SIZE must not exceed APP_PG_POOL_MAX_SIZE")
        if not 1 <= self.page_size_default <= 100:
            raise ConfigError("APP_PAGE_SIZE_DEFAULT must lie between 1 and 100")
        for name in (
            "max_body_bytes",
            "max_bulk_body_bytes",
            "max_json_depth",
            "bulk_max_items",
            "cache_max_bytes",
            "cache_local_max_bytes",
            "rate_limit_per_minute",
            "sqlite_readers",
            "pg_pool_min_size",
            "pg_pool_max_size",
            "redis_pool_size",
            "oracle_pool_size",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"APP_{name.upper()} must be at least 1")

    @property
    def database_dialect(self) -> str:
        """The storage dialect named by the URL's scheme."""
        scheme = self.database_url.partition(":")[0]
        return "postgres" if scheme in ("postgresql", "postgres") else scheme

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from APP_<FIELD> variables; unset ones keep their defaults."""
        env = os.environ if environ is None else environ
        defaults = cls()
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f"APP_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            kind = type(getattr(defaults, f.name))
            try:
                values[f.name] = kind(raw)
            except ValueError:
                raise ConfigError(f"APP_{f.name.upper()}={raw!r} is not a valid {kind.__name__}") from None
        return cls(**values)  # type: ignore[arg-type]
