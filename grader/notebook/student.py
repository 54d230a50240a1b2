"""The student's code in a notebook: plugged in through the lab tests' seam, or the reference."""

from __future__ import annotations

import asyncio
import html
import importlib
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

from grader import manifest
from grader.labplugin.student import RAISED_TODOS, Student
from grader.labprogress import first_lines
from grader.notebook.servers import servers, stop


@dataclass
class StudentCode:
    """The code a notebook runs for a lab's files: the student's, or the reference with a note."""

    lab: str
    files: tuple[str, ...]
    modules: dict[str, ModuleType]  # file -> the module the notebook uses for it
    yours: bool
    note: str

    def __getitem__(self, filename: str) -> ModuleType:
        return self.modules[filename]

    def __str__(self) -> str:
        return self.note

    def __repr__(self) -> str:
        return self.note

    def _repr_html_(self) -> str:
        color = "#2e7d32" if self.yours else "#ef6c00"
        return (
            f"<div style='border-left:4px solid {color};padding:4px 10px'>"
            f"{html.escape(self.note).replace(chr(10), '<br>')}</div>"
        )


plugged: list[pytest.MonkeyPatch] = []  # the MonkeyPatch of every plugged lab, undone by cleanup()


def undo_plugs() -> None:
    while plugged:
        plugged.pop().undo()


def _plug(
    lab_id: str, files: tuple[str, ...], solution: bool, plug: bool
) -> tuple[pytest.MonkeyPatch, dict[str, ModuleType]]:
    """Load (and with ``plug``, plug in) the lab's files the way the lab's tests do."""
    # The seam of the lab tests (grader.labplugin.student): the same code, the same rules.
    lab = manifest.load()[lab_id]
    patch = pytest.MonkeyPatch()
    student = Student(lab, lab.solution_folder if solution else lab.folder, patch)
    try:
        modules = {name: student.plug(name) if plug else student.load(name) for name in files}
    except pytest.fail.Exception as exc:  # the file does not load; the message says why
        patch.undo()
        raise RuntimeError(str(exc)) from None
    except Exception:
        patch.undo()
        raise
    return patch, modules


def _failure(exc: BaseException) -> str:
    if RAISED_TODOS:  # a stub ran, maybe inside a handler that turned it into a 500: name it
        return RAISED_TODOS[0]
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, NotImplementedError):
        text = f"NotImplementedError: {text}"
    elif not isinstance(exc, AssertionError | RuntimeError):
        text = f"{type(exc).__name__}: {text}"
    return first_lines(text, 6)


async def student_code(
    lab_id: str,
    *files: str,
    plug: bool = True,
    check: Callable[[dict[str, ModuleType]], Awaitable[Any]] | None = None,
    solution: bool = False,
) -> StudentCode:
    """Run this notebook with the student's ``labs/<lab_id>/<file>`` plugged into the framework.

    The same seam as the lab's tests (``grader.labplugin.student``, ``Student.plug``):
    ``sanic_ms.db`` and every name taken from it become the student's, so apps created afterwards run their code.
    ``check``, an async function of the modules (``{file: module}``), tries that code once; when
    loading or ``check`` fails, the reference modules are used instead and the returned
    :class:`StudentCode` (displayed by the cell) says so and why. Undone by :func:`cleanup`.
    ``plug=False`` only loads the files (lab 00's app module); ``solution=True`` uses solutions/.
    """
    RAISED_TODOS.clear()
    started_before = set(servers)
    imported_before = set(sys.modules)
    folder = "solutions" if solution else "labs"
    where = ", ".join(f"{folder}/{lab_id}/{name}" for name in files)
    try:
        patch, modules = _plug(lab_id, files, solution, plug)
    except Exception as exc:  # whatever the student's file does wrong, the notebook goes on
        reason = _failure(exc)
    else:
        try:
            if check is not None:
                await asyncio.wait_for(check(modules), 30)
        except Exception as exc:
            for name in set(servers) - started_before:  # apps built on the failed code
                await stop(name)
            patch.undo()
            # Modules first imported during the check took names from the student's code (an
            # example service's `from sanic_ms.doc import ...`): forget them, so the next import
            # binds to the reference.
            for module in set(sys.modules) - imported_before:
                if module.startswith(("sanic_ms", "examples")):
                    del sys.modules[module]
            reason = (
                _failure(exc)
                if not isinstance(exc, TimeoutError)
                else ("it did not finish within 30 s (something waits forever)")
            )
        else:
            plugged.append(patch)
            return StudentCode(lab_id, files, modules, True, f"Running your code: {where}.")
    lab = manifest.load()[lab_id]
    reference = {name: importlib.import_module(_module_name(lab.files[name])) for name in files}
    note = (
        f"Your code ({where}) is not ready yet, so this notebook runs the reference instead.\n"
        f"What happened: {reason}\n"
        f"Rerun this cell once `pytest {folder}/{lab_id}` passes more tasks."
    )
    return StudentCode(lab_id, files, reference, False, note)


def _module_name(source: str) -> str:
    return source.removesuffix(".py").replace("/", ".")
