"""The Lua scripts' protocols, typed: what each call sends (KEYS and ARGV in the order its
header in lua/ names them), what its reply means, and the lease channel's two messages.

Nothing else in the service encodes a script's arguments or reads a reply by position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from redis.typing import EncodableT

from app.adapters.redis.keys import (
    HOLDER_CHANNEL_PREFIX,
    asked_key,
    bucket_key,
    lease_key,
    page_field,
    page_keys,
    position_key,
)
from app.ports.cache import TAG_BYTES, Page


class ScriptCall(Protocol):
    """One call of a script: its KEYS and its ARGV."""

    def keys(self) -> list[str]: ...

    def args(self) -> list[EncodableT]: ...


@dataclass(frozen=True, slots=True)
class GateCall:
    """gate.lua: take tokens from the user's bucket and, with `pages`, read the user's write
    generation, the page `page_key` (unless the caller holds it for that generation) and, with
    `lease_ms`, grant the caller's process (`holder`) a read lease.

    `own` says the request needs a token of its own: an empty bucket then refuses it. A call
    that only tops up its process's spare tokens (`own` False) is never refused."""

    user_id: str
    want: int  # tokens asked for; 0 leaves the bucket alone, more than 1 leases the spare ones
    rate: int = 0  # the bucket's size: tokens a window
    window: int = 0  # seconds
    pages: bool = False
    page_key: str = ""  # "" with `pages`: the generation and the lease, no page
    held_generation: int | None = None
    lease_ms: int = 0
    holder: str = ""
    own: bool = True
    min_uses: int = 1  # misses of the page before it is worth keeping (APP_CACHE_MIN_USES)
    asked_seconds: int = 0  # how long the misses are counted: the cache's TTL

    def keys(self) -> list[str]:
        if not self.pages:
            return [bucket_key(self.user_id)]
        user = self.user_id
        return [bucket_key(user), *page_keys(user), lease_key(user), asked_key(user)]

    def args(self) -> list[EncodableT]:
        if not self.pages:  # ARGV[8] absent: the request's own token
            return [self.want, self.rate, self.window]
        held = "" if self.held_generation is None else self.held_generation
        return [
            self.want,
            self.rate,
            self.window,
            page_field(self.page_key) if self.page_key else "",
            held,
            self.lease_ms,
            self.holder,
            int(self.own),
            self.min_uses,
            self.asked_seconds,
        ]


@dataclass(frozen=True, slots=True)
class GateReply:
    """What gate.lua answered: whether the request is admitted, the tokens handed out and left,
    how long until the next one, the user's generation (with `pages`), the page (None when
    refused, absent, or when the caller's copy is current) and, for a page absent, whether it
    has been asked for often enough to be kept (`keep`)."""

    allowed: bool
    granted: int
    left: int
    wait_ms: int
    generation: int | None
    page: Page | None
    keep: bool = True

    @classmethod
    def decode(cls, reply: list[object]) -> GateReply:
        allowed, granted, left, wait_ms, generation, page, keep = reply
        return cls(
            bool(allowed),
            int(granted),  # type: ignore[call-overload]
            int(left),  # type: ignore[call-overload]
            int(wait_ms),  # type: ignore[call-overload]
            None if generation is None else int(generation),  # type: ignore[call-overload]
            unstored(page) if isinstance(page, bytes) else None,
            bool(keep),
        )


@dataclass(frozen=True, slots=True)
class Revoke:
    """On a holder's channel: a write of `user_id` ended its read lease. The holder drops the
    lease and acknowledges `nonce` on the writer's channel (nonce 0: nobody waits for it)."""

    writer: str
    nonce: int
    user_id: str

    def encode(self) -> str:
        """The message as invalidate.lua is handed it; it publishes "<generation> " + this."""
        return f"{self.writer} {self.nonce} {self.user_id}"


@dataclass(frozen=True, slots=True)
class Ack:
    """On a writer's channel: one holder has dropped the lease the write `nonce` ended."""

    nonce: int

    def encode(self) -> str:
        return f"ack {self.nonce}"


def decode_message(data: bytes) -> Revoke | Ack:
    """A message heard on this process's channel."""
    head, _, rest = data.decode().partition(" ")
    if head == "ack":
        return Ack(int(rest))
    writer, nonce, user_id = rest.split(" ", 2)  # head is the generation, which nobody needs
    return Revoke(writer, int(nonce), user_id)


@dataclass(frozen=True, slots=True)
class InvalidateCall:
    """invalidate.lua: move the user's generation on, drop the user's pages, end every read
    lease on them and tell each other holder `message`; the generation is kept `keep_seconds`."""

    message: Revoke
    keep_seconds: int

    def keys(self) -> list[str]:
        return [*page_keys(self.message.user_id), lease_key(self.message.user_id)]

    def args(self) -> list[EncodableT]:
        return [self.keep_seconds, self.message.writer, HOLDER_CHANNEL_PREFIX, self.message.encode()]


@dataclass(frozen=True, slots=True)
class Told:
    """What invalidate.lua answered: how many holders it told, how long their leases still run,
    and how long those of the holders nobody was listening for still run."""

    holders: int
    told_seconds: float
    unheard_seconds: float

    @classmethod
    def decode(cls, reply: list[object]) -> Told:
        _, holders, told_ms, unheard_ms = reply
        return cls(int(holders), int(told_ms) / 1000, int(unheard_ms) / 1000)  # type: ignore[call-overload]


@dataclass(frozen=True, slots=True)
class StorePageCall:
    """store_page.lua: keep `page` under `page_key` unless the user wrote since `generation`,
    as its tag and then its bytes (one value, read back whole by gate.lua)."""

    user_id: str
    page_key: str
    page: Page
    ttl_seconds: int
    generation: int

    def keys(self) -> list[str]:
        return page_keys(self.user_id)

    def args(self) -> list[EncodableT]:
        return [page_field(self.page_key), self.page.tag + self.page.body, self.ttl_seconds, self.generation]


def unstored(value: bytes) -> Page:
    """A page as StorePageCall stored it."""
    return Page(value[TAG_BYTES:], value[:TAG_BYTES])


def stored(reply: object) -> bool:
    """store_page.lua's reply: whether the page was kept."""
    return bool(reply)


@dataclass(frozen=True, slots=True)
class AdvanceCall:
    """advance_position.lua: keep the user's latest write position for `keep_seconds`."""

    user_id: str
    position: int
    keep_seconds: int

    def keys(self) -> list[str]:
        return [position_key(self.user_id)]

    def args(self) -> list[EncodableT]:
        return [self.position, self.keep_seconds]


@dataclass(frozen=True, slots=True)
class RefundCall:
    """refund.lua: give `tokens` a process held and did not spend back to the user's bucket."""

    user_id: str
    tokens: int

    def keys(self) -> list[str]:
        return [bucket_key(self.user_id)]

    def args(self) -> list[EncodableT]:
        return [self.tokens]


def ignored(reply: object) -> None:
    """A reply nobody reads."""
    return None
