"""A timing wheel of lease ends: a tick looks at the leases about to end, not at every lease."""

from __future__ import annotations

from collections.abc import Callable


class TimingWheel:
    """Users by the tick their lease ends in; an entry whose lease moved to a later tick (it was
    renewed) or went away is skipped when its tick comes. An entry may also sit in a slot after
    its lease's end: one looked at again (below) because it had not quite ended."""

    def __init__(self, tick_seconds: float) -> None:
        self.tick_seconds = tick_seconds
        self._slots: dict[int, list[str]] = {}

    def slot(self, moment: float) -> int:
        return int(moment / self.tick_seconds)

    def add(self, user_id: str, ends: float) -> None:
        self._slots.setdefault(self.slot(ends), []).append(user_id)

    def sweep(self, now: float, ends_of: Callable[[str], float | None]) -> tuple[list[str], list[str]]:
        """The users whose leases have ended, and those whose leases end before the tick after
        next (worth renewing now); `ends_of` says when a user's lease ends now (None: gone).
        A lease that ends before the next tick is looked at again then."""
        this = self.slot(now)
        ended: list[str] = []
        soon: list[str] = []
        for slot in [s for s in self._slots if s <= this + 2]:
            users = self._slots.pop(slot) if slot <= this else self._slots[slot]
            for user_id in users:
                ends = ends_of(user_id)
                if ends is None or self.slot(ends) > slot:
                    continue  # gone, or renewed: its entry in a later slot speaks for it
                if ends <= now:
                    ended.append(user_id)
                elif slot <= this:
                    self._slots.setdefault(this + 1, []).append(user_id)
                else:
                    soon.append(user_id)
        return ended, soon

    def clear(self) -> None:
        self._slots.clear()
