"""Tracing (OpenTelemetry, spans kept by an in-memory exporter) and Server-Timing."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import replace

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from starlette.testclient import TestClient

from app.errors import ConfigError
from app.main import assemble, create_app
from app.observability import logging as logs
from app.observability.tracing import Tracing, tracing_from_env, wanted
from app.settings import Settings
from tests.conftest import ServiceClient

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
MERGE_PATCH = "application/merge-patch+json"
PARENT_ID = "00f067aa0ba902b7"


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def traced(settings: Settings, spans: InMemorySpanExporter) -> Iterator[ServiceClient]:
    with ServiceClient(assemble(settings, tracing=Tracing(spans, batch=False))) as client:
        yield client


def by_name(found: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    matching = [s for s in found if s.name == name]
    assert len(matching) == 1, [s.name for s in found]
    return matching[0]


def test_a_traceparent_sent_in_is_the_parent_of_the_requests_span_and_its_calls_are_children(
    traced: ServiceClient, spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = traced.post("/data", json={"user_id": "trace", "payload": {}}).json()
    spans.clear()
    traced.flush_access_log()
    written = io.BytesIO()
    monkeypatch.setattr(logs, "_out", written)  # where log lines go (stdout when served)

    answer = traced.get(f"/data/{created['id']}", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    traced.flush_access_log()
    lines = [json.loads(line) for line in written.getvalue().splitlines()]

    assert answer.status_code == 200
    found = spans.get_finished_spans()
    server = by_name(found, "GET /data/{id}")
    assert server.kind == SpanKind.SERVER
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert server.parent is not None and format(server.parent.span_id, "016x") == PARENT_ID
    assert server.attributes is not None and server.attributes["http.route"] == "/data/{id}"
    assert server.attributes["http.response.status_code"] == 200
    database = by_name(found, "db get_by_id")
    assert database.kind == SpanKind.CLIENT and database.parent is not None
    assert database.parent.span_id == server.context.span_id
    assert database.attributes is not None and database.attributes["db.system.name"] in (
        "sqlite",
        "postgresql",
    )
    access = [line for line in lines if line.get("event") == "request"]
    assert [line["trace_id"] for line in access] == [TRACE_ID]


def test_without_a_traceparent_a_request_starts_a_trace_of_its_own_with_its_cache_calls(
    traced: TestClient, spans: InMemorySpanExporter
) -> None:
    traced.get("/data", params={"user_id": "roots"})
    traced.get("/data", params={"user_id": "roots"})  # the miss that caches the page: its second read

    found = spans.get_finished_spans()
    server = [s for s in found if s.name == "GET /data"][-1]
    assert server.parent is None
    names = {s.name for s in found if s.parent is not None and s.parent.span_id == server.context.span_id}
    assert {"cache read", "db get_by_user", "cache set"} <= names


def test_an_error_answer_marks_its_span(traced: TestClient, spans: InMemorySpanExporter) -> None:
    traced.get("/data/not-a-record")
    traced.get("/no/such/path")

    not_found = by_name(spans.get_finished_spans(), "GET /data/{id}")
    unmatched = by_name(spans.get_finished_spans(), "GET unmatched")
    assert not_found.attributes is not None and not_found.attributes["error.type"] == "not-found"
    assert unmatched.attributes is not None and unmatched.attributes["http.response.status_code"] == 404


@pytest.mark.parametrize(
    ("environ", "exporter"),
    [
        ({}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, "otlp"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, "otlp"),
        ({"OTEL_TRACES_EXPORTER": "console"}, "console"),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, None),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, None),
    ],
)
def test_tracing_is_on_only_when_the_otel_variables_name_an_exporter(
    environ: dict[str, str], exporter: str | None
) -> None:
    assert wanted(environ) == exporter


def test_with_no_exporter_named_the_app_holds_no_tracer() -> None:
    assert tracing_from_env({}) is None


def test_an_unknown_exporter_stops_the_start() -> None:
    with pytest.raises(ConfigError, match="OTEL_TRACES_EXPORTER"):
        tracing_from_env({"OTEL_TRACES_EXPORTER": "zipkin"})


def test_server_timing_names_the_phases_a_request_went_through(settings: Settings) -> None:
    with TestClient(create_app(replace(settings, server_timing=True))) as client:
        client.post("/data", json={"user_id": "timing", "payload": {}})
        client.get("/data", params={"user_id": "timing"})  # a page is cached from its second read
        miss = client.get("/data", params={"user_id": "timing"}).headers["server-timing"]
        hit = client.get("/data", params={"user_id": "timing"}).headers["server-timing"]

    def phases(header: str) -> dict[str, float]:
        return {p.split(";dur=")[0].strip(): float(p.split(";dur=")[1]) for p in header.split(",")}

    assert {"cache", "db", "total"} <= set(phases(miss))
    assert "db" not in phases(hit) and {"cache", "total"} <= set(phases(hit))
    assert phases(miss)["total"] >= phases(miss)["db"] > 0


def test_every_database_call_shows_in_server_timing_changes_and_exports_too(
    settings: Settings, spans: InMemorySpanExporter
) -> None:
    """PATCH, DELETE, export and the estimate go through the repository's one decorator: each
    database call is a span, and the request's Server-Timing `db` phase is their sum."""
    app = create_app(replace(settings, server_timing=True), tracing=Tracing(spans, batch=False))
    with TestClient(app) as client:
        created = client.post("/data", json={"user_id": "phased", "payload": {"n": 1}})
        where = created.headers["location"]
        answers = {
            "create": created,
            "update": client.patch(
                where, json={"n": 2}, headers={"content-type": "application/merge-patch+json"}
            ),
            "export": client.get("/data/export", params={"user_id": "phased"}),
            "estimate": client.get("/data", params={"user_id": "phased", "count": "estimated"}),
            "delete": client.delete(where),
        }

    assert [a.status_code for a in answers.values()] == [201, 200, 200, 200, 204]
    found = spans.get_finished_spans()
    servers = sorted((s for s in found if s.kind == SpanKind.SERVER), key=lambda s: s.start_time or 0)
    for (operation, answer), server in zip(answers.items(), servers, strict=True):
        header = dict(p.strip().split(";dur=") for p in answer.headers["server-timing"].split(","))
        calls = [s for s in found if s.parent is not None and s.parent.span_id == server.context.span_id]
        database = [s for s in calls if s.name.startswith("db ")]
        assert f"db {operation}" in {s.name for s in database}, (operation, [s.name for s in calls])
        spent = sum((s.end_time or 0) - (s.start_time or 0) for s in database) / 1e6  # ms
        assert float(header["db"]) >= spent * 0.9 > 0


def test_no_server_timing_unless_asked_for(client: TestClient) -> None:
    assert "server-timing" not in client.get("/data", params={"user_id": "quiet"}).headers
