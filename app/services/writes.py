"""The write use cases: create one or many records (once an Idempotency-Key), change and
delete one; each drops its user's cached pages before it answers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec

from app.auth import Caller
from app.errors import (
    FieldProblem,
    IdempotencyKeyReused,
    PreconditionFailed,
    StorageConflict,
    ValidationFailed,
    field_problem,
)
from app.observability.context import charge
from app.ports.storage import Answer, BulkOutcome, IdempotencyKey, KeptAnswer, NewRecord
from app.schemas.records import BulkResult, CreateRecord, Record, RejectedItem, Versions
from app.services.bulk import BulkRequest, CheckedBulk, nothing_stored
from app.services.patch import merge_patch
from app.services.policy import RecordsBase, audit, encode_payload, encoder, limit_key, may_write, owner

_item_decoder = msgspec.json.Decoder(CreateRecord)
# Reads and writes of one change before it gives up on a record that keeps changing meanwhile.
CHANGE_ATTEMPTS = 5
NAMED_USERS = 5  # a bulk write's access line names this many users at most, else says "many"


class RecordWrites(RecordsBase):
    """Writes of records, each admitted on the caller's budget and checked against read-only."""

    async def create(self, item: CreateRecord, caller: Caller) -> Record:
        """Store one record for its user."""
        record = await self._admitted(item, caller)
        stored = await self._repository.create(record, audit(caller))
        await self._cache.invalidate_user(item.user_id)
        self._created([record])
        return stored

    async def create_once(self, item: CreateRecord, caller: Caller, key: str, fingerprint: str) -> KeptAnswer:
        """`create` under an Idempotency-Key: the first request's answer, whichever this is."""
        record = await self._admitted(item, caller)
        kept = await self._repository.create_once(
            self._key(caller, key, fingerprint),
            record,
            audit(caller),
            lambda stored: Answer(201, encoder.encode(stored)),
        )
        if not kept.replayed:
            self._created([record])
        return await self._settled(kept, fingerprint, [item.user_id])

    async def _admitted(self, item: CreateRecord, caller: Caller) -> NewRecord:
        may_write(caller)
        self._maintenance.check_writable()
        owner(caller, item.user_id)
        payload = encode_payload(item.payload)
        if isinstance(payload, FieldProblem):
            raise ValidationFailed("the body does not match the schema", errors=[payload])
        await self._admit(limit_key(caller, item.user_id))
        return NewRecord(item.user_id, payload)

    async def create_many(self, request: BulkRequest, *, caller: Caller) -> BulkResult:
        """Store every valid item in one round trip and say what became of each one."""
        bulk = await self._admitted_bulk(request, caller)
        outcome = await self._repository.create_many(
            bulk.records, all_or_nothing=request.all_or_nothing, audit=audit(caller)
        )
        await asyncio.gather(*map(self._cache.invalidate_user, bulk.users))
        self._created([bulk.records[i] for i in outcome.stored])
        return bulk.result(outcome)

    async def create_many_once(
        self, request: BulkRequest, *, caller: Caller, key: str, fingerprint: str
    ) -> KeptAnswer:
        """`create_many` under an Idempotency-Key: the first request's answer, whichever this is."""
        bulk = await self._admitted_bulk(request, caller)

        outcomes: list[BulkOutcome] = []

        def respond(outcome: BulkOutcome) -> Answer:  # raises, and so rolls back, when none is stored
            outcomes.append(outcome)
            result = bulk.result(outcome)
            return Answer(207 if result.rejected else 201, encoder.encode(result))

        kept = await self._repository.create_many_once(
            self._key(caller, key, fingerprint),
            bulk.records,
            all_or_nothing=request.all_or_nothing,
            audit=audit(caller),
            respond=respond,
        )
        if not kept.replayed:
            self._created([bulk.records[i] for i in outcomes[-1].stored])
        return await self._settled(kept, fingerprint, bulk.users)

    async def _admitted_bulk(self, request: BulkRequest, caller: Caller) -> CheckedBulk:
        may_write(caller)
        self._maintenance.check_writable()
        items, all_or_nothing = request.items, request.all_or_nothing
        if len(items) > self._bulk_max_items:
            raise ValidationFailed(
                f"a bulk request holds at most {self._bulk_max_items} items",
                errors=[FieldProblem(request.root, f"at most {self._bulk_max_items} items")],
            )
        accepted: list[tuple[int, NewRecord]] = []
        rejected: list[RejectedItem] = []
        for index, raw in enumerate(items):
            root = f"{request.root}[{index}]"
            try:
                item = _item_decoder.decode(raw)
            except msgspec.ValidationError as exc:
                problem = field_problem(str(exc), root=root)
            else:
                payload = encode_payload(item.payload)
                if not isinstance(payload, FieldProblem):
                    accepted.append((index, NewRecord(item.user_id, payload)))
                    continue
                problem = FieldProblem(root + payload.path[1:], payload.message)
            rejected.append(RejectedItem(index=index, path=problem.path, reason=problem.message))
        if rejected and (all_or_nothing or not accepted):
            raise nothing_stored(rejected, all_or_nothing)
        users = sorted({item.user_id for _, item in accepted})
        for user_id in users:
            owner(caller, user_id)
        # Concurrent calls: with Redis, every user's token travels in one pipeline.
        keys = sorted({limit_key(caller, user_id) for user_id in users})
        for key, decision in zip(keys, await asyncio.gather(*map(self._limiter.admit, keys)), strict=True):
            self._decided(key, decision)
        if len(keys) > 1:  # the access line names every user charged, or says how many
            charge(",".join(keys) if len(keys) <= NAMED_USERS else f"many ({len(keys)} users)")
        return CheckedBulk(accepted, rejected, users, request)

    def _key(self, caller: Caller, key: str, fingerprint: str) -> IdempotencyKey:
        return IdempotencyKey(caller.actor, key, fingerprint, self._key_ttl)

    async def _settled(self, kept: KeptAnswer, fingerprint: str, users: Sequence[str]) -> KeptAnswer:
        if kept.fingerprint != fingerprint:
            raise IdempotencyKeyReused("this Idempotency-Key was used for a different request")
        if not kept.replayed:
            await asyncio.gather(*map(self._cache.invalidate_user, users))
        return kept

    async def update(
        self, record_id: str, patch: dict[str, Any], caller: Caller, *, if_match: Versions | None = None
    ) -> Record:
        """Apply a JSON Merge Patch (RFC 7396) to a record's payload. With `if_match`, only to
        one of those versions (else PreconditionFailed); without, to whatever version is
        current when the change is written (a change made meanwhile is merged, not lost)."""

        def patched(current: Record) -> bytes:
            encoded = encode_payload(merge_patch(msgspec.json.decode(current.payload), patch), "$")
            if not isinstance(encoded, FieldProblem) and len(encoded) > self._max_payload_bytes:
                encoded = FieldProblem(
                    "$",
                    f"the patched payload would hold {len(encoded)} bytes, over {self._max_payload_bytes}",
                )
            if isinstance(encoded, FieldProblem):
                raise ValidationFailed("the patched record cannot be stored", errors=[encoded])
            return encoded

        async def write(current: Record) -> Record | None:
            return await self._repository.update(current, patched(current), audit(caller))

        return await self._change(record_id, caller, if_match, write)

    async def delete(self, record_id: str, caller: Caller, *, if_match: Versions | None = None) -> None:
        """Delete a record; with `if_match`, only at one of those versions."""

        async def write(current: Record) -> Record | None:
            return current if await self._repository.delete(current, audit(caller)) else None

        await self._change(record_id, caller, if_match, write)

    async def _change(
        self,
        record_id: str,
        caller: Caller,
        if_match: Versions | None,
        write: Callable[[Record], Awaitable[Record | None]],
    ) -> Record:
        """Read, check, write only if the record is still as read; when it changed in between,
        read again and decide anew (a stale If-Match then fails, a missing record is 404)."""
        may_write(caller)
        self._maintenance.check_writable()
        for attempt in range(CHANGE_ATTEMPTS):
            current = await self._find(record_id, caller)
            if attempt == 0:
                await self._admit(limit_key(caller, current.user_id))
            if if_match is not None and not if_match.holds(current.version):
                raise PreconditionFailed(
                    f"the record is at version {current.version}, not one that If-Match names"
                )
            changed = await write(current)
            if changed is not None:
                await self._cache.invalidate_user(current.user_id)
                return changed
        raise StorageConflict("the record kept changing while this change was written; send it again")
