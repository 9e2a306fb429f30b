"""Settings read once from APP_* environment variables: plain values, checked at start. Nothing
here imports the rest of the service; the composition root (main.py) turns values into parts."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from app.errors import ConfigError

SERVERS = ("granian", "uvicorn", "hypercorn")
DEFAULT_SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
DEFAULT_PLSQL_DIR = DEFAULT_SQL_DIR.parent / "plsql"
# The URL schemes APP_DATABASE_URL may name, and the dialect (folder under sql/) each one picks.
DATABASE_SCHEMES = {"sqlite": "sqlite", "postgresql": "postgres", "postgres": "postgres", "oracle": "oracle"}


def _access_log_policy(setting: str) -> bool:
    """Whether APP_ACCESS_LOG is one of its forms: all, errors, off or sample:N (N >= 1)."""
    kind, _, every = setting.partition(":")
    return setting in ("all", "errors", "off") or (kind == "sample" and every.isdigit() and int(every) >= 1)


def _boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service can be configured with, validated once at start."""

    database_url: str = field(default="sqlite:///data-service.db", repr=False)
    # Read replicas (comma-separated URLs of the primary's dialect): reads go to one that has
    # replayed the reader's own writes (docs/scaling.md); empty: everything on the primary.
    database_read_urls: str = field(default="", repr=False)
    database_read_max_lag_seconds: float = 5.0  # a replica further behind serves no reads
    database_read_timeout_seconds: float = 2.0  # the most one call to a replica takes
    database_pooler: str = "none"  # "pgbouncer": PgBouncer in transaction mode before PostgreSQL
    redis_url: str = field(default="", repr=False)  # empty: the in-process cache and limiter
    host: str = "127.0.0.1"
    port: int = 8000
    metrics_port: int = 0  # /metrics and the probes on a port of their own (app/http/metrics_port.py); 0: off
    server: str = "granian"
    # Server worker processes. One a container is the deployment's shape: scale with replicas,
    # size the CPU request to one worker, and /metrics (a process's own numbers) is the pod's.
    workers: int = 1
    sql_dir: Path = DEFAULT_SQL_DIR
    plsql_dir: Path = DEFAULT_PLSQL_DIR
    log_level: str = "info"
    access_log: str = "all"  # all, errors, sample:N or off (app/observability/logging.py)
    metrics: bool = True  # the request series, unique users and GET /metrics (off: none of them)
    metrics_namespace: str = ""  # a prefix for the service's metric names (process_*, python_* keep theirs)
    server_timing: bool = False  # a Server-Timing header on answers: cache, limit, db, total
    docs: bool = True  # Swagger UI at /docs (app/routes/docs.py)
    require_if_match: bool = False  # PATCH and DELETE without If-Match: 428 (app/http/conditional.py)
    exports_max: int = 2  # exports running at once in a process: each holds a database connection
    max_body_bytes: int = 1024 * 1024
    max_bulk_body_bytes: int = 8 * 1024 * 1024
    max_json_depth: int = 64
    bulk_max_items: int = 1000
    page_size_default: int = 20
    # Idempotency keys: how long a key's answer is kept, how often expired ones are deleted.
    idempotency_ttl_seconds: int = 86_400
    idempotency_purge_seconds: float = 300.0
    cache_ttl_seconds: float = 300.0
    cache_max_bytes: int = 64 * 1024 * 1024
    cache_local_max_bytes: int = 12 * 1024 * 1024
    # gzip copies of cached pages, kept by the page's tag beside the pages (app/http/compression.py)
    cache_gzip_max_bytes: int = 32 * 1024 * 1024
    # How long past its TTL a page may still answer while the database is away; negative: the TTL.
    cache_max_stale_seconds: float = -1.0
    lease_seconds: float = 5.0  # Redis only: read and token leases (adapters/redis/leases/); 0: off
    lease_max_tokens: int = 32
    rate_limit_per_minute: int = 100
    sqlite_readers: int = 4
    pg_pool_min_size: int = 4
    pg_pool_max_size: int = 8
    # The most a request waits for the database in all (connections, statements, retries) and
    # the most one database call may take (app/resilience/deadline.py).
    request_deadline_seconds: float = 10.0
    database_timeout_seconds: float = 5.0
    redis_timeout_seconds: float = 0.25
    # The breakers (app/resilience/breakers.py): failures in a row that open one, seconds open.
    # After SIGTERM: how long accepted requests may take to finish (below Kubernetes' 30 s, with
    # room for the pools to close within the database timeout).
    shutdown_grace_seconds: float = 20.0
    # Connections (app/server.py): each worker holds at most max_connections (an idle one costs
    # it about 3 KiB); one that has sent no whole request for idle_timeout_seconds (a kept-alive
    # connection between requests, or a request's headers) is closed.
    max_connections: int = 8192
    idle_timeout_seconds: float = 75.0
    read_only: bool = False  # writes answer 503 read-only; switched at run time by PUT /admin/read-only
    ready_strict: bool = False  # /ready fails while a shared dependency fails (see app/routes/probes.py)
    db_breaker_failures: int = 5
    db_breaker_reset_seconds: float = 10.0
    redis_breaker_failures: int = 1
    redis_breaker_reset_seconds: float = 1.0
    redis_pool_size: int = 32
    oracle_pool_size: int = 8
    oracle_bulk_path: str = "array_dml"
    max_header_bytes: int = 16_384
    # Request-body bytes one process holds at once (app/http/budget.py): a body costs about six
    # times its size while its request runs; 32 MiB keeps a burst of bodies within ~200 MiB.
    max_inflight_body_bytes: int = 32 * 1024 * 1024
    max_string_length: int = 65_536
    max_array_length: int = 10_000
    # Security (docs/security.md): bearer JWTs, roles, revocation, CORS.
    auth_mode: str = "none"
    jwt_algorithms: str = ""  # default: HS256 with a secret, RS256,ES256,EdDSA with a key set
    jwt_secret: str = field(default="", repr=False)
    jwt_jwks_url: str = ""
    jwt_jwks_file: str = ""
    jwt_audience: str = ""
    jwt_issuer: str = ""
    jwt_leeway_seconds: int = 30
    jwt_roles_claim: str = "roles"
    jwks_refresh_seconds: float = 300.0
    jwks_min_refetch_seconds: float = 30.0
    role_reader: str = "reader"
    role_writer: str = "writer"
    role_admin: str = "admin"
    cors_origins: str = ""  # comma-separated exact origins
    cors_allow_credentials: bool = False

    def __post_init__(self) -> None:
        if self.server not in SERVERS:
            raise ConfigError(f"APP_SERVER must be one of {', '.join(SERVERS)}, not {self.server!r}")
        if not 0 <= self.metrics_port <= 65535 or (self.metrics_port and self.metrics_port == self.port):
            raise ConfigError("APP_METRICS_PORT is 0 (off) or a port other than APP_PORT")
        if self.metrics_namespace and not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", self.metrics_namespace):
            raise ConfigError("APP_METRICS_NAMESPACE is empty or a metric name prefix: letters, digits, _")
        if not 1 <= self.workers <= 64:
            raise ConfigError("APP_WORKERS must lie between 1 and 64")
        if self.workers > 1 and self.server == "hypercorn":
            raise ConfigError("APP_WORKERS above 1 needs APP_SERVER=granian or uvicorn")
        if self.workers > 1 and self.metrics_port:
            raise ConfigError(
                "APP_METRICS_PORT serves one process's metrics: run one worker (APP_WORKERS=1) with it"
            )
        if self.database_url.partition(":")[0] not in DATABASE_SCHEMES:
            scheme = self.database_url.partition(":")[0]
            raise ConfigError(f"APP_DATABASE_URL has an unknown scheme {scheme!r}")
        self._check_database()
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError("APP_REDIS_URL must be a redis://, rediss:// or unix:// URL")
        self._check_security()
        if self.oracle_bulk_path not in ("array_dml", "plsql"):
            raise ConfigError("APP_ORACLE_BULK_PATH must be array_dml or plsql")
        if self.pg_pool_min_size > self.pg_pool_max_size:
            raise ConfigError("APP_PG_POOL_MIN_SIZE must not exceed APP_PG_POOL_MAX_SIZE")
        if (
            not 0.1 <= self.db_breaker_reset_seconds <= 600
            or not 0.1 <= self.redis_breaker_reset_seconds <= 600
        ):
            raise ConfigError(
                "APP_DB_BREAKER_RESET_SECONDS and APP_REDIS_BREAKER_RESET_SECONDS lie between 0.1 and 600"
            )
        if not 0.1 <= self.request_deadline_seconds <= 600 or not 0.1 <= self.database_timeout_seconds <= 600:
            raise ConfigError(
                "APP_REQUEST_DEADLINE_SECONDS and APP_DATABASE_TIMEOUT_SECONDS lie between 0.1 and 600"
            )
        if not 1 <= self.idempotency_ttl_seconds <= 30 * 86_400:
            raise ConfigError("APP_IDEMPOTENCY_TTL_SECONDS must lie between 1 and 2592000 (30 days)")
        if not _access_log_policy(self.access_log):
            raise ConfigError("APP_ACCESS_LOG must be all, errors, sample:N (N >= 1) or off") from None
        if not 1 <= self.shutdown_grace_seconds <= 300:
            raise ConfigError("APP_SHUTDOWN_GRACE_SECONDS must lie between 1 and 300")
        if not 1 <= self.idle_timeout_seconds <= 3600:
            raise ConfigError("APP_IDLE_TIMEOUT_SECONDS must lie between 1 and 3600")
        if self.idempotency_purge_seconds < 1:
            raise ConfigError("APP_IDEMPOTENCY_PURGE_SECONDS must be at least 1")
        if not 0 <= self.lease_seconds <= 30:
            raise ConfigError("APP_LEASE_SECONDS must lie between 0 (no leases) and 30")
        if not 1 <= self.exports_max <= 64:
            raise ConfigError("APP_EXPORTS_MAX must lie between 1 and 64")
        if not 1 <= self.page_size_default <= 100:
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
            if getattr(self, name) < 1:
                raise ConfigError(f"APP_{name.upper()} must be at least 1")

    def _check_database(self) -> None:
        if self.database_pooler not in ("none", "pgbouncer"):
            raise ConfigError("APP_DATABASE_POOLER must be none or pgbouncer")
        if self.database_pooler == "pgbouncer" and self.database_dialect != "postgres":
            raise ConfigError("APP_DATABASE_POOLER=pgbouncer is for PostgreSQL")
        for url in self.read_url_list:
            if DATABASE_SCHEMES.get(url.partition(":")[0]) != self.database_dialect:
                raise ConfigError("APP_DATABASE_READ_URLS name replicas of APP_DATABASE_URL's dialect")
        if self.read_url_list and self.database_dialect == "sqlite":
            raise ConfigError("SQLite has no replicas: leave APP_DATABASE_READ_URLS empty")
        if not 0.5 <= self.database_read_max_lag_seconds <= 3600:
            raise ConfigError("APP_DATABASE_READ_MAX_LAG_SECONDS must lie between 0.5 and 3600")
        if not 0.1 <= self.database_read_timeout_seconds <= 600:
            raise ConfigError("APP_DATABASE_READ_TIMEOUT_SECONDS must lie between 0.1 and 600")

    def _check_security(self) -> None:
        if self.auth_mode not in ("none", "jwt"):
            raise ConfigError("APP_AUTH_MODE must be jwt or none")
        if self.auth_mode == "jwt":
            sources = [bool(self.jwt_secret), bool(self.jwt_jwks_url), bool(self.jwt_jwks_file)]
            if sum(sources) != 1:
                raise ConfigError(
                    "with APP_AUTH_MODE=jwt set exactly one of APP_JWT_SECRET, "
                    "APP_JWT_JWKS_URL and APP_JWT_JWKS_FILE"
                )
            if not self.jwt_audience or not self.jwt_issuer:
                raise ConfigError("with APP_AUTH_MODE=jwt set APP_JWT_AUDIENCE and APP_JWT_ISSUER")
            if self.jwt_secret and len(self.jwt_secret.encode()) < 32:
                raise ConfigError("APP_JWT_SECRET must hold at least 32 bytes (RFC 7518, section 3.2)")
            algorithms = set(self.algorithms)
            if not algorithms or "none" in {a.lower() for a in algorithms}:
                raise ConfigError("APP_JWT_ALGORITHMS must list real algorithms, never none")
            symmetric = {a for a in algorithms if a.startswith("HS")}
            if self.jwt_secret and symmetric != algorithms:
                raise ConfigError("a shared secret verifies HS* algorithms only")
            if not self.jwt_secret and symmetric:
                raise ConfigError("HS* algorithms need APP_JWT_SECRET; a key set verifies RS/PS/ES/EdDSA")
        if self.jwt_leeway_seconds < 0 or self.jwt_leeway_seconds > 300:
            raise ConfigError("APP_JWT_LEEWAY_SECONDS must lie between 0 and 300")
        if "*" in self.cors_origin_list:
            raise ConfigError("APP_CORS_ORIGINS takes exact origins; a wildcard is refused")

    @property
    def algorithms(self) -> list[str]:
        """The JWT algorithms accepted."""
        if self.jwt_algorithms:
            return [a.strip() for a in self.jwt_algorithms.split(",") if a.strip()]
        return ["HS256"] if self.jwt_secret else ["RS256", "ES256", "EdDSA"]

    @property
    def read_url_list(self) -> list[str]:
        """The read replicas' URLs, from APP_DATABASE_READ_URLS."""
        return [u.strip() for u in self.database_read_urls.split(",") if u.strip()]

    @property
    def cors_origin_list(self) -> list[str]:
        """The exact origins CORS answers, from APP_CORS_ORIGINS."""
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @property
    def max_stale_seconds(self) -> float:
        """Seconds past its TTL a cached page still answers during a database outage (0: never)."""
        return self.cache_ttl_seconds if self.cache_max_stale_seconds < 0 else self.cache_max_stale_seconds

    @property
    def database_dialect(self) -> str:
        """The dialect the URL's scheme names, which is also its folder under sql/."""
        return DATABASE_SCHEMES[self.database_url.partition(":")[0]]

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
                values[f.name] = _boolean(raw) if kind is bool else kind(raw)
            except ValueError:
                raise ConfigError(f"APP_{f.name.upper()}={raw!r} is not a valid {kind.__name__}") from None
        return cls(**values)  # type: ignore[arg-type]
