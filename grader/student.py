"""The student's commands: a hint for one task, progress over every lab, rerun tests on save.

Entry points (named for ``grader/__main__.py``):

- ``main_hint(argv)``: ``python -m grader hint 03 2`` prints the hint for lab 03, task 2;
- ``main_status(argv)``: ``python -m grader status [--solution] [--labs 01,03]`` runs each lab's
  tests and prints a table: tasks passed and points earned of possible, per lab;
- ``main_watch(argv)``: ``python -m grader.student watch 03`` (``make watch N=03``) reruns
  ``pytest labs/03`` whenever a file of the lab is saved.

``task_results(paths, solution)`` runs pytest on lab folders and returns, per lab and task, whether
every test of the task passed: the status table and ``tests/test_labs.py`` use it. A task passes
when all its tests pass in every phase (setup, call, teardown); a skipped test passes nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from grader import manifest

REPO_ROOT = manifest.REPO_ROOT
RESULTS_ENV = "GRADER_TASK_RESULTS"  # the file the pytest plugin below writes its results to


# --------------------------------------------------------------------------- hint


def hint(lab: str, task: int) -> str:
    """The hint text for one task, with where to read more."""
    labs = manifest.load()
    lab_id = f"{int(lab):02d}" if str(lab).isdigit() else str(lab)
    if lab_id not in labs:
        raise KeyError(f"there is no lab {lab!r}; labs: {', '.join(labs)}")
    found = labs[lab_id]
    the_task = found.task(int(task))
    return (
        f"Lab {found.id} ({found.title}), task {the_task.number}: {the_task.title} "
        f"({the_task.points} points)\n\n{the_task.hint}\n\n"
        f'More in labs/{found.id}/README.md, section "## {the_task.number}.".'
    )


def main_hint(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader hint")
    parser.add_argument("lab", help="lab number, e.g. 03")
    parser.add_argument("task", type=int, help="task number, e.g. 2")
    args = parser.parse_args(argv)
    try:
        print(hint(args.lab, args.task))
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return 2
    return 0


# --------------------------------------------------------------------------- results per task


class TaskResults:
    """A pytest plugin: records, for each test of a lab, its task and whether it passed."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.tests: dict[str, dict] = {}

    def pytest_collection_modifyitems(self, items) -> None:
        for item in items:
            marker = item.get_closest_marker("task")
            rel = Path(str(item.path)).resolve().relative_to(REPO_ROOT)
            if rel.parts[0] != "labs":
                continue
            self.tests[item.nodeid] = {
                "lab": rel.parts[1],
                "task": marker.args[0] if marker and marker.args else None,
                "outcome": "passed",
                "message": "",
            }

    def pytest_runtest_logreport(self, report) -> None:
        test = self.tests.get(report.nodeid)
        if test is None:
            return
        if report.failed or report.skipped:
            if test["outcome"] == "passed":
                test["outcome"] = "failed" if report.failed else "skipped"
                test["message"] = str(report.longrepr)[-2000:]
        elif report.when == "call" and not report.passed:
            test["outcome"] = "failed"

    def pytest_sessionfinish(self, session) -> None:
        self.out.write_text(json.dumps(self.tests, indent=1))


def pytest_configure(config) -> None:
    """Loaded with ``-p grader.student``: record task results when the grader asked for them."""
    if out := os.environ.get(RESULTS_ENV):
        config.pluginmanager.register(TaskResults(Path(out)), "grader-task-results")


