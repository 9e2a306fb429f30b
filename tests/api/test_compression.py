"""gzip as a client meets it: on answers over 1,000 bytes it accepts gzip for, never on small
ones; a cached page compressed once, not on every hit; Vary where the answer may differ."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from app.http import compression
from app.ports.cache import Page

GZIP = {"accept-encoding": "gzip, deflate"}


def raw(client: TestClient, path: str, **kwargs: object) -> tuple[dict[str, str], bytes]:
    """Headers and the body as it went over the wire (the test client would decode it)."""
    with client.stream("GET", path, **kwargs) as answer:
        assert answer.status_code == 200
        return dict(answer.headers), b"".join(answer.iter_raw())


def fill(client: TestClient, count: int = 20) -> None:
    items = [{"user_id": "alice", "payload": {"n": i, "text": "lorem ipsum " * 10}} for i in range(count)]
    assert client.post("/data/bulk", json=items).status_code == 201


def test_a_large_page_goes_gzipped_to_a_client_that_accepts_it(client: TestClient) -> None:
    fill(client)

    plain_headers, plain = raw(client, "/data?user_id=alice", headers={"accept-encoding": "identity"})
    headers, packed = raw(client, "/data?user_id=alice", headers=GZIP)

    assert headers["content-encoding"] == "gzip" and "content-encoding" not in plain_headers
    assert gzip.decompress(packed) == plain
    assert len(packed) < len(plain) / 3
    assert int(headers["content-length"]) == len(packed)
    assert headers["vary"].lower() == plain_headers["vary"].lower() == "accept-encoding"


def test_small_answers_are_never_compressed(client: TestClient) -> None:
    created = client.post("/data", json={"user_id": "alice", "payload": {"n": 1}}, headers=GZIP)
    headers, body = raw(client, f"/data/{created.json()['id']}", headers=GZIP)

    assert "content-encoding" not in created.headers and "content-encoding" not in headers
    assert "vary" not in headers  # a small answer is the same whatever the client accepts
    assert json.loads(body)["payload"] == {"n": 1}


@pytest.mark.parametrize("accept", ["gzip;q=0", "br", "identity", "deflate, gzip;q=0.0"])
def test_gzip_only_when_accepted(client: TestClient, accept: str) -> None:
    fill(client)

    headers, body = raw(client, "/data?user_id=alice", headers={"accept-encoding": accept})

    assert "content-encoding" not in headers
    assert len(json.loads(body)["items"]) == 20


def test_a_cached_page_is_compressed_once_for_every_hit(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(client)
    calls: list[int] = []
    real = compression.gzip
    monkeypatch.setattr(compression, "gzip", lambda body: calls.append(len(body)) or real(body))

    bodies = {raw(client, "/data?user_id=alice", headers=GZIP)[1] for _ in range(6)}

    assert len(bodies) == 1 and len(calls) == 1


def test_a_write_serves_the_new_page_compressed(client: TestClient) -> None:
    fill(client)
    before = gzip.decompress(raw(client, "/data?user_id=alice", headers=GZIP)[1])

    client.post("/data", json={"user_id": "alice", "payload": {"n": "new"}})
    after = json.loads(gzip.decompress(raw(client, "/data?user_id=alice", headers=GZIP)[1]))

    assert after["items"][0]["payload"] == {"n": "new"} and after["total"] == json.loads(before)["total"] + 1


def test_an_export_streams_gzipped(client: TestClient) -> None:
    fill(client, count=50)
    plain = raw(client, "/data/export?user_id=alice", headers={"accept-encoding": "identity"})[1]

    headers, packed = raw(client, "/data/export?user_id=alice", headers=GZIP)

    assert headers["content-encoding"] == "gzip" and headers["vary"] == "Accept-Encoding"
    assert gzip.decompress(packed) == plain and len(plain.splitlines()) == 50


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        (b"gzip", True),
        (b"deflate, gzip;q=0.8", True),
        (b"GZIP", True),
        (b"*", True),
        (b"gzip;q=0", False),
        (b"gzip; q=0.000", False),
        (b"br, zstd", False),
        (b"", False),
    ],
)
def test_accept_encoding_is_read_as_rfc_9110_says(value: bytes, accepted: bool) -> None:
    assert compression.accepts_gzip(value) is accepted


def test_compressed_copies_stay_within_their_bound() -> None:
    copies = compression.CompressedPages(max_bytes=50_000)
    pages = [os.urandom(10_000) for _ in range(10)]  # incompressible: each copy ~10 KB

    for page in pages:
        assert gzip.decompress(copies(Page.of(page))) == page

    assert 0 < copies.held <= 50_000


def test_bulk_results_and_records_over_the_threshold_are_compressed(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    big = {"text": "x" * 3000}

    created = client.post("/data", json={"user_id": "alice", "payload": big}, headers=GZIP)
    headers, body = raw(client, f"/data/{created.json()['id']}", headers=GZIP)

    assert created.headers["content-encoding"] == "gzip" and created.json()["payload"] == big
    assert headers["content-encoding"] == "gzip" and json.loads(gzip.decompress(body))["payload"] == big
