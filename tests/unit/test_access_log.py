"""The access log keeps lines and encodes them in batches: none lost, none reordered, an
error's line out at once."""

from __future__ import annotations

import io
import json

import pytest

from app.observability import logging as logs


@pytest.fixture
def written(monkeypatch: pytest.MonkeyPatch) -> io.BytesIO:
    out = io.BytesIO()
    monkeypatch.setattr(logs, "_out", out)
    monkeypatch.setattr(logs, "_terminal", False)
    return out


def lines(out: io.BytesIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_lines_wait_for_a_batch_and_an_error_sends_them_all_in_order(written: io.BytesIO) -> None:
    log = logs.AccessLog("all")
    for n in range(3):
        log.write(200, "GET", "/data", 0.001, f"user{n}", None, None)
    kept = lines(written)
    log.write(503, "GET", "/data", 0.5, "user3", None, "database-unavailable")

    assert kept == []
    sent = lines(written)
    assert [line["user_id"] for line in sent] == ["user0", "user1", "user2", "user3"]
    assert sent[-1]["level"] == "error" and sent[-1]["error"] == "database-unavailable"
    assert all(str(line["timestamp"]).endswith("Z") for line in sent)


def test_a_full_batch_goes_out_and_drain_sends_the_rest(written: io.BytesIO) -> None:
    log = logs.AccessLog("all")
    for n in range(log.BATCH + 5):
        log.write(201, "POST", "/data", 0.002, f"u{n}", 10, None)
    batched = len(lines(written))
    log.drain()

    assert batched == log.BATCH
    assert [line["user_id"] for line in lines(written)] == [f"u{n}" for n in range(log.BATCH + 5)]
