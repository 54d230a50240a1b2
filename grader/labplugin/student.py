"""How a lab test reaches the student's code (the seam): load the student's file, plug it in.

``labs/manifest.toml`` lists, per lab, the files a student edits and the module each one rebuilds
(``db.py`` -> ``sanic_ms/db.py``). A test never imports the student's file by name. It asks the
``student`` fixture:

- ``student.load("db.py")`` executes ``labs/01/db.py`` (or ``solutions/01/db.py`` when pytest runs
  with ``--solution``) as a fresh private module (``_lab01_db``) and returns it;
- ``student.plug("db.py")`` loads it the same way, then makes the reference framework use it for the
  rest of the test: ``sys.modules["sanic_ms.db"]`` becomes the student's module, and every name in an
  imported ``sanic_ms`` / ``examples`` module that pointed at the reference module or at something
  defined in it (``from sanic_ms.db import Database``) points at the student's version instead.
  Everything is restored when the test ends (``monkeypatch``). An app the test then builds with
  ``sanic_ms.create_app`` is the reference app with only the student's piece swapped in, so a
  student stuck in lab 01 can still do lab 03.

The notebooks (``grader.notebook``) plug the student's code through the same ``Student``.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import importlib.util
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from grader import manifest
from grader.labplugin.context import PLANTED, REPO_ROOT, lab_of


def _describe_import_failure(path: Path, exc: BaseException) -> str:
    rel = path.relative_to(REPO_ROOT)
    if isinstance(exc, SyntaxError):
        return (
            f"Python cannot read {rel}: {exc.msg} on line {exc.lineno}.\n"
            f"    {(exc.text or '').rstrip()}\n"
            "Fix that line first: no test of this lab can run until the file loads."
        )
    if isinstance(exc, ImportError):
        return (
            f"{rel} could not be loaded because one of its imports failed: {exc}.\n"
            "Check the `import` lines at the top of the file: the lab files import the finished "
            "framework (`from sanic_ms... import ...`) and standard libraries only."
        )
    where = traceback.extract_tb(exc.__traceback__)[-1]
    return (
        f"{rel} raised {type(exc).__name__}: {exc} while Python loaded it (line {where.lineno}).\n"
        "Code at the top level of the file runs on import: keep the work inside functions."
    )


RAISED_TODOS: list[str] = []  # "TODO task N: ..." raised by a student's file during this test


class TodoNotDone(NotImplementedError):
    """``NotImplementedError`` as the starters raise it, recording where for the failure report."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        caller = sys._getframe(1)
        rel = Path(caller.f_code.co_filename)
        with contextlib.suppress(ValueError):
            rel = rel.relative_to(REPO_ROOT)
        RAISED_TODOS.append(
            f"{rel}, line {caller.f_lineno}: NotImplementedError: {args[0] if args else ''}"
        )


@dataclass
class Student:
    """The files of one lab that the student edits, and the way to plug them into the framework."""

    lab: manifest.Lab
    folder: Path  # labs/NN or, with --solution, solutions/NN
    monkeypatch: pytest.MonkeyPatch
    loaded: dict[str, ModuleType] = field(default_factory=dict)

    def path(self, filename: str) -> Path:
        return self.folder / filename

    def load(self, filename: str) -> ModuleType:
        """Execute the student's file as a fresh private module (once per test)."""
        if filename in self.loaded:
            return self.loaded[filename]
        if filename not in self.lab.files:
            raise KeyError(f"lab {self.lab.id} has no student file {filename}")
        path = self.path(filename)
        if not path.exists():
            pytest.fail(f"{path.relative_to(REPO_ROOT)} is missing: run `python -m grader build`")
        name = f"_lab{self.lab.id}_{Path(filename).stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None  # a .py file has both
        module = importlib.util.module_from_spec(spec)
        # The stubs' `raise NotImplementedError(...)` finds this one first (globals before
        # builtins): it is the same exception, and it remembers being raised, so the failure can
        # name the TODO even when Sanic swallowed it inside a handler.
        vars(module)["NotImplementedError"] = TodoNotDone
        self.monkeypatch.setitem(sys.modules, name, module)  # dataclasses and pickle look it up
        problem = None
        try:
            spec.loader.exec_module(module)
        except BaseException as exc:
            problem = _describe_import_failure(path, exc)
        if problem:  # failed outside the `except`, so no "during handling of ..." chain follows
            pytest.fail(problem, pytrace=False)
        self.loaded[filename] = module
        return module

    def reference_name(self, filename: str) -> str:
        """``db.py`` -> ``sanic_ms.db`` (the module the file rebuilds)."""
        return self.lab.files[filename].removesuffix(".py").replace("/", ".")

    def plug(self, filename: str) -> ModuleType:
        """Load the student's file and make the reference framework use it (see module doc)."""
        module = self.load(filename)
        reference = self.reference_name(filename)
        ref = importlib.import_module(reference)
        defined = {
            id(value): name
            for name, value in vars(ref).items()
            if getattr(value, "__module__", None) == reference
        }
        self.monkeypatch.setitem(sys.modules, reference, module)
        for mod_name, mod in list(sys.modules.items()):
            if mod is None or mod is module or not mod_name.startswith(PLUGGED_INTO):
                continue
            for attr, value in list(vars(mod).items()):
                if value is ref:
                    self.monkeypatch.setattr(mod, attr, module)
                elif id(value) in defined and hasattr(module, defined[id(value)]):
                    self.monkeypatch.setattr(mod, attr, getattr(module, defined[id(value)]))
        return module


# Modules whose names are re-pointed by ``Student.plug``: the framework, the examples, and the
# student's other files of the same lab (plug lab 02's responses.py before its middleware.py).
PLUGGED_INTO = ("sanic_ms", "examples", "_lab")


@pytest.fixture
def lab(request: pytest.FixtureRequest) -> manifest.Lab:
    found = lab_of(request.path)
    assert found is not None, f"{request.path} is not inside labs/NN/"
    return found


@pytest.fixture
def student(
    request: pytest.FixtureRequest, lab: manifest.Lab, monkeypatch: pytest.MonkeyPatch
) -> Student:
    solution = request.config.getoption("--solution")
    folder = lab.solution_folder if solution else lab.folder
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and PLANTED in callspec.params:
        folder = Path(request.config.getoption("--mutants")).resolve() / callspec.params[PLANTED]
    # A coroutine never awaited is reported when it is collected: collect now, so the report
    # belongs to this test and not to the next one.
    request.addfinalizer(_collect_garbage)
    return Student(lab, folder, monkeypatch)


def _collect_garbage() -> None:
    # pytest keeps the last failure's traceback (for pdb), and with it the student's frames.
    sys.last_type = sys.last_value = sys.last_traceback = None
    gc.collect(1)  # the young generations: a full collection costs a test 0.1-0.3 s
