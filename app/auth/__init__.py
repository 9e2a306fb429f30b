"""Who is calling: bearer JWTs verified against a key set (RFC 8725), roles, revocation."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RoleNames:
    """The role names the token's roles claim carries (configurable per identity provider)."""

    reader: str = "reader"
    writer: str = "writer"
    admin: str = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """A verified caller: the token's subject owns the records it writes."""

    subject: str
    roles: frozenset[str]
    names: RoleNames
    jti: str | None = None
    expires_at: float | None = None  # seconds since the epoch

    @property
    def is_admin(self) -> bool:
        return self.names.admin in self.roles

    @property
    def can_write(self) -> bool:
        return self.is_admin or self.names.writer in self.roles

    @property
    def can_read(self) -> bool:
        return self.can_write or self.names.reader in self.roles


@dataclass(frozen=True, slots=True)
class Caller:
    """Who makes a request (None when authentication is off) and the request's id."""

    principal: Principal | None
    request_id: str

    @property
    def actor(self) -> str:
        """Who the audit trail names."""
        return "anonymous" if self.principal is None else self.principal.subject
