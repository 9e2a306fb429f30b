"""The repository on Oracle: reads, writes and idempotent writes over one pool (session.py)."""

from __future__ import annotations

from app.adapters.db.oracle.keys import OracleKeys
from app.adapters.db.oracle.reads import OracleReads
from app.adapters.db.oracle.session import BINDS, error_for, translated

__all__ = ["BINDS", "OracleRecordRepository", "error_for", "translated"]


class OracleRecordRepository(OracleReads, OracleKeys):
    """RecordRepository on Oracle (OracleKeys: the writes, and the writes once a key)."""
