"""The read use cases: one record, a user's pages (through the read gate and the page cache),
and an export of everything a user's filters match."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

from app.auth import Caller
from app.errors import ExportsBusy, FieldProblem, StorageUnavailable, ValidationFailed
from app.ports.cache import Page, StalePage
from app.ports.storage import RecordQuery
from app.schemas.finding import EVERYTHING, NEWEST, Finding, PayloadFilter
from app.schemas.records import ExportQuery, ListQuery, Record, RecordPage
from app.services.cursor import InvalidCursor, decode_cursor, encode_cursor
from app.services.fields import projected
from app.services.policy import RecordsBase, check_range, encoder, limit_key, may_read, owner

# Rows an export reads from the database at a time: what its memory holds, whatever its size.
EXPORT_BATCH = 500


class RecordReads(RecordsBase):
    """Reads of records: by id, by page (cached), by export (streamed)."""

    async def get(self, record_id: str, caller: Caller) -> Record:
        """One record by id; another user's record is as absent as a missing one."""
        may_read(caller)
        if caller.principal is not None:
            await self._admit(caller.principal.subject)
        return await self._find(record_id, caller)

    async def list_page(
        self, query: ListQuery, caller: Caller, match: tuple[PayloadFilter, ...] = ()
    ) -> Page | StalePage:
        """A user's page, encoded, with its tag; served from the cache when it holds it, and,
        while the database cannot be read, from a copy kept past its TTL (a StalePage) when
        there is one. The tag is made here, once a page is read from the database. `match`
        holds the query's payload.<field> filters."""
        may_read(caller)
        owner(caller, query.user_id)
        plain = not match and query.q is None and query.sort is None and query.fields is None
        found = EVERYTHING if plain else Finding.of(match, query.q, query.sort, query.fields)
        _check(query, found)
        key = self._history.key(_cache_key(query, found))  # pages of one history of the database
        budget = limit_key(caller, query.user_id)
        decision, (cached, generation, keep) = await self._gate.read(budget, query.user_id, key)
        self._decided(budget, decision)
        if cached is not None:
            return cached
        if self._database_away():  # no call to wait for, nor to join: a stale copy at once
            stale = await self._cache.stale(query.user_id, key, generation)
            if stale is not None:
                return stale

        async def load() -> Page:
            page = Page.of(await self._load_page(query, found))
            if keep:
                await self._cache.set(query.user_id, key, page, generation)
            return page

        try:
            return await self._loading((query.user_id, key, generation), load)
        except StorageUnavailable:
            stale = await self._cache.stale(query.user_id, key, generation)
            if stale is None:
                raise
            return stale

    async def export(
        self, query: ExportQuery, caller: Caller, match: tuple[PayloadFilter, ...] = ()
    ) -> AsyncGenerator[list[Any], None]:
        """Every record of the user that the filters match, newest first, in batches read from
        the database as they are asked for (with `fields`, the parts asked for); checked and
        charged one token before the first."""
        may_read(caller)
        owner(caller, query.user_id)
        found = Finding.of(match, query.q, None, query.fields)
        check_range(query)
        await self._admit(limit_key(caller, query.user_id))
        if self._exports >= self._exports_max:
            raise ExportsBusy(
                f"{self._exports_max} exports are running, as many as this process runs at once"
            )
        return self._counted(
            self._repository.export(
                RecordQuery(
                    user_id=query.user_id,
                    limit=0,
                    created_from=query.created_from,
                    created_to=query.created_to,
                    type=query.type,
                    status=query.status,
                    match=found.match,
                    search=found.search,
                ),
                batch=EXPORT_BATCH,
            ),
            found.fields,
        )

    async def _counted(
        self, batches: AsyncGenerator[list[Record], None], fields: tuple[str, ...] | None
    ) -> AsyncGenerator[list[Any], None]:
        """An export's batches, counted among the running ones until it ends, fails or is
        closed (from its first batch on: one never started holds no connection)."""
        self._exports += 1
        try:
            async for batch in batches:
                yield projected(batch, fields)
        finally:
            self._exports -= 1
            await batches.aclose()

    async def _load_page(self, query: ListQuery, found: Finding) -> bytes:
        size = query.page_size or self._page_size_default
        # An empty cursor starts cursor mode at the first page: one loop walks everything.
        after = decode_cursor(query.cursor) if query.cursor else None
        page = None if query.cursor is not None else (query.page or 1)
        counted = None if page is None else (query.count or "exact")
        selected = RecordQuery(
            user_id=query.user_id,
            limit=size + 1,
            offset=0 if page is None else (page - 1) * size,
            after=after,
            created_from=query.created_from,
            created_to=query.created_to,
            type=query.type,
            status=query.status,
            match=found.match,
            search=found.search,
            sort=found.sort,
        )
        if counted == "estimated" and not selected.plain:
            counted = "exact"  # statistics know nothing of a search or a payload field's values
        if counted == "estimated":
            (records, _), total = await asyncio.gather(
                self._repository.get_by_user(selected, with_total=False), self._repository.estimate(selected)
            )
        else:
            records, total = await self._repository.get_by_user(selected, with_total=counted == "exact")
        has_more = len(records) > size
        items = records[:size]
        next_cursor = encode_cursor(items[-1].created_at, items[-1].id) if has_more else None
        return encoder.encode(
            RecordPage(
                items=projected(items, found.fields),
                page=page,
                page_size=size,
                total=total,
                has_more=has_more,
                next_cursor=next_cursor,
            )
        )


def _check(query: ListQuery, found: Finding) -> None:
    if query.cursor is not None and query.page is not None:
        raise ValidationFailed(
            "page and cursor cannot be combined",
            errors=[FieldProblem("cursor", "give either page or cursor")],
        )
    if query.cursor is not None and query.count not in (None, "none"):
        raise ValidationFailed(
            "cursor mode counts nothing", errors=[FieldProblem("count", "count applies to page mode")]
        )
    if query.cursor is not None and found.sort != NEWEST:
        raise ValidationFailed(
            "cursor mode is newest first", errors=[FieldProblem("sort", "sort applies to page mode")]
        )
    if query.cursor:
        try:
            decode_cursor(query.cursor)
        except InvalidCursor as exc:
            raise ValidationFailed(
                "the cursor is not valid", errors=[FieldProblem("cursor", str(exc))]
            ) from None
    check_range(query)


def _cache_key(query: ListQuery, found: Finding) -> str:
    # JSON keeps the parts apart whatever characters a filter value holds.
    return encoder.encode(
        [
            query.page,
            query.page_size,
            query.cursor,
            query.created_from,
            query.created_to,
            query.type,
            query.status,
            query.count,
            *([] if found is EVERYTHING else found.key()),
        ]
    ).decode()
