"""What every command shares: its settings, and its exit codes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import click

from app.errors import ConfigError
from app.settings import Settings

CANNOT_RUN = 2
FOUND_SOMETHING = 1
INTERRUPTED = 130


class CannotRun(click.ClickException):
    """The command could not run: one line, exit code 2."""

    exit_code = CANNOT_RUN


def settings_with(**overrides: Any) -> Settings:
    """The APP_* settings, with the options a person typed (those not None) over them."""
    try:
        settings = Settings.from_env()
        chosen = {name: value for name, value in overrides.items() if value is not None}
        return replace(settings, **chosen) if chosen else settings
    except ConfigError as exc:
        raise CannotRun(f"configuration error: {exc}") from None
