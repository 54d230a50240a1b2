"""Generate every lab's starter and solution files from their one source, or check for drift.

The source of a lab file is a module of the reference framework (``sanic_ms/db.py`` ...) or, for
lab 00, the load-test app; ``labs/manifest.toml`` maps each file a student edits to its source.
In the source, the code a student writes sits between two comments::

    async def acquire(self):
        # BEGIN SOLUTION task 1: take a connection from the pool, give it back afterwards
        async with self.pool.acquire() as conn:
            yield conn
        # END SOLUTION

``solutions/NN/<file>`` is the source without the marker lines. ``labs/NN/<file>`` has each block
replaced by ``raise NotImplementedError("TODO task 1: take a connection ...")`` at the block's
indentation. Blocks must sit inside a function body, so a starter always imports cleanly. A block
containing ``yield`` leaves an unreachable ``yield`` behind so the function stays a generator (a
``@contextmanager`` on a plain function would fail in a confusing way). Relative imports become
absolute (``from .errors`` -> ``from sanic_ms.errors``): the lab file lives outside the package.

The notebooks are generated here too (``grader.build_notebooks``, from ``notebooks/src/``).

Entry points (named for ``grader/__main__.py``): ``main_build(argv)`` for
``python -m grader build [--check]`` (the labs' files and the notebooks); ``build(check: bool) ->
list[str]`` returns the labs' problems (drifted or missing files, malformed markers).
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from grader import build_notebooks, manifest

REPO_ROOT = manifest.REPO_ROOT

BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION task (?P<task>\d+)\s*(?::\s*(?P<todo>.*))?$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
RELATIVE_IMPORT = re.compile(r"^(?P<indent>\s*)from (?P<dots>\.+)(?P<rest>[\w.]*) import ")
LINE_LENGTH = 100  # ruff's line-length (pyproject.toml): long stubs are wrapped the way it would


class MarkerError(ValueError):
    """A source file whose solution markers are unbalanced or misplaced."""


@dataclass(frozen=True)
class Generated:
    """The two files one source produces."""

    starter: str
    solution: str
    tasks: frozenset[int]  # the task numbers that have a block in this file


def _absolute_imports(line: str, package: str) -> str:
    """``from .x import y`` -> ``from sanic_ms.x import y`` for a module of ``package``."""
    match = RELATIVE_IMPORT.match(line)
    if not match:
        return line
    parts = package.split(".")
    up = len(match["dots"]) - 1
    base = parts[: len(parts) - up] if up else parts
    target = ".".join([*base, match["rest"]] if match["rest"] else base)
    return f"{match['indent']}from {target} import {line[match.end() :]}"


def _stub(indent: str, task: int, todo: str, generator: bool) -> list[str]:
    message = f"TODO task {task}: {todo}".replace("\\", "\\\\").replace('"', '\\"')
    one_line = f'{indent}raise NotImplementedError("{message}")'
    if len(one_line) <= LINE_LENGTH:
        lines = [one_line]
    else:
        lines = [f"{indent}raise NotImplementedError(", f'{indent}    "{message}"', f"{indent})"]
    if generator:
        lines.append(f"{indent}yield  # unreachable: keeps this function a generator")
    return lines


def generate(source: str, package: str, titles: dict[int, str] | None = None) -> Generated:
    """The starter and solution text for one source file (``package``: its Python package)."""
    titles = titles or {}
    starter: list[str] = []
    solution: list[str] = []
    tasks: set[int] = set()
    block: list[str] | None = None
    opened = None
    for number, raw in enumerate(source.splitlines(), start=1):
        line = _absolute_imports(raw, package) if package else raw
        if begin := BEGIN.match(line):
            if block is not None:
                raise MarkerError(f"line {number}: BEGIN SOLUTION inside another block")
            if not begin["indent"]:
                raise MarkerError(f"line {number}: a solution block must be inside a function")
            task = int(begin["task"])
            todo = (begin["todo"] or "").strip() or titles.get(task, "write this part")
            block, opened = [], (number, begin["indent"], task, todo)
            tasks.add(task)
        elif END.match(line):
            if block is None:
                raise MarkerError(f"line {number}: END SOLUTION without BEGIN")
            _, indent, task, todo = opened
            generator = any(re.search(r"\byield\b", b.split("#")[0]) for b in block)
            starter.extend(_stub(indent, task, todo, generator))
            block = None
        else:
            solution.append(line)
            if block is None:
                starter.append(line)
            else:
                block.append(line)
    if block is not None:
        raise MarkerError(f"line {opened[0]}: BEGIN SOLUTION never closed")
    starter_text = "\n".join(starter) + "\n"
    _stubs_inside_functions(starter_text)
    return Generated(starter_text, "\n".join(solution) + "\n", frozenset(tasks))


def _stubs_inside_functions(text: str) -> None:
    """A stub at module or class level would make the starter fail at import time."""
    tree = ast.parse(text)
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            inside.update(id(child) for child in ast.walk(node))
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and id(node) not in inside:
            text_of = ast.unparse(node)
            if "TODO task" in text_of:
                raise MarkerError(f"line {node.lineno}: a solution block is not inside a function")


def _package_of(source: str) -> str:
    """``sanic_ms/middleware/cors.py`` -> ``sanic_ms.middleware``; '' for files outside packages."""
    parts = Path(source).parts[:-1]
    if parts and (REPO_ROOT.joinpath(*parts) / "__init__.py").exists():
        return ".".join(parts)
    return ""


def _header(lab: manifest.Lab, source: str, starter: bool) -> str:
    if starter:
        return (
            f"# Lab {lab.id} ({lab.title}): your copy of {source}. Replace each\n"
            f'# `raise NotImplementedError("TODO task N ...")` with working code; the tasks are\n'
            f"# explained in labs/{lab.id}/README.md. Generated by `python -m grader build`.\n"
            "# ruff: noqa: F401, F821, F841\n"
        )
    return (
        f"# Lab {lab.id} ({lab.title}): the finished {source}.\n"
        "# Generated by `python -m grader build` from that file; edit the source, not this copy.\n"
    )


def expected_files(labs: dict[str, manifest.Lab] | None = None) -> dict[Path, str]:
    """Every generated path -> the text ``build`` writes there."""
    labs = labs if labs is not None else manifest.load()
    out: dict[Path, str] = {}
    for lab in labs.values():
        titles = {t.number: t.title for t in lab.tasks}
        for target, source in lab.files.items():
            path = REPO_ROOT / source
            try:
                made = generate(path.read_text(), _package_of(source), titles)
            except MarkerError as exc:
                raise MarkerError(f"{source}: {exc}") from None
            out[lab.folder / target] = _header(lab, source, True) + made.starter
            out[lab.solution_folder / target] = _header(lab, source, False) + made.solution
    return out


def markers(lab: manifest.Lab) -> dict[str, frozenset[int]]:
    """For each file of the lab, the task numbers its source marks."""
    titles = {t.number: t.title for t in lab.tasks}
    return {
        target: generate((REPO_ROOT / source).read_text(), _package_of(source), titles).tasks
        for target, source in lab.files.items()
    }


def build(check: bool = False) -> list[str]:
    """Write (or with ``check``, compare) every generated file; return the problems found."""
    problems: list[str] = []
    try:
        labs = manifest.load()
    except (OSError, KeyError, ValueError) as exc:
        return [f"labs/manifest.toml: {exc}"]
    for lab in labs.values():
        for source in lab.files.values():
            if not (REPO_ROOT / source).exists():
                problems.append(f"lab {lab.id}: source {source} does not exist")
    if problems:
        return problems
    try:
        files = expected_files(labs)
    except MarkerError as exc:
        return [str(exc)]
    for path, text in files.items():
        rel = path.relative_to(REPO_ROOT)
        if check:
            if not path.exists():
                problems.append(f"{rel}: missing (run `python -m grader build`)")
            elif path.read_text() != text:
                problems.append(f"{rel}: differs from its source (run `python -m grader build`)")
        elif not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    return problems


def main_build(argv: list[str] | None = None) -> int:
    """``python -m grader build [--check]``: exit status 1 and a list when something drifted."""
    parser = argparse.ArgumentParser(prog="python -m grader build", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare only; write nothing")
    args = parser.parse_args(argv)
    problems = build(check=args.check) + build_notebooks.build(check=args.check)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print("starters, solutions and notebooks match their sources" if args.check else "built")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main_build())
