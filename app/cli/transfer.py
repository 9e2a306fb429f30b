"""`import` and `export`: records into and out of a running service, through its API.

Both are clients of the service like any other: an import stores its rows through POST
/data/bulk in batches, so each row is checked, owned, audited, counted against the rate limit
and dropped from the caches exactly as a client's would be; an export streams GET
/data/export. They need the service's address (--url) and, with authentication on, a token.
"""

from __future__ import annotations

import os
import secrets
import shlex
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import BinaryIO, ParamSpec
from urllib.parse import urlencode

import click
import msgspec

from app.cli.api import Api
from app.cli.common import FOUND_SOMETHING, INTERRUPTED, CannotRun, settings_with
from app.cli.loading import Loader
from app.cli.progress import Progress
from app.cli.rows import Format, rows_of

P = ParamSpec("P")


def _address(url: str | None) -> str:
    if url:
        return url
    settings = settings_with()
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # noqa: S104
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.port}"


def _client_options(command: Callable[P, None]) -> Callable[P, None]:
    options = [
        click.option(
            "--url",
            envvar="DATA_SERVICE_URL",
            help="The service's address (DATA_SERVICE_URL; default: http://APP_HOST:APP_PORT).",
        ),
        click.option(
            "--token",
            envvar="DATA_SERVICE_TOKEN",
            help="A bearer token, when authentication is on (DATA_SERVICE_TOKEN).",
        ),
        click.option(
            "--progress-every",
            type=click.FloatRange(0),
            default=10.0,
            show_default=True,
            help="Seconds between progress lines when standard error is not a terminal (0: none).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _format_option(side: str) -> Callable[[Callable[P, None]], Callable[P, None]]:
    return click.option(
        "--format",
        "form",
        type=click.Choice(["ndjson", "csv"]),
        help=f"The {side}'s format, the export's own (default: csv for a .csv file, else ndjson).",
    )


@contextmanager
def _terminated_as_interrupt() -> Iterator[None]:
    """SIGINT (Ctrl-C) and SIGTERM (a container stopping) end the command with its resume line,
    even where the shell that started it ignores SIGINT (a background job)."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@click.command("import")
@click.argument("source", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@_format_option("input")
@click.option(
    "--batch", type=click.IntRange(1), help="Rows a request stores at most (default: APP_BULK_MAX_ITEMS)."
)
@click.option(
    "--rejected",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where rejected rows go, one JSON line each with its row number and reason "
    "(default: SOURCE.rejected.ndjson, or import.rejected.ndjson for standard input).",
)
@click.option(
    "--skip",
    type=click.IntRange(0),
    default=0,
    help="Rows already imported: the number an interrupted import printed.",
)
@click.option(
    "--run", "run_id", help="The interrupted import's run id, so that its last batch is not stored twice."
)
@_client_options
def import_(
    source: Path,
    form: Format | None,
    batch: int | None,
    rejected: Path | None,
    skip: int,
    run_id: str | None,
    url: str | None,
    token: str | None,
    progress_every: float,
) -> None:
    """Store the records of SOURCE (a file, or - for standard input) through the service's
    bulk path, in batches, with a progress bar; rows the service or the file's form refuse go
    to the rejected file with their reason. Exit code 1 when a row was rejected; interrupted,
    it says how to resume."""
    stdin = str(source) == "-"
    form = form or ("csv" if source.suffix.lower() == ".csv" else "ndjson")
    batch = batch or settings_with().bulk_max_items
    rejected = rejected or Path("import.rejected.ndjson" if stdin else f"{source}.rejected.ndjson")
    run = run_id or secrets.token_hex(6)
    api = Api(_address(url), token)
    with ExitStack() as stack:
        if stdin:
            stream: BinaryIO = sys.stdin.buffer
        else:
            try:
                stream = stack.enter_context(source.open("rb"))
            except OSError as exc:
                raise CannotRun(f"{source}: {exc.strerror}") from None
        total = None if stdin else os.fstat(stream.fileno()).st_size
        progress = Progress("import", total, "B", progress_every, sys.stderr)
        work = Loader([api, Api(api.url, token)], run, batch, rejected, progress)
        work.done = skip
        stack.callback(work.close)
        try:
            with _terminated_as_interrupt():
                work.load(rows_of(stream, form, skip), stream)
        except (KeyboardInterrupt, CannotRun, ValueError) as exc:
            progress.close()
            again = shlex.join(
                [
                    *("data-service", "import", str(source), "--format", form, "--batch", str(batch)),
                    *("--rejected", str(rejected), "--skip", str(work.done), "--run", run),
                ]
            )
            stopped = f"stopped after row {work.done:,}"
            if isinstance(exc, KeyboardInterrupt):
                click.echo(f"data-service: interrupted: {stopped}; to resume: {again}", err=True)
                raise click.exceptions.Exit(INTERRUPTED) from None
            raise CannotRun(f"{exc}; {stopped}; to resume: {again}") from None
        progress.close()
    counts = progress.counts
    elapsed = progress.elapsed()
    summary = (
        f"imported {counts.rows:,} rows in {elapsed:.1f} s ({progress.rate():,.0f} rows/s): "
        f"{counts.stored:,} stored, {counts.rejected:,} rejected"
    )
    if counts.rejected:
        summary += f" (their reasons are in {rejected})"
    if work.waited:
        summary += f"; waited {work.waited:.0f} s as the service asked (rate limit or overload)"
    click.echo(summary)
    if counts.rejected:
        sys.exit(FOUND_SOMETHING)


@click.command()
@click.option(
    "--user", "users", multiple=True, required=True, help="A user whose records to export (repeatable)."
)
@_format_option("output")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    default=Path("-"),
    help="The file to write (default: standard output).",
)
@click.option("--from", "created_from", help="Records created at or after this ISO-8601 moment.")
@click.option("--to", "created_to", help="Records created before this ISO-8601 moment.")
@click.option("--type", "kind", help="Records whose payload's type is this.")
@click.option("--status", help="Records whose payload's status is this.")
@_client_options
def export(
    users: Sequence[str],
    form: Format | None,
    output: Path,
    created_from: str | None,
    created_to: str | None,
    kind: str | None,
    status: str | None,
    url: str | None,
    token: str | None,
    progress_every: float,
) -> None:
    """Write the users' records, newest first for each user, as NDJSON or CSV (which `import`
    reads back), with progress on standard error."""
    to_stdout = str(output) == "-"
    form = form or ("csv" if output.suffix.lower() == ".csv" else "ndjson")
    accept = "text/csv" if form == "csv" else "application/x-ndjson"
    filters = {"from": created_from, "to": created_to, "type": kind, "status": status}
    api = Api(_address(url), token)
    with ExitStack() as stack:
        stack.callback(api.close)
        out: BinaryIO = sys.stdout.buffer if to_stdout else stack.enter_context(output.open("wb"))
        total = sum(_count(api, user, filters) for user in users)
        progress = Progress("export", total, "rows", progress_every, sys.stderr)
        try:
            with _terminated_as_interrupt():
                for number, user in enumerate(users):
                    query = urlencode({"user_id": user, **{k: v for k, v in filters.items() if v}})
                    with api.stream(f"/data/export?{query}", Accept=accept) as response:
                        _copy(response, out, progress, header=form == "csv", keep_header=number == 0)
        except KeyboardInterrupt:
            progress.close()
            click.echo(f"data-service: interrupted after {progress.counts.rows:,} rows", err=True)
            raise click.exceptions.Exit(INTERRUPTED) from None
        progress.close()
        out.flush()
    click.echo(
        f"exported {progress.counts.rows:,} rows of {len(users)} user(s) ({progress.rate():,.0f} rows/s)",
        err=True,
    )


def _count(api: Api, user: str, filters: dict[str, str | None]) -> int:
    query = urlencode({"user_id": user, "page_size": 1, **{k: v for k, v in filters.items() if v}})
    answer = api.request("GET", f"/data?{query}")
    if answer.status != 200:
        raise CannotRun(f"GET /data?{query} answered {answer.problem()}")
    return int(msgspec.json.decode(answer.body).get("total") or 0)


def _copy(source: BinaryIO, out: BinaryIO, progress: Progress, *, header: bool, keep_header: bool) -> None:
    """The export's body into `out`, counting rows by their line ends; a CSV header only once."""
    drop_header, count_header = header and not keep_header, header and keep_header
    while chunk := source.read(256 * 1024):
        if drop_header:
            end = chunk.find(b"\n")
            if end < 0:
                continue
            chunk, drop_header = chunk[end + 1 :], False
        out.write(chunk)
        lines = chunk.count(b"\n")
        if count_header and lines:
            lines, count_header = lines - 1, False
        progress.counts.rows += lines
        progress.advance(progress.counts.rows)
