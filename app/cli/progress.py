"""How far an import or an export has got, on standard error: a progress bar with rows/s and
the time left on a terminal (tqdm), a plain line every few seconds anywhere else (a log, CI).

The time left comes from what is known in advance: an input file's size, or the rows an export
will read.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, TextIO

import click
from tqdm import tqdm


@dataclass(slots=True)
class Counts:
    rows: int = 0
    stored: int = 0
    rejected: int = 0


class _Bar(tqdm):  # type: ignore[type-arg]
    """tqdm's bar with the rows' own figures in its line (`{rows}`)."""

    rows = ""

    @property
    def format_dict(self) -> dict[str, Any]:
        return {**super().format_dict, "rows": self.rows}


class Progress:
    """`advance(done)` after each batch; `done` counts bytes of the input (`unit="B"`) or rows."""

    def __init__(self, verb: str, total: int | None, unit: str, every: float, out: TextIO) -> None:
        self.verb, self.total, self.unit, self.every, self.out = verb, total, unit, every, out
        self.counts = Counts()
        self.started = self._shown = time.monotonic()
        self._done = 0
        self._bar: _Bar | None = None
        if out.isatty():
            self._bar = _Bar(
                total=total,
                unit=unit,
                unit_scale=True,
                unit_divisor=1024 if unit == "B" else 1000,
                desc=verb,
                file=out,
                mininterval=0.2,
                ncols=_width(out),
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {rows} [{elapsed}<{remaining}]"
                if total
                else "{desc}: {rows} [{elapsed}]",
            )

    def advance(self, done: int) -> None:
        """`done` is the total so far (bytes read or rows written)."""
        step, self._done = done - self._done, done
        now = time.monotonic()
        if self._bar is not None:
            self._bar.rows = self._rows(now)
            self._bar.update(step)
        elif self.every > 0 and now - self._shown >= self.every:
            self._shown = now
            click.echo(f"{self.verb}: {self._rows(now)}{self._share(now)}", file=self.out)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.rows = self._rows(time.monotonic())
            self._bar.close()
            self._bar = None

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def rate(self) -> float:
        return self.counts.rows / max(self.elapsed(), 1e-9)

    def _rows(self, now: float) -> str:
        counts = self.counts
        text = f"{counts.rows:,} rows"
        if counts.rejected:
            text += f" ({counts.stored:,} stored, {counts.rejected:,} rejected)"
        return text + f", {counts.rows / max(now - self.started, 1e-9):,.0f} rows/s"

    def _share(self, now: float) -> str:
        if not self.total or not self._done:
            return ""
        share = min(self._done / self.total, 1.0)
        left = (now - self.started) * (1 - share) / share
        return f", {share:.0%} done, about {_clock(left)} left"


def _width(out: TextIO) -> int | None:
    """The terminal's width; COLUMNS or 80 where it says 0 (a terminal nobody sized)."""
    try:
        columns = os.get_terminal_size(out.fileno()).columns
    except (OSError, ValueError):
        columns = 0
    return columns or int(os.environ.get("COLUMNS", "") or 80)


def _clock(seconds: float) -> str:
    whole = int(seconds + 0.5)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
