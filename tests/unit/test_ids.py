"""Record ids: UUIDv7, and what an id tells of when its record was created."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from app.adapters.db.ids import CLOCK_WINDOW, created_window, made_at, new_id


def test_new_ids_are_uuidv7_each_later_than_the_last() -> None:
    ids = [new_id() for _ in range(2000)]

    assert {uuid.UUID(i).version for i in ids} == {7}
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_an_id_tells_the_millisecond_it_was_made() -> None:
    before = datetime.now(UTC)
    moment = made_at(new_id())
    after = datetime.now(UTC)

    assert moment is not None
    assert before - timedelta(milliseconds=1) <= moment <= after


def test_the_window_is_centred_on_the_ids_moment() -> None:
    record_id = "017f22e2-79b0-7cc3-98c4-dc0c0c07398f"  # RFC 9562's example (appendix A.6)
    moment = datetime(2022, 2, 22, 19, 22, 22, tzinfo=UTC)  # "2:22:22.00 PM GMT-05:00"

    assert made_at(record_id) == moment
    assert created_window(record_id) == (moment - CLOCK_WINDOW, moment + CLOCK_WINDOW)
    assert made_at(record_id.replace("-", "").upper()) == moment  # Oracle's form of an id


def test_ids_that_carry_no_time_tell_nothing() -> None:
    for record_id in (str(uuid.uuid4()), uuid.uuid4().hex.upper(), "not-an-id", ""):
        assert made_at(record_id) is None
        assert created_window(record_id) is None
