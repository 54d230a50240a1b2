"""Command line of the framework: ``python -m sanic_ms <command> ...`` (today: ``migrate``).

A command is a function that adds its subparser and sets ``run`` to its handler; add one to
``COMMANDS`` to grow the CLI. A handler returns the process exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from sanic_ms.migrations import cli as migrate_cli

COMMANDS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = [
    migrate_cli.add_migrate
]


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m sanic_ms", description=__doc__.splitlines()[0])
    commands = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(commands)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
