"""Write what grading produced: gradebook.csv, and per student results.json and feedback.md.

``<out>/<student>/results.json`` follows Gradescope's results.json schema (a copy is in
``specs/gradescope-results.schema.json``); hidden tests are ``after_published`` and carry no output.
``<out>/<student>/feedback.md`` is for the student: per lab and task, what passed, the trimmed
failure and the hint; hidden tests show their name and result only. ``<out>/_logs/`` holds each
run's raw output for the instructor: it may contain anything the student's code printed.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from grader.grading import summary
from grader.grading.gradebook import Gradebook, StudentResult
from grader.grading.run import Run
from grader.grading.scoring import LabResult

LOGS = "_logs"
STATUS_WORD = {
    "passed": "passed",
    "failed": "failed",
    "error": "error",
    "skipped": "skipped",
    "not run": "did not run",
}


MARKDOWN_SPECIAL = re.compile(r"([\\`*\[\]<>|])")


def md_text(text: str) -> str:
    """Text for one Markdown line: nothing in it can open a link, a tag, code or a new block."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def md_code_block(text: str, indent: str = "") -> list[str]:
    """A fenced block that ``text`` cannot close: the fence is longer than any run of backticks."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [
        f"{indent}{fence}text",
        *[f"{indent}{line}" for line in text.splitlines()],
        f"{indent}{fence}",
    ]


def _write(path: Path, text: str) -> None:
    # Whatever slipped through as a lone surrogate (a name's non-UTF-8 byte) is escaped, not fatal.
    path.write_bytes(text.encode("utf-8", "backslashreplace"))


def _points(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.2f}"


def write_log(out: Path, student: str, lab_id: str, result: Run) -> None:
    folder = out / LOGS / student
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        f"seconds: {result.seconds}",
        f"exit status: {result.returncode}",
        f"finished: {result.finished}",
        f"timed out: {result.timed_out}",
        f"account: {result.account}",
        f"database: {result.database}",
    ]
    lines += [f"integrity: {why}" for why in result.integrity]
    _write(folder / f"lab_{lab_id}.log", "\n".join(lines) + "\n\n" + result.log)


def results_json(student: StudentResult) -> dict:
    tests = []
    output = [f"Total: {_points(student.score)} / {_points(student.max_score)}", ""]
    output += [f"- {md_text(note)}" for note in student.notes]
    for lab in student.labs.values():
        output.append(
            f"- Lab {lab.lab_id} ({lab.title}): {_points(lab.score)} / {_points(lab.max_score)}"
        )
        output += [f"  - {md_text(note)}" for note in lab.notes]
        for task in lab.tasks:
            for index, test in enumerate(task.tests, 1):
                entry = {
                    "name": f"Lab {lab.lab_id} · task {task.number} · {test.name}"
                    + (" (hidden)" if test.hidden else ""),
                    "number": f"{lab.lab_id}.{task.number}.{index}",
                    "score": test.score,
                    "max_score": test.max_score,
                    "status": "passed" if test.status == "passed" else "failed",
                    "tags": [f"lab {lab.lab_id}", f"task {task.number}"],
                    "visibility": "after_published" if test.hidden else "visible",
                }
                if not test.hidden:
                    text = "" if test.status == "passed" else test.message
                    if test.status != "passed" and task.hint:
                        text += f"\n\nHint: {task.hint}"
                    entry["output"] = text.strip()
                    entry["output_format"] = "text"
                else:
                    entry["output"] = STATUS_WORD[test.status]
                tests.append(entry)
    return {
        "score": student.score,
        "execution_time": student.seconds,
        "output": "\n".join(output),
        "output_format": "md",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {
            "student": student.id,
            "max_score": student.max_score,
            "flags": student.all_flags(),
            "labs": {
                lab.lab_id: {"score": lab.score, "max_score": lab.max_score, "flags": lab.flags}
                for lab in student.labs.values()
            },
        },
    }


def _lab_feedback(lab: LabResult) -> list[str]:
    lines = [
        f"## Lab {lab.lab_id} · {lab.title}: {_points(lab.score)} / {_points(lab.max_score)}",
        "",
    ]
    lines += [f"> {md_text(note)}" for note in lab.notes]
    if lab.notes:
        lines.append("")
    for task in lab.tasks:
        if not task.tests:
            continue
        passed = sum(t.status == "passed" for t in task.tests)
        state = "passed" if task.passed else f"{passed} of {len(task.tests)} tests passed"
        lines.append(
            f"### Task {task.number}. {task.title}: {state} "
            f"({_points(task.score)} / {_points(task.max_score)})"
        )
        lines.append("")
        for test in task.tests:
            mark = "✅" if test.status == "passed" else "❌"
            if test.hidden:
                lines.append(f"- {mark} hidden test `{test.name}`: {STATUS_WORD[test.status]}")
                continue
            lines.append(f"- {mark} `{test.name}`: {STATUS_WORD[test.status]}")
            if test.status != "passed" and test.message:
                lines += ["", *md_code_block(test.message, "  ")]
        if not task.passed and task.hint:
            lines += ["", f"**Hint:** {task.hint}"]
        lines.append("")
    return lines


def feedback_md(student: StudentResult) -> str:
    lines = [
        f"# Feedback for {student.id}",
        "",
        f"**Total: {_points(student.score)} / {_points(student.max_score)}**",
        "",
    ]
    lines += [f"> {md_text(note)}" for note in student.notes]
    if student.notes:
        lines.append("")
    for lab in student.labs.values():
        lines += _lab_feedback(lab)
    return "\n".join(lines).rstrip() + "\n"


def write_gradebook(path: Path, book: Gradebook) -> None:
    with path.open("w", newline="", encoding="utf-8", errors="backslashreplace") as f:
        writer = csv.writer(f)
        header = ["student"]
        for lab_id in book.labs:
            header += [f"lab_{lab_id}", f"lab_{lab_id}_max"]
        writer.writerow([*header, "total", "max_total", "flags"])
        for student in book.students:
            row = [student.id]
            for lab_id in book.labs:
                lab = student.labs[lab_id]
                row += [_points(lab.score), _points(lab.max_score)]
            row += [_points(student.score), _points(student.max_score)]
            writer.writerow([*row, ";".join(student.all_flags())])


def write_all(out: Path, book: Gradebook) -> None:
    for student in book.students:
        folder = out / student.id
        folder.mkdir(parents=True, exist_ok=True)
        _write(folder / "results.json", json.dumps(results_json(student), indent=2) + "\n")
        _write(folder / "feedback.md", feedback_md(student))
    write_gradebook(out / "gradebook.csv", book)
    _write(out / "summary.html", summary.render(book))
