"""Per-task progress of a lab's test run: which tasks pass and the points they earn.

Computed once, from ``grader.labrun``'s results, for ``grader status`` (a row per lab) and the
notebooks' "your turn" cell (a table per lab, text or HTML, with the next task to do).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

from grader import manifest


@dataclass
class TaskProgress:
    number: int
    title: str
    points: int
    passed: int  # tests of this task that passed
    tests: int
    first_failure: str = ""

    @property
    def done(self) -> bool:
        return self.tests > 0 and self.passed == self.tests


@dataclass
class LabProgress:
    """What ``pytest labs/NN`` said, per task: shown as a table, never raised."""

    lab: str
    title: str
    tasks: list[TaskProgress] = field(default_factory=list)
    summary: str = ""  # pytest's last line ("3 failed in 2.10s"), or why nothing ran
    seconds: float = 0.0
    solution: bool = False

    @property
    def points(self) -> int:
        return sum(t.points for t in self.tasks if t.done)

    @property
    def possible(self) -> int:
        return sum(t.points for t in self.tasks)

    @property
    def next_task(self) -> TaskProgress | None:
        return next((t for t in self.tasks if not t.done), None)

    def _advice(self) -> str:
        todo = self.next_task
        if not self.tasks:
            return self.summary
        if todo is None:
            return f"All tasks of lab {self.lab} pass. Well done!"
        return (
            f"Next: task {todo.number}, {todo.title!r} (labs/{self.lab}/README.md, "
            f'"## {todo.number}."). Hint: python -m grader hint {self.lab} {todo.number}'
        )

    def __str__(self) -> str:
        where = "solutions" if self.solution else "labs"
        lines = [
            f"pytest {where}/{self.lab}: {self.summary}  ({self.seconds:.1f} s)",
            f"Lab {self.lab} {self.title}: {self.points}/{self.possible} points",
        ]
        for t in self.tasks:
            mark = "done" if t.done else "todo"
            lines.append(
                f"  [{mark}] task {t.number} {t.title}: {t.passed}/{t.tests} tests, {t.points} pt"
            )
        lines.append(self._advice())
        todo = self.next_task
        if todo is not None and todo.first_failure:
            lines.append("\nWhat the first failing test of that task said:\n" + todo.first_failure)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        where = "solutions" if self.solution else "labs"
        rows = []
        for t in self.tasks:
            color = "#2e7d32" if t.done else "#c62828"
            mark = "✔" if t.done else "✘"
            rows.append(
                f"<tr><td style='color:{color}'>{mark}</td><td>{t.number}</td>"
                f"<td style='text-align:left'>{html.escape(t.title)}</td>"
                f"<td>{t.passed}/{t.tests}</td><td>{t.points if t.done else 0}/{t.points}</td></tr>"
            )
        failure = ""
        todo = self.next_task
        if todo is not None and todo.first_failure:
            failure = (
                "<details><summary>What the first failing test of that task said</summary>"
                f"<pre>{html.escape(todo.first_failure)}</pre></details>"
            )
        return (
            f"<p><b>Lab {self.lab}, {html.escape(self.title)}</b>: "
            f"{self.points}/{self.possible} points &nbsp; <code>pytest {where}/{self.lab}</code>: "
            f"{html.escape(self.summary)} ({self.seconds:.1f} s)</p>"
            "<table><tr><th></th><th>task</th><th style='text-align:left'>title</th>"
            f"<th>tests passed</th><th>points</th></tr>{''.join(rows)}</table>"
            f"<p>{html.escape(self._advice())}</p>{failure}"
        )


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def first_lines(message: str, limit: int = 12) -> str:
    """The first ``limit`` non-blank lines of a test's message, its terminal colours removed."""
    lines = [line for line in ANSI.sub("", message).strip().splitlines() if line.strip()]
    return "\n".join(lines[:limit])


def progress_of(
    lab_id: str,
    tests: dict[str, dict[str, Any]],
    summary: str,
    seconds: float,
    labs: dict[str, manifest.Lab] | None = None,
) -> LabProgress:
    """Per-task progress from ``grader.labrun``'s results ({nodeid: {lab, task, outcome}})."""
    lab = (labs or manifest.load())[lab_id]
    progress = LabProgress(lab.id, lab.title, summary=summary, seconds=seconds)
    for task in lab.tasks:
        mine = [
            t for t in tests.values() if t.get("lab") == lab.id and t.get("task") == task.number
        ]
        failing = [t for t in mine if t["outcome"] != "passed"]
        progress.tasks.append(
            TaskProgress(
                task.number,
                task.title,
                task.points,
                passed=len(mine) - len(failing),
                tests=len(mine),
                first_failure=first_lines(failing[0].get("message", "")) if failing else "",
            )
        )
    return progress
