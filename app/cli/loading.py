"""An import's batches: cut from the rows, sent to POST /data/bulk two at a time (one stored
while the next travels), and settled in order: the rows the service refused go to the rejected
file, and `done` moves past a batch only once it and every batch before it are answered.

Each batch carries the Idempotency-Key `import-RUN-FIRSTROW-ITEMS`. Batches are cut the same
way from any starting row, so an import resumed with the interrupted one's run id, batch size
and `--skip done` sends the batches that were in flight again under their own keys: the service
replays the answer of one it had stored instead of storing it twice.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, TextIO

import msgspec

from app.cli.api import Api
from app.cli.common import CannotRun
from app.cli.progress import Progress
from app.cli.rows import Row

BATCH_BYTES = 4 * 1024 * 1024  # a batch's body stays under half the bulk body limit's default
_ITEM_AT = re.compile(r"^\$\.items\[(\d+)\]")


class Loader:
    """Loads rows through one connection per batch in flight (`len(apis)` of them)."""

    def __init__(self, apis: list[Api], run: str, batch: int, rejected_to: Path, progress: Progress) -> None:
        self.apis, self.run, self.batch, self.progress = apis, run, batch, progress
        self.rejected_to = rejected_to
        self.done = 0  # the last row of the last batch settled
        self._rejects: TextIO | None = None
        self._pool = ThreadPoolExecutor(len(apis), thread_name_prefix="import")
        self._sent = 0

    @property
    def waited(self) -> float:
        """Seconds spent waiting as the service asked (Retry-After)."""
        return sum(api.waited for api in self.apis)

    def load(self, rows: Iterator[Row], source: BinaryIO) -> None:
        flight: deque[tuple[list[Row], Future[dict[int, str]]]] = deque()
        for batch in self._batches(rows):
            if len(flight) == len(self.apis):
                self._settle(*flight.popleft(), source)
            flight.append((batch, self._send(batch)))
        while flight:
            self._settle(*flight.popleft(), source)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for api in self.apis:
            api.close()
        if self._rejects is not None:
            self._rejects.close()

    def _batches(self, rows: Iterator[Row]) -> Iterator[list[Row]]:
        pending: list[Row] = []
        size = items = 0
        for row in rows:
            pending.append(row)
            if row.item is not None:
                items += 1
                size += len(row.item) + 1
            if items >= self.batch or size >= BATCH_BYTES:
                yield pending
                pending, size, items = [], 0, 0
        if pending:
            yield pending

    def _send(self, rows: list[Row]) -> Future[dict[int, str]]:
        items = [row for row in rows if row.item is not None]
        api = self.apis[self._sent % len(self.apis)]  # free: the batch it last carried is settled
        self._sent += 1
        if not items:
            done: Future[dict[int, str]] = Future()
            done.set_result({})
            return done
        return self._pool.submit(self._stored, api, items)

    def _settle(self, rows: list[Row], answer: Future[dict[int, str]], source: BinaryIO) -> None:
        refused = answer.result()
        stored = 0
        for row in rows:
            reason = row.reason if row.item is None else refused.get(row.number)
            if reason is not None:
                self._reject(row, reason)
            elif row.item is not None:
                stored += 1
        counts = self.progress.counts
        counts.rows += len(rows)
        counts.stored += stored
        self.done = rows[-1].number
        self.progress.advance(_position(source))

    def _stored(self, api: Api, items: list[Row]) -> dict[int, str]:
        """Stores the items; the rows the service refused, with its reasons."""
        body = b'{"items":[' + b",".join(row.item or b"" for row in items) + b"]}"
        key = f"import-{self.run}-{items[0].number}-{len(items)}"
        answer = api.request("POST", "/data/bulk", body, Idempotency_Key=key)
        if answer.status in (201, 207):
            result = msgspec.json.decode(answer.body)
            return {items[r["index"]].number: r["reason"] for r in result.get("rejected", [])}
        if answer.status == 413 and len(items) > 1:  # the service's body limit is lower: halve
            half = len(items) // 2
            return {**self._stored(api, items[:half]), **self._stored(api, items[half:])}
        if answer.status == 422:
            refused = _refused(answer.body)
            if refused:
                return {items[i].number: reason for i, reason in refused.items() if i < len(items)}
        raise CannotRun(f"POST /data/bulk answered {answer.problem()}")

    def _reject(self, row: Row, reason: str) -> None:
        self.progress.counts.rejected += 1
        if self._rejects is None:
            self._rejects = self.rejected_to.open("a", encoding="utf-8")
        line = msgspec.json.encode({"row": row.number, "reason": reason, "input": row.text})
        self._rejects.write(line.decode() + "\n")


def _refused(body: bytes) -> dict[int, str]:
    """The items a 422 "nothing was stored" names, by index; empty for any other 422."""
    try:
        problem = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return {}
    refused: dict[int, str] = {}
    for error in problem.get("errors") or [] if isinstance(problem, dict) else []:
        found = _ITEM_AT.match(str(error.get("path", "")))
        if found:
            refused.setdefault(int(found.group(1)), str(error.get("message", "refused")))
    return refused


def _position(source: BinaryIO) -> int:
    try:
        return source.tell()
    except (OSError, ValueError):
        return 0
