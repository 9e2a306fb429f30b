"""Where an oracle:// URL points, and a standalone connection there (migrations, tools)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import oracledb


@dataclass(frozen=True, slots=True)
class OracleTarget:
    """Where oracle://user:password@host:port/service points."""

    user: str
    password: str
    host: str
    port: int
    service_name: str

    @classmethod
    def from_url(cls, url: str) -> OracleTarget:
        parts = urlsplit(url)
        if parts.scheme != "oracle" or not parts.hostname or not parts.username or not parts.path.strip("/"):
            raise ValueError("an Oracle URL looks like oracle://user:password@host:1521/service")
        return cls(
            user=unquote(parts.username),
            password=unquote(parts.password or ""),
            host=parts.hostname,
            port=parts.port or 1521,
            service_name=parts.path.strip("/"),
        )

    async def connect(self) -> oracledb.AsyncConnection:
        """One standalone connection (migrations, tools); the service itself uses the pool."""
        conn: oracledb.AsyncConnection = await oracledb.connect_async(
            user=self.user,
            password=self.password,
            host=self.host,
            port=self.port,
            service_name=self.service_name,
        )
        return conn
