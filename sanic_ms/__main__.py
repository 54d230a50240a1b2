"""Command line of the framework: ``python -m sanic_ms <command> ...`` (today: ``migrate``).

A command is a function that adds its subparser and sets ``run`` to its handler; add one to
``COMMANDS`` to grow the CLI. A handler returns the process exit code.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

# Exit codes: 0 done, 1 a migration failed (rolled back), 2 bad usage or input.
OK, FAILED, USAGE = 0, 1, 2


def _migrate(args: argparse.Namespace) -> int:
    from sanic_ms import migrations
    from sanic_ms.dsn import MissingDatabaseURL, database_url, mask

    try:
        dsn = args.dsn or database_url("python -m sanic_ms migrate", "or pass --dsn URL")
    except MissingDatabaseURL as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE
    try:
        classes = migrations.discover(args.modules)
    except (ValueError, TypeError, migrations.MigrationDefinitionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE
    if args.status:
        rows = migrations.status(classes, dsn)
        if args.json:
            print(json.dumps([row.to_dict() for row in rows], indent=2))
        else:
            for row in rows:
                print("\n".join(row.lines()))
        return OK
    try:
        report = migrations.apply(classes, dsn)
    except migrations.MigrationError as exc:
        if exc.report is not None:
            print(exc.report if not args.json else json.dumps(exc.report.to_dict()))
        print(f"error: {exc}", file=sys.stderr)
        return FAILED
    print(json.dumps(report.to_dict(), indent=2) if args.json else report)
    if args.dsn:
        print(f"database: {mask(args.dsn)}", file=sys.stderr)
    return OK


def add_migrate(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "migrate",
        help="create tables and apply pending migrations",
        description="Create absent tables, then apply the pending versions of every "
        "MigrationModel in MODULE, each in its own transaction, under an advisory lock.",
    )
    parser.add_argument(
        "modules",
        nargs="+",
        metavar="MODULE",
        help="dotted module (examples.users.migrations), service package (examples.users) "
        "or path to a .py file",
    )
    parser.add_argument(
        "--status", action="store_true", help="list applied and pending versions; change nothing"
    )
    parser.add_argument("--dsn", help="PostgreSQL URL (default: DATABASE_URL)")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.set_defaults(run=_migrate)


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [add_migrate]


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m sanic_ms", description=__doc__.splitlines()[0])
    commands = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(commands)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
