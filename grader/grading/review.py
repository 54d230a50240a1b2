"""Read a student's editable files as syntax trees and list, by line, what an instructor should see.

Flagged, unless the lab's own starter or solution does the same: an import outside theirs and a
small standard-library allowlist (the lab's reference module above all: ``sanic_ms.db`` for
``db.py``); dynamic import (``__import__``, ``importlib``); ``exec`` / ``eval`` / ``compile``;
file access outside the workspace (an absolute, ``~`` or ``..`` path handed to a file function, or
any string naming ``solutions``); reaching into other code's state (``__closure__``,
``__globals__``, ``__code__``, frames, ``gc``, ``ctypes``, ``sys.modules``, ``__subclasses__``,
``__builtins__``, raw descriptors); pytest's internals (``_pytest``, ``pluggy``, the grader's
harness). The review never runs the code. A "review" flag does not change the score unless the
grader runs with ``--strict``, which scores the lab of a flagged file 0 (:func:`zero`).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

# Standard-library modules a lab file may always import: plain data, text, time and async tools.
STDLIB_ALLOWED = frozenset(
    {
        "__future__", "abc", "asyncio", "base64", "bisect", "collections", "contextlib",
        "contextvars", "copy", "dataclasses", "datetime", "decimal", "enum", "functools",
        "hashlib", "heapq", "hmac", "http", "itertools", "json", "logging", "math", "numbers",
        "operator", "random", "re", "secrets", "statistics", "string", "textwrap", "time",
        "types", "typing", "typing_extensions", "urllib", "uuid", "warnings", "zoneinfo",
    }
)  # fmt: skip
# The repository's own packages: a name from them must be one the starter or solution imports.
PROJECT = frozenset({"sanic_ms", "examples", "grader", "bench", "labs", "solutions", "notebooks"})
INTERNALS = frozenset({"_pytest", "pluggy", "_grader_harness", "ctypes", "gc", "importlib"})
NAMES = {
    "__import__": "dynamic import (__import__)",
    "import_module": "dynamic import (import_module)",
    "exec": "exec()",
    "eval": "eval()",
    "compile": "compile()",
    "__closure__": "reads a function's closure (__closure__)",
    "__globals__": "reads a function's globals (__globals__)",
    "__code__": "reads or replaces code objects (__code__)",
    "__builtins__": "reaches the builtins (__builtins__)",
    "__subclasses__": "walks the class tree (__subclasses__)",
    "_getframe": "reads the call stack (sys._getframe)",
    "_current_frames": "reads other threads' stacks (sys._current_frames)",
    "f_back": "walks the call stack (f_back)",
    "f_locals": "reads a frame's variables (f_locals)",
    "f_globals": "reads a frame's globals (f_globals)",
    "cell_contents": "reads or replaces closure cells (cell_contents)",
    "get_objects": "walks every object (gc.get_objects)",
    "get_referrers": "walks references (gc.get_referrers)",
    "pluginmanager": "pytest's plugin manager (pytest internals)",
    "hookimpl": "a pytest hook (pytest internals)",
    "TestReport": "pytest's report class (pytest internals)",
    "GRADER_HARNESS": "the grader's harness",
    "_exit": "os._exit",
    "dup2": "replaces file descriptors (os.dup2)",
}
FILE_CALLS = frozenset(
    {
        "open", "Path", "PurePath", "PosixPath", "listdir", "scandir", "walk", "stat", "lstat",
        "remove", "unlink", "rmtree", "copy", "copyfile", "copytree", "glob", "iglob", "chdir",
        "readlink", "symlink", "rename", "replace", "makedirs", "mkdir", "rmdir", "access",
        "exists", "isfile", "isdir", "read_text", "read_bytes", "write_text", "write_bytes",
        "fdopen", "popen", "system", "spawnl", "execv", "execve", "Popen", "run", "check_output",
    }
)  # fmt: skip
OUTSIDE = re.compile(r"^(/|~)|(^|/)\.\.(/|$)")
STRINGS = {
    "solutions": "names the solutions folder",
    "_pytest": "names pytest's internals",
    "pluggy": "names pytest's internals",
    "_grader_harness": "names the grader's harness",
    "GRADER_HARNESS": "names the grader's harness",
    "/proc": "reads /proc",
}


@dataclass(frozen=True)
class Finding:
    path: str  # labs/NN/<file>
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path} line {self.line}: {self.what}"


def _imports(tree: ast.AST) -> list[tuple[int, str, str]]:
    """(line, module, dotted name) of every import; ``from m import n`` gives (m, m.n)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            found += [(node.lineno, module, f"{module}.{alias.name}") for alias in node.names]
    return found


