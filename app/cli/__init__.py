"""The `data-service` command (also `python -m app`).

Errors are one line on standard error. Exit codes: 0 done; 1 something was found (`migrate
--status` with an edited file, `check-sql` with a problem, `import` with rejected rows); 2 the
command could not run (a bad setting or option, a port in use, a database or service that
cannot be reached); 130 interrupted (`import` then says how to resume).
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from app import __version__
from app.cli.common import INTERRUPTED
from app.cli.operate import apply_migrations, check_sql, migrate, serve, token
from app.cli.transfer import export, import_

__all__ = ["apply_migrations", "cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="data-service")
def cli() -> None:
    """A REST service that stores JSON records per user. Settings are APP_* environment
    variables (README "Configuration")."""


for command in (serve, migrate, check_sql, token, import_, export):
    cli.add_command(command)


def main(argv: Sequence[str] | None = None) -> int:
    """The console script's entry point; returns the exit code."""
    try:
        # Not standalone, click answers an Exit raised inside a command with its code.
        code = cli.main(
            args=list(argv) if argv is not None else None, prog_name="data-service", standalone_mode=False
        )
    except click.exceptions.Exit as done:
        return int(done.exit_code or 0)
    except click.ClickException as exc:
        click.echo(f"data-service: {exc.format_message()}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        return INTERRUPTED
    return code if isinstance(code, int) else 0
