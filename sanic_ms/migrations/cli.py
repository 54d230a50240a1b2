"""``python -m sanic_ms migrate MODULE... [--status] [--dsn URL] [--json]``: the migrate command."""

from __future__ import annotations

import argparse
import json
import sys

from sanic_ms.dsn import mask

from .database import dsn_from_settings
from .errors import MigrationDefinitionError, MigrationError
from .runner import apply, discover, status

# Exit codes: 0 done, 1 a migration failed (rolled back), 2 bad usage or input.
OK, FAILED, USAGE = 0, 1, 2


def run(args: argparse.Namespace) -> int:
    """Apply (or with ``--status`` list) the migrations of ``args.modules``; the exit code."""
    try:
        classes = discover(args.modules)
        dsn: str = args.dsn or dsn_from_settings()
    except (ValueError, TypeError, RuntimeError, MigrationDefinitionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE
    if args.status:
        rows = status(classes, dsn)
        if args.json:
            print(json.dumps([row.to_dict() for row in rows], indent=2))
        else:
            for row in rows:
                print("\n".join(row.lines()))
        return OK
    try:
        report = apply(classes, dsn)
    except MigrationError as exc:
        if exc.report is not None:
            print(exc.report if not args.json else json.dumps(exc.report.to_dict()))
        print(f"error: {exc}", file=sys.stderr)
        return FAILED
    print(json.dumps(report.to_dict(), indent=2) if args.json else report)
    print(f"database: {mask(dsn)}", file=sys.stderr)
    return OK


def add_migrate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``migrate`` subcommand to ``commands`` (``ArgumentParser.add_subparsers()``)."""
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
    parser.add_argument("--dsn", help="PostgreSQL URL (default: the DATABASE_URL variable)")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.set_defaults(run=run)
