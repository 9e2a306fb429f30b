"""Command line: `python -m app migrate` applies the schema, `python -m app serve` serves."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from app.errors import ConfigError
from app.settings import Settings


def migrate(settings: Settings, optional: Sequence[str] = ()) -> list[int]:
    """Apply the dialect's pending migrations (and the optional ones named, e.g. V0101);
    returns the versions applied."""
    from app.adapters.db.sqlfiles import load_migrations

    migrations = load_migrations(settings.sql_dir, settings.database_dialect)
    if optional:
        chosen = {int(v.lstrip("Vv")) for v in optional}
        extra = [
            m
            for m in load_migrations(settings.sql_dir, settings.database_dialect, "optional")
            if m.version in chosen
        ]
        if len(extra) != len(chosen):
            raise ConfigError(f"no such optional migration among {sorted(optional)}")
        migrations = sorted([*migrations, *extra], key=lambda m: m.version)
    from app.adapters.db.dialects import DIALECTS
    from app.builders.storage import database_options

    return DIALECTS[settings.database_dialect].migrate(database_options(settings), migrations)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    parser.add_argument("command", choices=["serve", "migrate"])
    parser.add_argument(
        "--optional",
        action="append",
        default=[],
        metavar="VERSION",
        help="also apply this optional migration (e.g. V0101), Oracle only",
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.command == "migrate":
            applied = migrate(settings, args.optional)
            print(
                f"applied {len(applied)} migration(s)"
                + (f": {', '.join(f'V{v:04d}' for v in applied)}" if applied else "; schema is current")
            )
            return 0
        from app.server import serve

        serve(settings)
        return 0
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
