"""The floor of the service's design for the reads that reach the database: Starlette routes,
an asyncpg pool of the service's size, the service's own statements, msgspec encoding, served
by granian in one worker. Nothing else: no middleware, rate limit, cache, metrics, log or
validation beyond what the statements need. `python -m bench.floor` serves it beside the
service; what the service does per request above it is the price of its features.

    BENCH_FLOOR_DSN=postgresql://... granian --interface asgi bench.floor_app:app
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg
import msgspec
import uuid_utils
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.settings import Settings

GET = """SELECT id::text, user_id, payload::text, created_at, updated_at, version
  FROM data_records WHERE id = $1::uuid AND created_at >= $2 AND created_at < $3"""
LIST = """SELECT id::text, user_id, payload::text, created_at, updated_at, version, count(*) OVER ()
  FROM data_records WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"""
INSERT = """WITH stored AS (
    INSERT INTO data_records (id, user_id, payload) VALUES ($1::uuid, $2, $3::jsonb)
    RETURNING id, user_id, created_at, updated_at
), audited AS (
    INSERT INTO data_audit (actor, action, record_id, owner, request_id)
    SELECT 'anonymous', 'create', id, user_id, 'floor' FROM stored
)
SELECT created_at, updated_at FROM stored"""
WINDOW = timedelta(hours=1)  # the service's, for a UUIDv7's moment
encode = msgspec.json.Encoder().encode
pools: list[asyncpg.Pool] = []


def record(row: asyncpg.Record) -> dict[str, object]:
    return {
        "id": row[0],
        "user_id": row[1],
        "payload": msgspec.Raw(row[2].encode()),
        "created_at": row[3],
        "updated_at": row[4],
        "version": row[5],
    }


async def by_id(request: Request) -> Response:
    parsed = UUID(request.path_params["id"])
    moment = datetime.fromtimestamp((parsed.int >> 80) / 1000, UTC)
    row = await pools[0].fetchrow(GET, parsed, moment - WINDOW, moment + WINDOW)
    if row is None:
        return Response(status_code=404)
    return Response(encode(record(row)), media_type="application/json", headers={"etag": f'"{row[5]}"'})


async def page(request: Request) -> Response:
    query = request.query_params
    size, number = int(query.get("page_size", "20")), int(query.get("page", "1"))
    rows = await pools[0].fetch(LIST, query["user_id"], size, (number - 1) * size)
    body = {
        "items": [record(row) for row in rows],
        "total": rows[0][6] if rows else 0,
        "page": number,
        "page_size": size,
    }
    return Response(encode(body), media_type="application/json")


class NewRecord(msgspec.Struct):
    user_id: str
    payload: msgspec.Raw


decode_new = msgspec.json.Decoder(NewRecord).decode


async def create(request: Request) -> Response:
    new = decode_new(await request.body())
    record_id = str(uuid_utils.uuid7())
    row = await pools[0].fetchrow(INSERT, record_id, new.user_id, bytes(new.payload).decode())
    assert row is not None  # the statement returns its one row
    body: dict[str, object] = {"id": record_id, "user_id": new.user_id, "payload": new.payload}
    body |= {"created_at": row[0], "updated_at": row[1], "version": 1}
    return Response(encode(body), status_code=201, media_type="application/json")


async def health(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


async def keep_session(connection: asyncpg.Connection) -> None:
    """No statement on release, as the service's pool (asyncpg's default sends RESET ALL and more)."""


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    size = Settings().pg_pool_max_size
    dsn = os.environ["BENCH_FLOOR_DSN"]
    pools.append(await asyncpg.create_pool(dsn, min_size=size, max_size=size, reset=keep_session))
    yield
    await pools.pop().close()


app = Starlette(
    routes=[
        Route("/data/{id}", by_id),
        Route("/data", page),
        Route("/data", create, methods=["POST"]),
        Route("/health", health),
    ],
    lifespan=lifespan,
)
