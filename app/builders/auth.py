"""Who is calling: the revocation list (Redis when configured) and, with APP_AUTH_MODE=jwt, the
token verifier and its key set."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.auth import RoleNames
from app.auth.revocation import MemoryRevocations, RedisRevocations, Revocations
from app.builders.lifespan import Step
from app.builders.state import RedisLink
from app.settings import Settings

if TYPE_CHECKING:
    from app.auth.tokens import TokenVerifier


def build_authentication(
    settings: Settings, redis: RedisLink | None, steps: list[Step]
) -> tuple[Revocations, TokenVerifier | None]:
    """The deny-list (Redis when configured) and, with APP_AUTH_MODE=jwt, the token verifier."""
    revocations: Revocations = MemoryRevocations()
    if redis is not None:
        revocations = RedisRevocations(redis.client, redis.breaker)
    if settings.auth_mode != "jwt":
        return revocations, None
    from app.auth.keys import KeySet  # jwt and cryptography: loaded only when tokens are used
    from app.auth.tokens import TokenVerifier

    keys = KeySet(
        secret=settings.jwt_secret,
        jwks_file=settings.jwt_jwks_file,
        jwks_url=settings.jwt_jwks_url,
        refresh_seconds=settings.jwks_refresh_seconds,
        min_refetch_seconds=settings.jwks_min_refetch_seconds,
    )
    verifier = TokenVerifier(
        keys,
        revocations,
        algorithms=settings.algorithms,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        leeway=settings.jwt_leeway_seconds,
        roles_claim=settings.jwt_roles_claim,
        role_names=RoleNames(settings.role_reader, settings.role_writer, settings.role_admin),
    )
    steps.append(Step("token keys", keys.start, keys.stop))
    return revocations, verifier
