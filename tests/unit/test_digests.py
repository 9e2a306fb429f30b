"""SHA-256 on the event loop's thread: the same digest as hashlib's, with the GIL kept while it
hashes, so a server thread waiting for the GIL cannot take it in the middle of a request."""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from app.digests import PIECE, sha256


@pytest.mark.parametrize("size", [0, 1, PIECE, PIECE + 1, 2 * PIECE, 100_000])
def test_the_digest_is_sha256_of_the_parts_one_after_the_other(size: int) -> None:
    body = bytes(i % 251 for i in range(size))

    assert sha256(body).digest() == hashlib.sha256(body).digest()
    assert sha256(b"GET /data\n", body).hexdigest() == hashlib.sha256(b"GET /data\n" + body).hexdigest()


class Waiter:
    """A thread that counts each time it holds the GIL, then lets it go at once."""

    def __init__(self) -> None:
        self.turns = 0
        self.stop = False

    def run(self) -> None:
        while not self.stop:
            self.turns += 1
            time.sleep(0)  # lets the GIL go; it then waits for it again


@pytest.fixture
def waiter() -> Iterator[Waiter]:
    """A thread waiting for the GIL, and an interpreter that never takes it from this thread on
    its own (a switch interval of a minute): it runs only where this thread lets the GIL go."""
    interval = sys.getswitchinterval()
    waiting = Waiter()
    thread = threading.Thread(target=waiting.run)
    thread.start()
    sys.setswitchinterval(60)
    try:
        yield waiting
    finally:
        sys.setswitchinterval(interval)
        waiting.stop = True
        thread.join()


def test_hashing_a_large_body_keeps_the_gil(waiter: Waiter) -> None:
    body = bytes(range(256)) * 4096  # 1 MiB: hashlib alone lets the GIL go for all of it
    time.sleep(0.01)  # the waiter is now waiting for the GIL
    before = waiter.turns

    sha256(body).digest()

    assert waiter.turns == before, "another thread ran while the body was hashed"
