"""What ``grader check`` can verify of a lab's README, starter files and tests agreeing.

- Each README task section ("## N.") names at least one function of the lab's starter files, and
  every function it names as code (```parse_multi(headers)```, ```Database.acquire(...)```) exists
  there: a README that drifts from the code it describes sends students looking for nothing.
- Every ``assert`` in the lab's tests says what went wrong (``assert x, "message"``): a bare assert
  or a raw dict diff leaves a student guessing. (``grader.labplugin`` adds the task to every
  failure; ``grader.mutants`` checks that each planted mistake fails with more than a bare assert.)
"""

from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path

from grader import manifest

SECTION = re.compile(r"^## (\d+)\. .*$", re.MULTILINE)
CODE = re.compile(r"`([^`\n]+)`")
# ``name(`` or ``Class.name(`` at the start of a code span: a call the README tells students about.
CALL = re.compile(r"^@?([A-Za-z_]\w*)(?:\.([A-Za-z_]\w*))?\(")
NAME = re.compile(r"^([A-Za-z_]\w*)(?:\.([A-Za-z_]\w*))?$")


def task_sections(readme: str) -> dict[int, str]:
    """README text per task number (from "## N." to the next "## ")."""
    sections = {}
    for match in SECTION.finditer(readme):
        end = readme.find("\n## ", match.end())
        sections[int(match.group(1))] = readme[match.end() : end if end != -1 else None]
    return sections


def defined_names(paths: list[Path]) -> tuple[set[str], dict[str, set[str]]]:
    """Functions, classes and imported names of these files; each class's own names."""
    names: set[str] = set()
    members: dict[str, set[str]] = {}
    for path in paths:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            if isinstance(node, ast.ClassDef):
                own = members.setdefault(node.name, set())
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        own.add(item.name)
                    elif isinstance(item, ast.Assign | ast.AnnAssign):
                        targets = item.targets if isinstance(item, ast.Assign) else [item.target]
                        own.update(t.id for t in targets if isinstance(t, ast.Name))
            elif isinstance(node, ast.Import | ast.ImportFrom):
                names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names, members


def readme_problems(lab: manifest.Lab, starter_folder: Path | None = None) -> list[str]:
    folder = starter_folder or lab.folder
    readme_path = lab.folder / "README.md"
    if not readme_path.is_file():
        return [f"lab {lab.id}: labs/{lab.id}/README.md is missing"]
    files = [folder / rel for rel in lab.files if (folder / rel).suffix == ".py"]
    names, members = defined_names([p for p in files if p.is_file()])
    # What the student writes (a decorator's inner ``mark``) is in the solution, not the starter.
    solution = [lab.solution_folder / rel for rel in lab.files]
    written, written_members = defined_names([p for p in solution if p.is_file()])
    known = names | written | set(dir(builtins))
    problems = []
    for number, text in task_sections(readme_path.read_text()).items():
        named, missing = set(), []
        for span in CODE.findall(text):
            span = span.strip()
            if plain := NAME.match(span):  # `parse_multi`, `Connection.fetch`: a mention
                named.add(plain.group(1) if plain.group(1) in names else plain.group(2) or "")
            call = CALL.match(span)
            if call is None:
                continue
            first, second = call.groups()
            if second is None:
                named.add(first)
                if first not in known:
                    missing.append(f"{first}()")
            elif first[0].isupper() and first in names:
                # Class.method: the class is ours, so the method must be too.
                named.add(first)
                own = members.get(first, set()) | written_members.get(first, set())
                if second not in own:
                    missing.append(f"{first}.{second}()")
        where = f"lab {lab.id} README task {number}"
        if not named & names:
            problems.append(f"{where}: names no function of {', '.join(lab.files)}")
        for name in sorted(set(missing)):
            problems.append(f"{where}: names {name}, which {', '.join(lab.files)} do not define")
    return problems


def bare_asserts(lab: manifest.Lab) -> list[str]:
    """``assert`` statements without a message in the lab's own tests."""
    problems = []
    for path in sorted((lab.folder / "tests").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Assert) and node.msg is None:
                rel = path.relative_to(lab.root)
                problems.append(
                    f"lab {lab.id}: {rel} line {node.lineno}: `assert` without a message "
                    "(say what is wrong and which task it is)"
                )
    return problems


def problems(lab: manifest.Lab) -> list[str]:
    return readme_problems(lab) + bare_asserts(lab)
