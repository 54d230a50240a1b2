"""A batch's results: per student, per lab, and the lines an instructor reads after it."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from grader import manifest
from grader.grading import scoring


@dataclass
class StudentResult:
    id: str
    labs: dict[str, scoring.LabResult]
    notes: list[str] = field(default_factory=list)  # about the whole submission
    flags: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return round(sum(lab.score for lab in self.labs.values()), 2)

    @property
    def max_score(self) -> float:
        return sum(lab.max_score for lab in self.labs.values())

    @property
    def seconds(self) -> float:
        return round(sum(lab.seconds for lab in self.labs.values()), 3)

    def all_flags(self) -> list[str]:
        flags = list(self.flags)
        for lab in self.labs.values():
            flags += [f"{lab.lab_id}:{flag}" for flag in lab.flags]
        return flags


@dataclass
class Gradebook:
    labs: dict[str, manifest.Lab]
    students: list[StudentResult]
    problems: list[str]  # with the grading itself (runs flagged infra: grade again)
    isolation: list[str]
    seconds: float = 0.0
    runs: int = 0  # student x lab runs made (not cached)


def print_summary(book: Gradebook, out: Path) -> None:
    """The few lines an instructor reads after a batch."""
    lab_ids = list(book.labs)
    width = max([len("student"), *(len(s.id) for s in book.students)])
    print(
        f"{'student':<{width}}  " + "  ".join(f"lab {i:>3}" for i in lab_ids) + "    total  flags"
    )
    for student in book.students:
        cells = "  ".join(f"{student.labs[i].score:7g}" for i in lab_ids)
        flags = ",".join(student.all_flags())
        print(f"{student.id:<{width}}  {cells}  {student.score:7g}  {flags}")
    runs = book.runs
    per_run = f", {book.seconds / runs:.2f} s per run" if runs else ""
    print(f"\n{len(book.students)} student(s), {runs} run(s) in {book.seconds:g} s{per_run}")
    for line in book.isolation:
        print(f"confinement: {line}")
    for problem in book.problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    print(f"reports: {out / 'gradebook.csv'}, {out / 'summary.html'}, {out}/<student>/")
