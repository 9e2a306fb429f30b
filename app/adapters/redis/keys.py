"""The names of the Redis keys and channels.

Every key of one user shares the user's hash tag ({user_id}): one Redis Cluster slot, so one
script may touch them all.
"""

from __future__ import annotations

HOLDER_CHANNEL_PREFIX = "lease:holder:"


def bucket_key(user_id: str) -> str:
    """The user's token bucket."""
    return f"rate_limit:{{{user_id}}}"


def page_keys(user_id: str) -> list[str]:
    """The user's page hash and generation counter."""
    return [f"user_data:{{{user_id}}}", f"user_data:{{{user_id}}}:gen"]


def page_field(page_key: str) -> str:
    """A page's field in the user's page hash. Its value is the page's tag and then its bytes
    (codec.py); the prefix names that layout, so that a replica of a release that kept the bytes
    alone never reads a field of this one, nor this one a field of that one, while both run
    during a rolling update."""
    return "t:" + page_key


def asked_key(user_id: str) -> str:
    """How often each of the user's pages missed since the first miss counted (gate.lua): a
    page is cached once asked for APP_CACHE_MIN_USES times; the counts expire together."""
    return f"user_data:{{{user_id}}}:asked"


def lease_key(user_id: str) -> str:
    """Who holds a read lease on the user's pages, and until when (adapters/redis/leases/)."""
    return f"user_data:{{{user_id}}}:leases"


def position_key(user_id: str) -> str:
    """The position of the user's latest write in the primary's log (adapters/redis/positions.py)."""
    return f"user_data:{{{user_id}}}:position"


def holder_channel(holder: str) -> str:
    """Where a process hears that a write ended its lease, or that its own write was heard."""
    return HOLDER_CHANNEL_PREFIX + holder


def audience_key(window: str, bucket: int) -> str:
    """A HyperLogLog of the users seen in one bucket of a time window (adapters/redis/audience.py)."""
    return f"users_active:{{{window}}}:{bucket}"
