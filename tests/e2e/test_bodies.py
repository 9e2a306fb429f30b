"""The process's budget of request-body bytes in flight (APP_MAX_INFLIGHT_BODY_BYTES), over TCP:
a body that does not fit beside those being read waits briefly, then gets 503 with Retry-After
and is not stored; the budget comes back once the bodies' answers are sent."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from tests.processes import call, on_sqlite

pytestmark = pytest.mark.e2e


def payload(size: int) -> dict[str, list[str]]:
    """A payload of about `size` bytes, in strings within the service's limit on one."""
    return {"lines": ["x" * 10_000] * (size // 10_004)}


def post(user: str, size: int) -> bytes:
    """A POST /data of one record whose payload is about `size` bytes long."""
    body = json.dumps({"user_id": user, "payload": payload(size)}).encode()
    return (
        b"POST /data HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )


def answer(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_a_body_beyond_the_budget_waits_then_gets_503_and_the_budget_comes_back(tmp_path: Path) -> None:
    with on_sqlite("granian", tmp_path, APP_MAX_INFLIGHT_BODY_BYTES="1000000") as port:
        slow = post("slow", 600_000)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as reading:
            reading.sendall(slow[: len(slow) // 2])  # its request holds 600,000 bytes of budget
            time.sleep(0.3)
            with socket.create_connection(("127.0.0.1", port), timeout=10) as beyond:
                started = time.monotonic()
                beyond.sendall(post("beyond", 600_000))
                refused = answer(beyond)
                waited = time.monotonic() - started
            reading.sendall(slow[len(slow) // 2 :])
            stored = answer(reading)
        after = call(port, "POST", "/data", {"user_id": "after", "payload": payload(600_000)})
        listed = {u: json.loads(call(port, "GET", f"/data?user_id={u}")[2]) for u in ("slow", "beyond")}

    head, _, body = refused.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503") and b"\r\nretry-after: 1" in head.lower(), head
    assert json.loads(body)["type"] == "urn:data-service:problem:bodies-busy"
    assert 0.9 < waited < 5, "it waited about a second for room before it was refused"
    assert stored.startswith(b"HTTP/1.1 201") and after[0] == 201
    assert len(listed["slow"]["items"]) == 1 and listed["beyond"]["items"] == []
