"""Link headers (RFC 8288) on list pages, so that a client walks a result with the
conventions other APIs taught it: `next` while there are more records; in page mode also
`first` and `prev` past page 1 (a single page has no Link header, as GitHub's API does)."""

from __future__ import annotations

import msgspec

from app.schemas.records import ListQuery


class _Tail(msgspec.Struct):
    has_more: bool
    next_cursor: str | None = None


_tail = msgspec.json.Decoder(_Tail)
_MARK = b',"has_more":'
_LAST = b',"has_more":false,"next_cursor":null}'  # how RecordPage ends when nothing follows


def page_links(path: str, query_string: bytes, query: ListQuery, page: bytes) -> str | None:
    """The Link header for this encoded RecordPage, answered to this request; None when it
    has no neighbour to name.

    The page's own fields come from its last bytes: RecordPage ends with has_more and
    next_cursor, after every record, so the last `,"has_more":` is the field, whatever the
    payloads hold, and a cached page is not decoded again to answer it."""
    if page.endswith(_LAST) and (query.cursor is not None or (query.page or 1) == 1):
        return None  # the common case, a single page, answered without decoding anything
    tail = _tail.decode(b"{" + page[page.rindex(_MARK) + 1 :])
    # The request's own parameters as it sent them, without the ones that pick the page.
    kept = [
        part
        for part in query_string.decode("latin-1").split("&")
        if part and not part.startswith(("page=", "cursor="))
    ]

    def link(picks: str, rel: str) -> str:
        return f'<{path}?{"&".join([*kept, picks])}>; rel="{rel}"'

    if query.cursor is not None:
        return link(f"cursor={tail.next_cursor}", "next") if tail.next_cursor else None
    number = query.page or 1
    links = [link("page=1", "first"), link(f"page={number - 1}", "prev")] if number > 1 else []
    if tail.has_more:
        links.append(link(f"page={number + 1}", "next"))
    return ", ".join(links) or None
