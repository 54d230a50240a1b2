"""The lab plugin's command-line options, its test selection, and ``grader check``'s planted mistakes.

``--solution`` tests ``solutions/NN``; ``--task N`` keeps one task's tests; ``--mutants <folder>``
(``grader check``) runs each test once per mistake planted in its task. Every lab test gets a
phase limit, a backstop timeout, a task marker from the manifest (or is skipped, saying so) and,
when async, the loop watchdog.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from grader.labplugin import context
from grader.labplugin.context import GRACE, LAB_TEST_TIMEOUT, PLANTED, lab_of, task_of
from grader.labplugin.guard import LIMIT, limit_of
from sanic_ms.testing import allow_same_name_apps


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--solution",
        action="store_true",
        default=False,
        help="test the finished files in solutions/NN instead of the student's labs/NN",
    )
    parser.addoption(
        "--mutants",
        default=None,
        help="(python -m grader check) run each test against the mistakes planted in this folder",
    )
    parser.addoption(
        "--task",
        type=int,
        default=None,
        help="run only the lab tests of this task (README heading '## N.')",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Lab tests start Sanic apps in the test's own loop, several per session, under one name.
    allow_same_name_apps()
    if config.getoption("--mutants", None):
        context.MUTANTS_FOLDER = str(Path(config.getoption("--mutants")).resolve())
        context.PLANTED_NAMES = tuple(_planted(config))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    only = config.getoption("--task")
    if only is not None:
        other = [i for i in items if lab_of(i.path) is not None and task_of(i) != only]
        if other:
            config.hook.pytest_deselected(items=other)
            items[:] = [i for i in items if i not in other]
    for item in items:
        lab = lab_of(item.path)
        if lab is None:
            continue
        item.stash[LIMIT] = limit_of(item)
        if item.get_closest_marker("timeout") is None:
            # A backstop only: the PhaseGuard stops the test first, with a better message.
            item.add_marker(pytest.mark.timeout(LAB_TEST_TIMEOUT + 3 * GRACE))
        marker = item.get_closest_marker("task")
        numbers = {t.number for t in lab.tasks}
        if marker is None or not marker.args or marker.args[0] not in numbers:
            item.add_marker(
                pytest.mark.skip(reason=f"lab {lab.id}: not marked with a task of the manifest")
            )
            item.user_properties.append(("task_error", True))
        if isinstance(item, pytest.Function) and asyncio.iscoroutinefunction(item.obj):
            # First, so it is set up before (and torn down after) the fixtures that start apps.
            item.fixturenames.insert(0, "_loop_watchdog")


# --------------------------------------------------------------------------- planted mistakes


def _planted(config: pytest.Config) -> dict[str, list[int]]:
    """``grader check``'s planted mistakes (``--mutants <folder>``): name -> the tasks to run.

    ``<folder>/index.json`` lists them; ``<folder>/<name>/`` holds the lab's files with that one
    mistake in them (see ``grader.mutants``).
    """
    folder = config.getoption("--mutants")
    if not folder:
        return {}
    planted: dict[str, list[int]] = json.loads((Path(folder) / "index.json").read_text())
    return planted


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    planted = _planted(metafunc.config)
    if not planted or lab_of(metafunc.definition.path) is None:
        return
    marker = metafunc.definition.get_closest_marker("task")
    task = marker.args[0] if marker and marker.args else None
    names = [name for name, tasks in planted.items() if task in tasks]
    # Each test runs once per mistake planted in its task, and not against the solution itself.
    metafunc.fixturenames.append(PLANTED)
    metafunc.parametrize(PLANTED, names, ids=names)
