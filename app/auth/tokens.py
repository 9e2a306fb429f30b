"""Verifying bearer tokens the RFC 8725 way."""

from __future__ import annotations

import re
from typing import Any

import jwt

from app.auth import Principal, RoleNames
from app.auth.keys import KeySet
from app.auth.revocation import Revocations
from app.errors import Unauthorized

_SUBJECT = re.compile(r"^[A-Za-z0-9._:@|+-]{1,100}$")  # a subject must be usable as a user id
_WHY = {
    jwt.ExpiredSignatureError: "the token has expired",
    jwt.ImmatureSignatureError: "the token is not valid yet",
    jwt.InvalidAudienceError: "the token is for another audience",
    jwt.InvalidIssuerError: "the token comes from another issuer",
    jwt.MissingRequiredClaimError: "the token lacks a required claim",
    jwt.InvalidSignatureError: "the token's signature does not verify",
}


class TokenVerifier:
    """Turns a bearer token into a Principal, or raises Unauthorized saying why."""

    def __init__(
        self,
        keys: KeySet,
        revocations: Revocations,
        *,
        algorithms: list[str],
        audience: str,
        issuer: str,
        leeway: int,
        roles_claim: str,
        role_names: RoleNames,
    ) -> None:
        self._keys = keys
        self._revocations = revocations
        self._algorithms = frozenset(algorithms)
        self._audience = audience
        self._issuer = issuer
        self._leeway = leeway
        self._roles_claim = roles_claim
        self._role_names = role_names

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("the token is malformed") from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self._algorithms:
            raise Unauthorized("the token's algorithm is not accepted")
        kid = header.get("kid")
        key = await self._keys.key_for(kid if isinstance(kid, str) else None, algorithm)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "sub", "aud", "iss"], "verify_nbf": True},
            )
        except jwt.PyJWTError as exc:
            reason = next(
                (why for kind, why in _WHY.items() if isinstance(exc, kind)), "the token is not valid"
            )
            raise Unauthorized(reason) from None
        subject = claims["sub"]
        if not isinstance(subject, str) or not _SUBJECT.match(subject):
            raise Unauthorized("the token's subject is not a usable user id")
        jti = claims.get("jti")
        if jti is not None and (not isinstance(jti, str) or await self._revocations.is_revoked(jti)):
            raise Unauthorized("the token has been revoked")
        return Principal(
            subject=subject,
            roles=frozenset(_roles(claims.get(self._roles_claim))),
            names=self._role_names,
            jti=jti,
            expires_at=float(claims["exp"]),
        )


def _roles(value: Any) -> list[str]:
    """Roles from a list claim, or a space-separated string (as OAuth scopes are)."""
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []
