"""Settings read once from APP_* environment variables: plain values, checked at start. Nothing
here imports the rest of the service; the composition root (main.py) turns values into parts."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from app.errors import ConfigError

SERVERS = ("granian", "uvicorn", "hypercorn")
DEFAULT_SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
DEFAULT_PLSQL_DIR = DEFAULT_SQL_DIR.parent / "plsql"
# The URL schemes APP_DATABASE_URL may name, and the dialect (folder under sql/) each one picks.
DATABASE_SCHEMES = {"sqlite": "sqlite", "postgresql": "postgres", "postgres": "postgres", "oracle": "oracle"}


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
    redis_cluster: bool = False  # APP_REDIS_URL names one node of a Redis Cluster (docs/scaling.md)
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
    # A page is cached from the read that asks for it the nth time within the TTL (1: every
    # page read is cached): a page nobody asks for again costs no cache write (docs/caching.md).
    cache_min_uses: int = 2
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
    # The breakers (app/resilience/breakers.py): failures in a row that open one, seconds open.
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
        from app.settings.checks import check  # the rules, in a room of their own

        check(self)

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
