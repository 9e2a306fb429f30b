"""Commands packed by hiredis: the bytes redis-py would send, and the same refusals."""

from __future__ import annotations

import pytest
from redis.asyncio.connection import Connection
from redis.exceptions import DataError

from app.adapters.redis.client import PackedConnection

COMMANDS = [
    ("EVALSHA", "0" * 40, 4, "rate_limit:{u1}", "user_data:{u1}", 17, 100, 60, "", "", 5000, "abc", 0),
    ("SCRIPT LOAD", "return 1"),  # two words of one command
    ("SET", "caf\u00e9", b"\x00\xff", 2.5, -3),
    ("HSET", b"key", "field", "x" * 10_000),  # redis-py sends long values in a chunk of their own
    ("SET", "k", bytearray(b"v")),  # hiredis takes no bytearray: redis-py packs it
    ("SET", "k", memoryview(b"v")),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: str(c[0]))
def test_packs_what_redis_py_packs(command: tuple[object, ...]) -> None:
    ours = b"".join(PackedConnection().pack_command(*command))  # type: ignore[arg-type]
    theirs = b"".join(Connection().pack_command(*command))  # type: ignore[arg-type]
    assert ours == theirs


@pytest.mark.parametrize("value", [None, True, object()])
def test_refuses_what_redis_py_refuses(value: object) -> None:
    with pytest.raises(DataError):
        Connection().pack_command("SET", "k", value)  # type: ignore[arg-type]
    with pytest.raises(DataError):
        PackedConnection().pack_command("SET", "k", value)  # type: ignore[arg-type]
