"""/metrics: the Prometheus text exposition (app/observability/metrics.py)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

from app.http.openapi import Operation
from app.http.responses import exposition
from app.observability.metrics import Metrics


class MetricsRoutes:
    """Served without a token, like the probes: a scraper has none."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def metrics(self, request: Request) -> Response:
        return exposition(request, self._metrics.exposition(), CONTENT_TYPE_LATEST)

    @property
    def operations(self) -> list[Operation]:
        return [
            Operation(
                "GET",
                "/metrics",
                self.metrics,
                "metrics",
                "Prometheus metrics, in the text exposition format",
                responses={200: None},
                public=True,
            )
        ]
