"""The commands that run the service and look after its database: serve, migrate, check-sql
and token. Their settings come from the APP_* environment, as the service's do."""

from __future__ import annotations

import errno
import socket
import sys
from collections.abc import Sequence
from typing import Any

import click

from app.cli.common import FOUND_SOMETHING, CannotRun, settings_with
from app.settings import Settings


@click.command()
@click.option("--host", help="Address to listen on (APP_HOST, default 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port to listen on (APP_PORT, default 8000).")
def serve(host: str | None, port: int | None) -> None:
    """Serve the API on APP_SERVER (granian by default) until SIGTERM or SIGINT."""
    settings = settings_with(host=host, port=port)
    _free(settings.host, settings.port, "set --port or APP_PORT")
    if settings.metrics_port:
        _free(settings.host, settings.metrics_port, "set APP_METRICS_PORT")
    from app.server import serve as run

    run(settings)


def _free(host: str, port: int, advice: str) -> None:
    """Refuse a port another process listens on, in one line, before any server starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = "in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise CannotRun(f"port {port} on {host} is {reason}; {advice}") from None


@click.command()
@click.option(
    "--dry-run", is_flag=True, help="Print the SQL of the pending migrations, in order; apply nothing."
)
@click.option("--status", is_flag=True, help="List applied and pending versions with their checksums.")
@click.option(
    "--optional", multiple=True, metavar="VERSION", help="Also apply this optional migration (e.g. V0101)."
)
def migrate(dry_run: bool, status: bool, optional: Sequence[str]) -> None:
    """Apply the pending migrations of APP_DATABASE_URL's dialect, in order."""
    from app.adapters.db.dialects import DIALECTS
    from app.adapters.db.sqlfiles import MigrationDrift, pending
    from app.builders.storage import database_options

    settings = settings_with()
    dialect, options = DIALECTS[settings.database_dialect], database_options(settings)
    migrations = _migrations(settings, optional)
    if not (dry_run or status):
        try:
            applied = dialect.migrate(options, migrations)
        except MigrationDrift as exc:
            raise click.ClickException(str(exc)) from None
        except Exception as exc:
            raise CannotRun(_unreachable(exc)) from None
        done = ", ".join(f"V{v:04d}" for v in applied)
        click.echo(
            f"applied {len(applied)} migration(s)" + (f": {done}" if applied else "; schema is current")
        )
        return
    try:
        recorded = dialect.applied(options)
    except Exception as exc:
        raise CannotRun(_unreachable(exc)) from None
    if status:
        edited = _status(migrations, recorded)
        if edited:
            sys.exit(FOUND_SOMETHING)
        return
    try:
        todo = pending(migrations, recorded)
    except MigrationDrift as exc:
        raise click.ClickException(str(exc)) from None
    for step in todo:
        click.echo(f"-- V{step.version:04d} {step.description} (sha256 {step.checksum})")
        click.echo(step.sql.rstrip() + "\n")
    if not todo:
        click.echo("-- nothing pending: the schema is current")


def apply_migrations(settings: Settings, optional: Sequence[str] = ()) -> list[int]:
    """Apply the dialect's pending migrations (and the optional ones named); their versions."""
    from app.adapters.db.dialects import DIALECTS
    from app.builders.storage import database_options

    dialect = DIALECTS[settings.database_dialect]
    return dialect.migrate(database_options(settings), _migrations(settings, optional))


def _migrations(settings: Settings, optional: Sequence[str]) -> list[Any]:
    from app.adapters.db.sqlfiles import load_migrations

    migrations = load_migrations(settings.sql_dir, settings.database_dialect)
    if optional:
        chosen = {int(v.lstrip("Vv")) for v in optional if v.lstrip("Vv").isdigit()}
        extra = [
            m
            for m in load_migrations(settings.sql_dir, settings.database_dialect, "optional")
            if m.version in chosen
        ]
        if len(extra) != len(optional):
            raise CannotRun(f"no such optional migration among {sorted(optional)}")
        migrations = sorted([*migrations, *extra], key=lambda m: m.version)
    return migrations


def _status(migrations: Sequence[Any], recorded: dict[int, str]) -> bool:
    """Print each version's state; whether an applied file was edited since."""
    edited = False
    for step in migrations:
        kept = recorded.get(step.version)
        if kept is None:
            state = "pending"
        elif kept == step.checksum:
            state = "applied"
        else:
            state, edited = "EDITED since it was applied", True
        click.echo(f"V{step.version:04d}  {state:<28}  {step.checksum[:16]}  {step.description}")
    for version in sorted(set(recorded) - {m.version for m in migrations}):
        click.echo(f"V{version:04d}  {'applied, no file here':<28}  {recorded[version][:16]}")
    return edited


def _unreachable(exc: Exception) -> str:
    """One line that says why the database could not be used."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"the database cannot be used: {type(exc).__name__}" + (f": {text}" if text else "")


@click.command("check-sql")
def check_sql() -> None:
    """Check every dialect's SQL files as the test suite does: each statement the code runs has
    its file and the same bind names, and the migrations are numbered without a gap."""
    from app.adapters.db import oracle, postgres, sqlite
    from app.adapters.db.sqlfiles import BindMismatch, Statements, load_migrations, load_queries

    settings = settings_with()
    modules = {"sqlite": sqlite, "postgres": postgres, "oracle": oracle}
    problems = []
    for name, module in modules.items():
        try:
            statements = Statements(load_queries(settings.sql_dir, name), module.BINDS)
            versions = [m.version for m in load_migrations(settings.sql_dir, name)]
        except (BindMismatch, ValueError, FileNotFoundError) as exc:
            problems.append(f"{name}: {exc}")
            continue
        click.echo(f"{name}: {len(statements.sql)} statements, migrations V0001-V{max(versions):04d}")
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        sys.exit(FOUND_SOMETHING)


@click.command()
@click.option("--sub", required=True, help="The token's subject: the user it acts as.")
@click.option("--roles", default="reader,writer", show_default=True, help="Comma-separated roles.")
@click.option("--ttl", type=click.IntRange(1, 86_400), default=3600, show_default=True, help="Seconds valid.")
def token(sub: str, roles: str, ttl: int) -> None:
    """A development token signed with APP_JWT_SECRET (HS256), for the configured audience and
    issuer. Refused where production keys are configured (a JWKS): those tokens come from the
    identity provider."""
    import secrets
    import time

    import jwt

    settings = settings_with()
    if settings.jwt_jwks_url or settings.jwt_jwks_file:
        raise CannotRun("tokens here are for development: this configuration verifies a JWKS's keys")
    if not settings.jwt_secret:
        raise CannotRun("set APP_JWT_SECRET (32 bytes or more) to sign development tokens")
    now = int(time.time())
    claims = {
        "sub": sub,
        settings.jwt_roles_claim: [r.strip() for r in roles.split(",") if r.strip()],
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "jti": secrets.token_hex(16),
    }
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    click.echo(jwt.encode(claims, settings.jwt_secret, algorithm="HS256"))
