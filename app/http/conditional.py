"""Conditional requests (RFC 9110, section 13): a record's ETag is its version, quoted ("3"),
a strong validator (the version counts up with every change, in the same UPDATE). If-Match on
PATCH and DELETE names the versions a change was made against; If-None-Match on GET answers
304 when the client's copy is current.

A list page's ETag is weak: its tag, a digest of the page's bytes made once when it was read
from the database and kept with it in the cache (ports/cache.py). A revalidation the cache can
answer costs no database query, and under a read lease no call to Redis either."""

from __future__ import annotations

import re

from starlette.requests import Request

from app.errors import MalformedRequest
from app.schemas.records import Versions

# An entity tag, optionally weak, then a comma or the end (RFC 9110, section 8.8.3).
_TAG = re.compile(r'\s*(W/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*(?:,|$)')
ANY = Versions(any=True)
_MALFORMED = '{} holds entity tags, quoted as the ETag answered them ("3", W/"..."), comma-separated, or *'


def etag(version: int) -> str:
    """The strong ETag of a record at this version."""
    return f'"{version}"'


def _tags(request: Request, name: str) -> list[tuple[bool, str]] | None:
    """The (weak, opaque) entity tags a header lists, [] for `*`, None when absent."""
    values = request.headers.getlist(name)
    if not values:
        return None
    text = ",".join(values).strip()
    if text == "*":
        return []
    tags: list[tuple[bool, str]] = []
    at = 0
    while at < len(text):
        found = _TAG.match(text, at)
        if found is None or found.end() == at:
            raise MalformedRequest(_MALFORMED.format(name.title()))
        tags.append((found.group(1) is not None, found.group(2)))
        at = found.end()
    if not tags:
        raise MalformedRequest(_MALFORMED.format(name.title()))
    return tags


def if_match(request: Request) -> Versions | None:
    """The versions If-Match allows, by strong comparison (a weak tag matches none); None when
    the request has no If-Match."""
    tags = _tags(request, "if-match")
    if tags is None:
        return None
    if not tags:
        return ANY
    return Versions(frozenset(int(opaque) for weak, opaque in tags if not weak and _is_version(opaque)))


def page_etag(tag: bytes) -> bytes:
    """A list page's weak ETag, as the header's value."""
    return b'W/"' + tag + b'"'


def not_modified(request: Request, etag: bytes) -> bool:
    """Whether the request's If-None-Match names this ETag (a record's or a page's; weak
    comparison) or is `*`: the client's copy is current and a GET answers 304. The request
    middleware keeps the header's (first) value in the scope as it scans the headers: most
    requests carry none, and most that do send back the one tag they were given, which is
    compared as it is (a header mapping and the parse would cost a cached read more than the
    rest of the check); only other
    values are parsed."""
    sent = request.scope.get("if_none_match")
    if sent is None:
        return False
    if sent == etag:
        return True
    tags = _tags(request, "if-none-match")
    if tags is None:
        return False
    opaque = etag.removeprefix(b"W/")[1:-1].decode("ascii")
    return not tags or any(held == opaque for _, held in tags)


def _is_version(opaque: str) -> bool:
    return opaque.isascii() and opaque.isdigit() and len(opaque) <= 18
