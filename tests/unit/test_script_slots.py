"""Every Lua script touches one Redis Cluster slot a call: the keys of each call share the user's
hash tag (adapters/redis/keys.py). A script called with keys of two slots would be refused by a
cluster (CROSSSLOT), so this fails first, for each script of lua/."""

from __future__ import annotations

import pytest
from redis.cluster import key_slot

from app.adapters.redis.client import LUA
from app.adapters.redis.codec import (
    AdvanceCall,
    GateCall,
    InvalidateCall,
    RefundCall,
    Revoke,
    ScriptCall,
    StorePageCall,
)
from app.ports.cache import Page

USERS = ("alice", "user-42", "a.b@c|d", "x:y+z", "9")


def calls(user: str) -> dict[str, list[ScriptCall]]:
    """Each script's calls as the service makes them, by script name."""
    page = Page.of(b"[]")
    return {
        "gate": [
            GateCall(user, 1, 100, 60),
            GateCall(user, 4, 100, 60, pages=True, page_key="p", held_generation=3, lease_ms=5000),
        ],
        "invalidate": [InvalidateCall(Revoke("h", 1, user), 3600)],
        "store_page": [StorePageCall(user, "p", page, 300, 7)],
        "advance_position": [AdvanceCall(user, 42, 20)],
        "refund": [RefundCall(user, 3)],
    }


def test_every_script_of_lua_is_checked_here() -> None:
    assert {path.stem for path in LUA.glob("*.lua")} == set(calls("alice"))


@pytest.mark.parametrize("user", USERS)
def test_each_call_of_each_script_names_keys_of_one_slot(user: str) -> None:
    for script, made in calls(user).items():
        for call in made:
            keys = call.keys()
            slots = {key_slot(key.encode()) for key in keys}
            assert len(slots) == 1, f"{script}.lua called with keys of slots {sorted(slots)}: {keys}"