def run_tests(paths: list[str], solution: bool = False, quiet: bool = True) -> dict[str, dict]:
    """Run pytest on lab folders in a child process; return {nodeid: {lab, task, outcome}}."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results.json"
        command = [sys.executable, "-m", "pytest", *paths, "-p", "grader.student", "-q"]
        command += ["--solution"] if solution else []
        command += ["-p", "no:cacheprovider"]
        env = {**os.environ, RESULTS_ENV: str(out)}
        subprocess.run(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL if quiet else None,
            stderr=subprocess.DEVNULL if quiet else None,
            check=False,
        )
        if not out.exists():
            return {}
        return json.loads(out.read_text())


def task_results(tests: dict[str, dict]) -> dict[str, dict[int, list[str]]]:
    """{lab: {task: [outcome of each of its tests]}}."""
    by_task: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for test in tests.values():
        by_task[test["lab"]][test["task"]].append(test["outcome"])
    return by_task


# --------------------------------------------------------------------------- status


def status(labs_wanted: list[str] | None = None, solution: bool = False) -> list[dict]:
    """One row per lab: tasks passed of all, points earned of possible."""
    labs = manifest.load()
    wanted = [lab_id for lab_id in labs if not labs_wanted or lab_id in labs_wanted]
    paths = [f"labs/{lab_id}" for lab_id in wanted if (REPO_ROOT / "labs" / lab_id).is_dir()]
    results = task_results(run_tests(paths, solution)) if paths else {}
    rows = []
    for lab_id in wanted:
        lab = labs[lab_id]
        outcomes = results.get(lab_id, {})
        passed = [
            t for t in lab.tasks if outcomes.get(t.number) and set(outcomes[t.number]) == {"passed"}
        ]
        rows.append(
            {
                "lab": lab_id,
                "title": lab.title,
                "tasks_passed": len(passed),
                "tasks": len(lab.tasks),
                "points": sum(t.points for t in passed),
                "possible": lab.points,
            }
        )
    return rows


def format_status(rows: list[dict]) -> str:
    lines = [f"{'lab':<4} {'title':<44} {'tasks':>7} {'points':>8}"]
    for row in rows:
        tasks = f"{row['tasks_passed']}/{row['tasks']}"
        points = f"{row['points']}/{row['possible']}"
        lines.append(f"{row['lab']:<4} {row['title'][:44]:<44} {tasks:>7} {points:>8}")
    total = sum(r["points"] for r in rows), sum(r["possible"] for r in rows)
    lines.append(f"{'':<4} {'total':<44} {'':>7} {f'{total[0]}/{total[1]}':>8}")
    return "\n".join(lines)


def main_status(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader status")
    parser.add_argument("--labs", help="comma-separated lab numbers (default: all)")
    parser.add_argument("--solution", action="store_true", help="grade solutions/ instead")
    args = parser.parse_args(argv)
    wanted = [f"{int(x):02d}" for x in args.labs.split(",")] if args.labs else None
    print("running the lab tests ...", file=sys.stderr)
    print(format_status(status(wanted, args.solution)))
    return 0


# --------------------------------------------------------------------------- watch


def _snapshot(folder: Path) -> dict[Path, float]:
    return {
        path: path.stat().st_mtime
        for path in folder.rglob("*.py")
        if "__pycache__" not in path.parts
    }


def watch(lab: str, interval: float = 0.5) -> None:
    """Run ``pytest labs/NN`` now and again after every save in that folder (Ctrl-C stops)."""
    folder = REPO_ROOT / "labs" / lab
    if not folder.is_dir():
        raise SystemExit(f"there is no lab folder labs/{lab}")
    seen = None
    while True:
        now = _snapshot(folder)
        if now != seen:
            seen = now
            print(f"\n=== pytest labs/{lab}  ({time.strftime('%H:%M:%S')}) ===", flush=True)
            subprocess.run([sys.executable, "-m", "pytest", f"labs/{lab}", "-q"], cwd=REPO_ROOT)
            print(f"watching labs/{lab} for changes; Ctrl-C to stop", flush=True)
            seen = _snapshot(folder)
        time.sleep(interval)


def main_watch(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader watch")
    parser.add_argument("lab", help="lab number, e.g. 03")
    args = parser.parse_args(argv)
    try:
        watch(f"{int(args.lab):02d}")
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    commands = {"hint": main_hint, "status": main_status, "watch": main_watch}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(f"usage: python -m grader.student {{{'|'.join(commands)}}} ...")
    sys.exit(commands[sys.argv[1]](sys.argv[2:]))
