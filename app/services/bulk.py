"""A bulk request as checked before the database, and what became of each of its items."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec

from app.errors import FieldProblem, ValidationFailed
from app.ports.storage import BulkOutcome, NewRecord
from app.schemas.records import BulkResult, RejectedItem, StoredItem


@dataclass(frozen=True, slots=True)
class BulkRequest:
    """The items of a bulk request, each its own JSON text, and where they sit in the body
    (`$.items` in the envelope, `$` for a bare array) for the paths of the answer."""

    items: Sequence[msgspec.Raw]
    all_or_nothing: bool = False
    root: str = "$.items"


@dataclass(frozen=True, slots=True)
class CheckedBulk:
    """The items the service accepted (with their index in the request) and those it rejected;
    `records` are the accepted ones alone, in order, built once (a stored row's index is an
    index into them)."""

    accepted: list[tuple[int, NewRecord]]
    rejected: list[RejectedItem]
    users: list[str]
    request: BulkRequest
    records: list[NewRecord] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "records", [record for _, record in self.accepted])

    def result(self, outcome: BulkOutcome) -> BulkResult:
        """What became of each item once the database has stored or refused the accepted ones;
        ValidationFailed when none was stored."""
        accepted = self.accepted
        stored = [StoredItem(index=accepted[i][0], id=record_id) for i, record_id in outcome.stored.items()]
        rejected = list(self.rejected)
        for row in outcome.refused:
            index = accepted[row.index][0]
            rejected.append(
                RejectedItem(index=index, path=f"{self.request.root}[{index}]", reason=row.reason)
            )
        rejected.sort(key=lambda r: r.index)
        if not stored:
            raise nothing_stored(rejected, self.request.all_or_nothing)
        return BulkResult(stored=sorted(stored, key=lambda s: s.index), rejected=rejected)


def nothing_stored(rejected: list[RejectedItem], all_or_nothing: bool) -> ValidationFailed:
    why = "all_or_nothing was set and an item is invalid" if all_or_nothing else "no item is valid"
    return ValidationFailed(
        f"nothing was stored: {why}", errors=[FieldProblem(r.path, r.reason) for r in rejected]
    )