def _call_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _strings(node: ast.AST) -> list[str]:
    return [
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]


def _features(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, what) for every construct the review knows, imports aside."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in NAMES:
            found.append((node.lineno, NAMES[node.id]))
        elif isinstance(node, ast.Attribute):
            if node.attr in NAMES:
                found.append((node.lineno, NAMES[node.attr]))
            if (
                node.attr == "modules"
                and isinstance(node.value, ast.Name)
                and node.value.id == "sys"
            ):
                found.append((node.lineno, "reaches loaded modules (sys.modules)"))
            if isinstance(node.value, ast.Name) and node.value.id in INTERNALS:
                found.append((node.lineno, f"uses {node.value.id}"))
        elif isinstance(node, ast.Call) and _call_name(node) in FILE_CALLS:
            for text in (s for arg in [*node.args, *node.keywords] for s in _strings(arg)):
                if OUTSIDE.search(text):
                    found.append(
                        (node.lineno, f"file access outside the workspace ({text[:60]!r})")
                    )
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            for needle, what in STRINGS.items():
                if needle in node.value:
                    found.append((node.lineno, what))
    return found


def _allowed_import(module: str, dotted: str, known: set[str], reference: str) -> bool:
    if reference in (module, dotted) or dotted.startswith(reference + "."):
        return dotted in known  # the piece the student should have written
    if module.startswith("."):
        return dotted in known
    top = module.split(".")[0]
    if top in INTERNALS or top in PROJECT:
        return module in known or dotted in known
    if top in STDLIB_ALLOWED:
        return True
    return top in {k.split(".")[0] for k in known if not k.startswith(".")}


def review_file(path: str, source: bytes, reference: str, *known_sources: bytes) -> list[Finding]:
    """What in ``source`` (a student's file) deserves a look; ``known_sources``: starter, solution."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []  # the tests report it; nothing ran that could have cheated
    known_imports: set[str] = set()
    known_features: set[str] = set()
    for other in known_sources:
        try:
            other_tree = ast.parse(other)
        except (SyntaxError, ValueError):
            continue
        for _, module, dotted in _imports(other_tree):
            known_imports |= {module, dotted}
        known_features |= {what for _, what in _features(other_tree)}
    findings = []
    for line, module, dotted in _imports(tree):
        if not _allowed_import(module, dotted, known_imports, reference):
            name = dotted if module != dotted else module
            why = " (the module this file rebuilds)" if reference in (module, dotted) else ""
            findings.append(Finding(path, line, f"imports {name}{why}, which the lab does not use"))
    findings += [
        Finding(path, line, what) for line, what in _features(tree) if what not in known_features
    ]
    return sorted(set(findings), key=lambda f: (f.line, f.what))


def review(lab, editable: dict[str, bytes], starter: dict[str, bytes], solution: dict[str, bytes]):
    """Every finding in a lab's editable files (``lab``: a ``grader.manifest.Lab``)."""
    findings = []
    for rel, data in editable.items():
        reference = lab.files[rel].removesuffix(".py").replace("/", ".")
        findings += review_file(
            f"labs/{lab.id}/{rel}", data, reference, starter.get(rel, b""), solution.get(rel, b"")
        )
    return findings


def zero(lab_result, findings: list[Finding]) -> None:
    """``--strict``: the lab of a flagged file scores 0; the student is told which lines."""
    for task in lab_result.tasks:
        task.score = 0.0
        for test in task.tests:
            test.score = 0.0
    lab_result.score = 0.0
    lines = "; ".join(str(f) for f in findings[:5])
    lab_result.notes.append(
        f"This lab scored 0: the grader does not accept these constructs here: {lines}."
    )
