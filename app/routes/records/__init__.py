"""/data: the reads (reads.py) and the writes (writes.py) of one RecordService."""

from __future__ import annotations

from app.http.openapi import Operation
from app.http.requests import BodyLimits
from app.http.responses import PageAnswers
from app.routes.records.reads import ReadRoutes
from app.routes.records.writes import WriteRoutes
from app.services.records import RecordService


class RecordRoutes:
    """Every /data handler, bound to one RecordService."""

    def __init__(
        self,
        service: RecordService,
        *,
        body: BodyLimits,
        bulk_body: BodyLimits,
        pages: PageAnswers,
        require_if_match: bool = False,
    ) -> None:
        self.reads = ReadRoutes(service, pages=pages)
        self.writes = WriteRoutes(service, body=body, bulk_body=bulk_body, require_if_match=require_if_match)

    @property
    def operations(self) -> list[Operation]:
        """In the order routes match: POST /data, POST /data/bulk, GET /data, GET /data/export
        (before /data/{id}, which would take "export" for an id), then /data/{id}."""
        writes = self.writes.operations
        by_id = [op for op in writes if "{id}" in op.path]
        return [*[op for op in writes if op not in by_id], *self.reads.operations, *by_id]
