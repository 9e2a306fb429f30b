"""The Lua scripts' codec: each call's KEYS and ARGV in the order the script's header names
them, replies read by name, and the lease channel's messages (the scripts themselves run
against a real Redis in tests/integration)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.adapters.redis.codec import (
    Ack,
    GateCall,
    GateReply,
    InvalidateCall,
    RefundCall,
    Revoke,
    StorePageCall,
    Told,
    decode_message,
)
from app.adapters.redis.keys import HOLDER_CHANNEL_PREFIX
from app.ports.cache import TAG_BYTES, Page

LUA = Path(__file__).resolve().parents[2] / "app" / "adapters" / "redis" / "lua"


def test_a_bucket_only_gate_call_names_one_key_and_asks_for_the_requests_own_token() -> None:
    call = GateCall("alice", 3, 100, 60)

    assert call.keys() == ["rate_limit:{alice}"]
    assert call.args() == [3, 100, 60]  # no ARGV[8]: an empty bucket refuses


def test_a_page_gate_call_names_all_five_keys_in_the_scripts_order() -> None:
    call = GateCall(
        "alice",
        0,
        100,
        60,
        pages=True,
        page_key="q",
        held_generation=7,
        lease_ms=5000,
        holder="h",
        own=False,
        min_uses=2,
        asked_seconds=300,
    )

    assert call.keys() == [
        "rate_limit:{alice}",
        "user_data:{alice}",
        "user_data:{alice}:gen",
        "user_data:{alice}:leases",
        "user_data:{alice}:asked",
    ]
    assert call.args() == [0, 100, 60, "t:q", 7, 5000, "h", 0, 2, 300]  # the field of a tagged page
    assert GateCall("a", 1, pages=True).args()[4] == ""  # no copy held


def test_gate_replies_read_by_name_with_false_as_none() -> None:
    tag = b"T" * TAG_BYTES
    assert GateReply.decode([1, 17, 80, 0, b"12", tag + b"page", 1]) == GateReply(
        True, 17, 80, 0, 12, Page(b"page", tag), True
    )
    assert GateReply.decode([0, 0, 0, 600, None, None, 1]) == GateReply(False, 0, 0, 600, None, None, True)
    assert GateReply.decode([1, 1, 80, 0, b"12", None, 0]).keep is False  # absent, asked too few times


def test_the_gate_scripts_header_documents_as_many_arguments_as_the_codec_sends() -> None:
    header = (LUA / "gate.lua").read_text()
    full = GateCall("a", 1, pages=True)

    assert all(f"KEYS[{i}]" in header for i in range(1, len(full.keys()) + 1))
    assert all(f"ARGV[{i}]" in header for i in range(1, len(full.args()) + 1))
    assert f"ARGV[{len(full.args()) + 1}]" not in header


def test_an_invalidation_tells_the_holders_who_wrote_and_which_write_to_acknowledge() -> None:
    call = InvalidateCall(Revoke("writer1", 42, "bob"), keep_seconds=86_400)

    assert call.keys() == ["user_data:{bob}", "user_data:{bob}:gen", "user_data:{bob}:leases"]
    assert call.args() == [86_400, "writer1", HOLDER_CHANNEL_PREFIX, "writer1 42 bob"]
    assert Told.decode([5, 2, 4100, 0]) == Told(2, 4.1, 0.0)


def test_channel_messages_come_back_as_they_were_sent() -> None:
    published = b"9 " + Revoke("w", 42, "user with spaces").encode().encode()  # the script's prefix

    assert decode_message(published) == Revoke("w", 42, "user with spaces")
    assert decode_message(Ack(42).encode().encode()) == Ack(42)


@pytest.mark.parametrize(
    ("call", "keys", "args"),
    [
        (
            StorePageCall("u", "q", Page(b"p", b"T" * TAG_BYTES), 300, 3),
            ["user_data:{u}", "user_data:{u}:gen"],
            ["t:q", b"T" * TAG_BYTES + b"p", 300, 3],
        ),
        (RefundCall("u", 4), ["rate_limit:{u}"], [4]),
    ],
)
def test_store_and_refund_calls(
    call: StorePageCall | RefundCall, keys: list[str], args: list[object]
) -> None:
    assert call.keys() == keys and call.args() == args
