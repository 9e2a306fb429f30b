"""Idempotent writes, in every dialect: the records and the kept answer in one transaction."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from app.errors import ValidationFailed
from app.ports.storage import Answer, BulkOutcome, IdempotencyKey, RecordQuery, RecordRepository
from app.schemas.records import Record
from tests.contract.test_repository import AUDIT, new

pytestmark = pytest.mark.anyio


def key(
    name: str = "k1", *, scope: str = "tester", fingerprint: str = "f" * 64, ttl: int = 3600
) -> IdempotencyKey:
    return IdempotencyKey(scope, name, fingerprint, ttl)


def answer_with_id(record: Record) -> Answer:
    return Answer(201, msgspec.json.encode(record))


async def count(repository: RecordRepository, user_id: str = "alice") -> int | None:
    return (await repository.get_by_user(RecordQuery(user_id, limit=1), with_total=True))[1]


async def test_a_second_request_with_the_key_gets_the_first_answer_and_stores_nothing(
    repository: RecordRepository,
) -> None:
    first = await repository.create_once(key(), new(n=1), AUDIT, answer_with_id)
    second = await repository.create_once(key(), new(n=1), AUDIT, answer_with_id)

    assert not first.replayed and second.replayed
    assert second.answer == first.answer and second.fingerprint == "f" * 64
    stored = msgspec.json.decode(first.answer.body)
    assert await count(repository) == 1 and await repository.get_by_id(stored["id"]) is not None


async def test_the_kept_answer_carries_the_first_requests_fingerprint(repository: RecordRepository) -> None:
    await repository.create_once(key(), new(n=1), AUDIT, answer_with_id)

    other = await repository.create_once(key(fingerprint="0" * 64), new(n=2), AUDIT, answer_with_id)

    assert other.replayed and other.fingerprint == "f" * 64  # the service answers 422 from this
    assert await count(repository) == 1


async def test_keys_are_kept_per_caller(repository: RecordRepository) -> None:
    mine = await repository.create_once(key(scope="alice"), new(n=1), AUDIT, answer_with_id)
    theirs = await repository.create_once(key(scope="bob"), new(n=1), AUDIT, answer_with_id)

    assert not mine.replayed and not theirs.replayed and mine.answer != theirs.answer
    assert await count(repository) == 2


async def test_an_answer_that_fails_rolls_back_the_records_and_leaves_the_key_free(
    repository: RecordRepository,
) -> None:
    def refuse(_: Record) -> Answer:
        raise ValidationFailed("no")

    with pytest.raises(ValidationFailed):
        await repository.create_once(key(), new(n=1), AUDIT, refuse)
    retried = await repository.create_once(key(), new(n=1), AUDIT, answer_with_id)

    assert not retried.replayed and await count(repository) == 1


async def test_an_expired_key_is_taken_over_and_purged(repository: RecordRepository) -> None:
    await repository.create_once(key("old", ttl=1), new(n=1), AUDIT, answer_with_id)
    await repository.create_once(key("gone", ttl=1), new(n=2), AUDIT, answer_with_id)
    await repository.create_once(key("kept"), new(n=3), AUDIT, answer_with_id)
    await asyncio.sleep(1.1)

    again = await repository.create_once(key("old"), new(n=4), AUDIT, answer_with_id)
    purged = await repository.purge_answers(100)

    assert not again.replayed and await count(repository) == 4
    assert purged == 1  # "gone"; "old" was taken over, "kept" has not expired
    assert (await repository.create_once(key("kept"), new(n=5), AUDIT, answer_with_id)).replayed


async def test_a_bulk_write_keeps_its_answer_with_the_refused_rows(repository: RecordRepository) -> None:
    seen: list[BulkOutcome] = []

    def respond(outcome: BulkOutcome) -> Answer:
        seen.append(outcome)
        return Answer(207, msgspec.json.encode({"stored": sorted(outcome.stored)}))

    rows = [new(n=0), new("x" * 101, n=1), new(n=2)]  # the database refuses a 101-character user
    first = await repository.create_many_once(key(), rows, all_or_nothing=False, audit=AUDIT, respond=respond)
    second = await repository.create_many_once(
        key(), rows, all_or_nothing=False, audit=AUDIT, respond=respond
    )

    assert sorted(seen[0].stored) == [0, 2] and [r.index for r in seen[0].refused] == [1]
    assert second.replayed and second.answer == first.answer == Answer(207, b'{"stored":[0,2]}')
    assert await count(repository) == 2  # the second's own rows were rolled back with its answer


async def test_all_or_nothing_with_a_refused_row_tells_the_answer_nothing_was_stored(
    repository: RecordRepository,
) -> None:
    def respond(outcome: BulkOutcome) -> Answer:
        if not outcome.stored:
            raise ValidationFailed("nothing was stored")
        return Answer(201, b"{}")

    with pytest.raises(ValidationFailed):
        await repository.create_many_once(
            key(), [new(n=0), new("x" * 101)], all_or_nothing=True, audit=AUDIT, respond=respond
        )

    assert await count(repository) == 0


async def test_concurrent_requests_with_one_key_store_one_record(repository: RecordRepository) -> None:
    answers = await asyncio.gather(
        *(repository.create_once(key(), new(n=1), AUDIT, answer_with_id) for _ in range(20)),
        return_exceptions=True,
    )

    kept = [a for a in answers if not isinstance(a, BaseException)]
    assert [a.replayed for a in kept].count(False) == 1
    assert len({a.answer for a in kept}) == 1
    assert all(getattr(a, "status", None) == 409 for a in answers if isinstance(a, BaseException))
    assert await count(repository) == 1
