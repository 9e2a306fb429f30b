"""The floor `make bench-floor` serves beside the service (bench/floor_app.py) answers the bench's
requests as the service does, on the same PostgreSQL: the same records, the same fields, so
that the two are compared doing the same work."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from app.main import create_app
from app.settings import Settings


def test_the_floor_answers_the_bench_s_requests_as_the_service_does(
    postgres_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENCH_FLOOR_DSN", postgres_db)
    from bench.floor_app import app as floor_app

    service_app = create_app(Settings(database_url=postgres_db, log_level="warning"))
    with TestClient(floor_app) as floor, TestClient(service_app) as service:
        body = {"user_id": "u1", "payload": {"title": "bench", "seq": 7, "tags": ["alpha"]}}
        made = floor.post("/data", json=body)
        assert made.status_code == 201
        created = made.json()
        service.post("/data", json={**body, "payload": {"title": "other"}})

        by_floor, by_service = floor.get(f"/data/{created['id']}"), service.get(f"/data/{created['id']}")
        assert by_floor.status_code == by_service.status_code == 200
        assert by_floor.json() == by_service.json() == created
        assert by_floor.headers["etag"] and by_service.headers["etag"]

        page = "/data?user_id=u1&page=1&page_size=10"
        floor_page, service_page = floor.get(page).json(), service.get(page).json()
        assert floor_page["items"] == service_page["items"] and len(floor_page["items"]) == 2
        assert floor_page["total"] == service_page["total"] == 2
