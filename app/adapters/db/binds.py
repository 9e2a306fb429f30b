"""The bind names of the statements every dialect shares, beside the SQL files they check
(sqlfiles.Statements refuses a file whose binds differ), and the filters' bind values."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from app.ports.storage import RecordQuery

# The binds every dialect's list and count statements share: a RecordQuery's filters.
FILTERS = frozenset({"user_id", "created_from", "created_to", "type", "status"})
# The read statements' binds where pages are placed by LIMIT/OFFSET (SQLite, PostgreSQL).
OFFSET_READ_BINDS = {
    "get_record": frozenset({"id"}),
    "list_records": FILTERS | {"after_created_at", "after_id", "limit", "offset"},
    "list_records_counted": FILTERS | {"limit", "offset"},
    "count_records": FILTERS,
    "export_records": FILTERS,
    "ping": frozenset(),
    "position": frozenset(),
    "history": frozenset(),
    "maintain_partitions": frozenset(),
}
# The idempotency keys' statements (sql/<dialect>/keep_answer.sql and the like).
KEY_BINDS = frozenset({"scope", "idem_key"})
ANSWER_BINDS = KEY_BINDS | {"fingerprint", "status", "body"}


def filter_binds(
    query: RecordQuery, *, far_past: object, far_future: object, moment: Callable[[datetime], object]
) -> dict[str, object]:
    """The FILTERS binds of a query, as a dialect binds them: its own form of a moment, and its
    own open bounds for an absent date range (so one statement serves every combination)."""
    return {
        "user_id": query.user_id,
        "created_from": far_past if query.created_from is None else moment(query.created_from),
        "created_to": far_future if query.created_to is None else moment(query.created_to),
        "type": query.type,
        "status": query.status,
    }
