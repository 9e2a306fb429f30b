"""One side of `python -m bench.paired`: the app of the tree it is started in (its working
directory), on a fresh SQLite file, answering the cached GET in process, in batches asked for
on stdin; each batch's CPU per request (microseconds) goes to stdout. Not a module of the
bench package: the baseline's tree runs it too, and has no such module."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.getcwd())  # the tree under test, not this file's

from app.main import create_app
from app.settings import Settings

READY = "ready"


def scope(method: str, path: str, query: bytes = b"", headers: tuple[tuple[bytes, bytes], ...] = ()) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"bench"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def main() -> None:
    app = create_app(Settings.from_env())
    started = asyncio.Event()
    asked = False

    async def lifespan_receive() -> dict:
        nonlocal asked
        if asked:
            await asyncio.Event().wait()
        asked = True
        return {"type": "lifespan.startup"}

    async def lifespan_send(message: dict) -> None:
        started.set()

    lifespan = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, lifespan_receive, lifespan_send)
    )
    await started.wait()
    statuses: set[int] = set()

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            statuses.add(message["status"])

    # BENCH_RECORDS records of BENCH_PAYLOAD_BYTES of text each (5 small ones by default):
    # the page the cached GET answers.
    records = int(os.environ.get("BENCH_RECORDS", "5"))
    filler = {"body": "x" * int(os.environ.get("BENCH_PAYLOAD_BYTES", "0"))}
    for seq in range(records):
        payload = {"type": "order", "seq": seq, **(filler if filler["body"] else {})}
        body = json.dumps({"user_id": "hot", "payload": payload}).encode()

        async def receive(body: bytes = body) -> dict:
            return {"type": "http.request", "body": body, "more_body": False}

        headers = ((b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()))
        await app(scope("POST", "/data", headers=headers), receive, send)

    async def empty() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    for _ in range(2000):  # warm: the page is cached, the code paths are hot
        await app(scope("GET", "/data", b"user_id=hot"), empty, send)
    print(READY, flush=True)
    for line in sys.stdin:
        count = int(line)
        began = time.process_time()
        for _ in range(count):
            await app(scope("GET", "/data", b"user_id=hot"), empty, send)
        print((time.process_time() - began) / count * 1e6, flush=True)
    if statuses != {200, 201}:
        raise SystemExit(f"unexpected statuses {statuses}")
    lifespan.cancel()


subprocess.run([sys.executable, "-m", "app", "migrate"], check=True, capture_output=True)
asyncio.run(main())
