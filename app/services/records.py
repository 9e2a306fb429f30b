"""The /data use cases, in one service: reads (reads.py), writes (writes.py) and the declared
procedures (procedures.py) over the same parts (policy.py: the repository, the page cache,
the limiter and the read gate)."""

from __future__ import annotations

from app.services.procedures import RecordProcedures
from app.services.reads import RecordReads
from app.services.writes import RecordWrites


class RecordService(RecordReads, RecordWrites, RecordProcedures):
    """Records per user, with a per-user request budget and cached list pages."""
