"""The watch on a worker's listening socket (http/overflow.py), on a real socket that nobody
accepts from: a server at its cap, as far as the kernel can tell."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from collections.abc import Iterator

import pytest

from app.http.overflow import Overflow, listening_socket, open_files

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the watch reads /proc/self/fd")


@pytest.fixture
def full_server() -> Iterator[socket.socket]:
    """A listening socket whose connections nobody accepts, non-blocking as granian's is."""
    server = socket.create_server(("127.0.0.1", 0), backlog=16)
    server.setblocking(False)
    yield server
    server.close()


def first_answer(port: int, wait: float) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as client:
        client.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        chunks = []
        try:
            while chunk := client.recv(4096):
                chunks.append(chunk)
        except TimeoutError:
            pass
        return b"".join(chunks)


async def watched(port: int, cap: int, wait: float) -> bytes:
    overflow = Overflow(port, cap, every=0.05)
    await overflow.start()
    try:
        return await asyncio.to_thread(first_answer, port, wait)
    finally:
        await overflow.close()


def test_a_connection_nobody_accepts_is_answered_503_and_closed(full_server: socket.socket) -> None:
    answer = asyncio.run(watched(full_server.getsockname()[1], cap=1, wait=2.0))

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 "), answer
    assert b"\r\nretry-after: 1\r\n" in head and b"\r\nconnection: close" in head
    problem = json.loads(body)
    assert problem["type"] == "urn:data-service:problem:connections-full" and problem["status"] == 503
    assert int(head.split(b"content-length: ")[1].split(b"\r\n")[0]) == len(body)


def test_below_the_cap_nothing_is_taken_from_the_server(full_server: socket.socket) -> None:
    """The process holds fewer files than the cap: the waiting connection stays the server's."""
    port = full_server.getsockname()[1]
    answer = asyncio.run(watched(port, cap=open_files() + 1000, wait=0.5))

    assert answer == b""
    taken, _ = full_server.accept()  # still there for the server to accept
    taken.close()


def test_the_server_keeps_its_socket_and_no_file_is_left_open(full_server: socket.socket) -> None:
    before = open_files()
    copy = listening_socket(full_server.getsockname()[1])
    assert copy is not None and copy.fileno() != full_server.fileno()
    copy.close()
    assert listening_socket(1) is None  # no socket listens on port 1 here
    assert open_files() == before
    assert full_server.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)


def test_the_copy_is_closed_as_soon_as_the_worker_drains(full_server: socket.socket) -> None:
    """Once the server closes its own socket the copy must not keep it listening."""
    draining = False

    async def run() -> tuple[int, int, int]:
        before = open_files()
        overflow = Overflow(full_server.getsockname()[1], cap=1, every=0.02, draining=lambda: draining)
        await overflow.start()
        await asyncio.sleep(0.2)
        watching = open_files()
        nonlocal draining
        draining = True
        await asyncio.sleep(0.2)
        drained = open_files()
        await overflow.close()
        return before, watching, drained

    before, watching, drained = asyncio.run(run())

    assert watching == before + 1 and drained == before
