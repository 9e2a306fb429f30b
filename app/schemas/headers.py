"""What the OpenAPI document says of the /data routes' headers and error answers."""

from __future__ import annotations

RATE_LIMIT_HEADERS = {
    "Retry-After": "Seconds until the user's next request is admitted",
    "RateLimit-Policy": 'The per-user quota, e.g. "per-user";q=100;w=60',
    "RateLimit": 'What is left of it, e.g. "per-user";r=0;t=1',
}
STALE_HEADERS = {
    "Cache-Status": "Only on a page served stale while the database is away (RFC 9211): "
    '"data-service; hit; ttl=-<seconds past its TTL>; detail=database-unavailable"',
    "Age": "With Cache-Status: seconds since the page was read from the database",
}
LINK_HEADER = {
    "Link": "The neighbouring pages (RFC 8288): in cursor mode `</data?user_id=u&cursor=...>; "
    'rel="next"` while there are more; in page mode `rel="first"` and `rel="prev"` past page 1 '
    'and `rel="next"` while there are more; none on a result that fits one page',
}
BODY_ERRORS = (400, 409, 413, 415, 422, 429, 503)
KEY_HEADER = {
    "Idempotency-Key": "Makes the write idempotent (draft-ietf-httpapi-idempotency-key-header): "
    'a string such as "a1b2", 1 to 255 printable ASCII characters, kept per caller for the '
    "configured time. A retry with it gets the first answer; the same key with another body "
    "422; while the first still runs 409",
}
KEYED_HEADERS = {
    "Idempotent-Replayed": "true when the answer is the one kept for the Idempotency-Key, replayed",
}
ETAG_HEADER = {
    "ETag": 'The record\'s version, quoted ("3"): a strong validator for If-Match and If-None-Match',
}
IF_MATCH_HEADER = {
    "If-Match": 'The ETag(s) the change was made against, e.g. "3" (or *): 412 when the record is at '
    "another version now. Without it the change applies to the current version, unless the "
    "service requires it (APP_REQUIRE_IF_MATCH: 428)",
}
PAGE_TAG_HEADER = {
    "ETag": 'A weak validator of the page, e.g. W/"3q2-7w..." (a digest of its bytes, the same from '
    "every replica): send it back in If-None-Match to revalidate",
}
IF_NONE_MATCH_PAGE = {
    "If-None-Match": "The ETag of the page the client holds: 304 without a body while the page is "
    "unchanged, answered from the cache when it holds the page (no database query)",
}
IF_NONE_MATCH_HEADER = {
    "If-None-Match": 'The ETag of the copy the client holds, e.g. "3": 304 without a body while '
    "the record is still at that version",
}
