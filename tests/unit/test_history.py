"""Which history of the database the page cache belongs to (services/history.py), against a
stand-in repository that answers what a test says."""

from __future__ import annotations

import pytest

from app.errors import StorageUnavailable
from app.services.history import History

pytestmark = pytest.mark.anyio


class Answers:
    """history() answers the next of `answers`; an exception is raised."""

    def __init__(self, *answers: object) -> None:
        self._answers = list(answers)

    async def history(self) -> str | None:
        answer = self._answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]


async def test_pages_are_keyed_by_the_history_seen_and_move_to_a_new_one_when_it_changes() -> None:
    history = History(Answers("42:00000001", "42:00000001", "42:00000002"))  # type: ignore[arg-type]
    before = history.key("page")

    await history.look()
    first = history.key("page")
    await history.look()
    same = history.key("page")
    await history.look()
    restored = history.key("page")

    assert before == "page"  # not seen yet: keyed as ever
    assert first == same == "42:00000001|page"
    assert restored == "42:00000002|page" and history.changes == 1  # the first sight is no change


async def test_a_database_that_does_not_answer_or_cannot_tell_changes_nothing() -> None:
    history = History(Answers("7:00000003", StorageUnavailable("down"), None, TimeoutError()))  # type: ignore[arg-type]
    await history.look()
    for _ in range(3):
        await history.look()

    assert history.key("page") == "7:00000003|page" and history.changes == 0
