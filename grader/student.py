"""The student's commands: hints in levels, progress over every lab, rerun tests on save.

Entry points (named for ``grader/__main__.py``):

- ``main_hint(argv)``: ``python -m grader hint 03 2`` prints the first level of the hint for lab
  03, task 2 (the idea); ``--more`` opens the next level (the API to use, then the shape of the
  code), ``--level N`` a given one. Opened levels are remembered in ``.hints.json`` (git-ignored);
- ``main_status(argv)``: ``python -m grader status [--solution] [--labs 01,03]`` runs each lab's
  tests (bounded in time) and prints a table: tasks passed, points earned, hint levels opened;
- ``main_watch(argv)``: ``python -m grader watch 03`` (``make watch N=03``) reruns
  ``pytest labs/03`` whenever a file of the lab is saved, each run bounded in time.

Every pytest run goes through ``grader.labrun``, the one runner the notebooks use as well, and
``grader.labprogress`` turns its results into tasks passed and points, for both.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import textwrap
import time
from pathlib import Path

from grader import labrun, manifest
from grader.labprogress import progress_of

REPO_ROOT = manifest.REPO_ROOT
HINTS_OPENED = REPO_ROOT / ".hints.json"  # {"03": {"2": 2}}: lab -> task -> levels opened


# --------------------------------------------------------------------------- hints


def opened_levels(path: Path | None = None) -> dict[str, dict[str, int]]:
    """Hint levels opened so far, per lab and task; empty when none (or the file is unreadable)."""
    try:
        data = json.loads((path or HINTS_OPENED).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _remember(lab_id: str, task: int, level: int) -> None:
    data = opened_levels()
    tasks = data.setdefault(lab_id, {})
    tasks[str(task)] = max(level, int(tasks.get(str(task), 0)))
    with contextlib.suppress(OSError):  # a read-only copy still prints the hint
        HINTS_OPENED.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def _find(lab: str, task: int) -> tuple[manifest.Lab, manifest.Task]:
    labs = manifest.load()
    lab_id = f"{int(lab):02d}" if str(lab).isdigit() else str(lab)
    if lab_id not in labs:
        raise KeyError(f"there is no lab {lab!r}; labs: {', '.join(labs)}")
    found = labs[lab_id]
    try:
        return found, found.task(int(task))
    except KeyError:
        numbers = ", ".join(str(t.number) for t in found.tasks)
        raise KeyError(f"lab {found.id} has no task {task}; its tasks: {numbers}") from None


def hint(lab: str, task: int, level: int | None = None, more: bool = False) -> str:
    """The hint levels of one task up to ``level`` (``more``: one past those opened before).

    Without either, level 1 (the idea). Records the level reached in ``.hints.json``.
    """
    found, the_task = _find(lab, task)
    levels = the_task.hints
    if not levels:
        raise KeyError(f"lab {found.id} task {the_task.number} has no hint")
    before = int(opened_levels().get(found.id, {}).get(str(the_task.number), 0))
    if level is None:
        level = max(before, 1) + 1 if more else 1
    if not 1 <= level <= len(levels) + (1 if more else 0):
        raise KeyError(f"lab {found.id} task {the_task.number} has hint levels 1 to {len(levels)}")
    level = min(level, len(levels))
    _remember(found.id, the_task.number, level)
    lines = [
        f"Lab {found.id} ({found.title}), task {the_task.number}: {the_task.title} "
        f"({the_task.points} points)"
    ]
    for number, text in enumerate(levels[:level], start=1):
        name = manifest.HINT_LEVELS[number - 1] if number <= len(manifest.HINT_LEVELS) else ""
        shown = text if text.lstrip().startswith("```") else textwrap.fill(text, 96)
        lines += ["", f"Hint {number} of {len(levels)}{f' ({name})' if name else ''}:", shown]
    lines.append("")
    if level < len(levels):
        following = manifest.HINT_LEVELS[level] if level < len(manifest.HINT_LEVELS) else "more"
        lines.append(
            f"Still stuck? `python -m grader hint {found.id} {the_task.number} --more` "
            f"shows {following}."
        )
    lines.append(f'More in labs/{found.id}/README.md, section "## {the_task.number}.".')
    return "\n".join(lines)


def main_hint(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m grader hint",
        description="A hint for one task, in levels: the idea, the API to use, the code's shape.",
    )
    parser.add_argument("lab", help="lab number, e.g. 03")
    parser.add_argument("task", type=int, help="task number, e.g. 2")
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--more", action="store_true", help="the next level after those you opened before"
    )
    which.add_argument("--level", type=int, help="this level (1 the idea ... 3 the code's shape)")
    args = parser.parse_args(argv)
    try:
        print(hint(args.lab, args.task, args.level, args.more))
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return 2
    return 0


# --------------------------------------------------------------------------- status

PARALLEL = 2  # labs tested at once by `status`


async def _run_labs(lab_ids: list[str], solution: bool, limit: float) -> dict[str, labrun.LabRun]:
    gate = asyncio.Semaphore(PARALLEL)

    async def one(lab_id: str) -> tuple[str, labrun.LabRun]:
        async with gate:
            return lab_id, await labrun.run_async(
                [f"labs/{lab_id}"], solution=solution, limit=limit
            )

    return dict(await asyncio.gather(*(one(lab_id) for lab_id in lab_ids)))


def status(
    labs_wanted: list[str] | None = None, solution: bool = False, timeout: float = labrun.TIMEOUT
) -> list[dict]:
    """One row per lab: tasks passed, points earned, hint levels opened, and any problem.

    Each lab's tests run in their own child process, stopped after ``timeout`` seconds: a lab that
    hangs is reported as such (``problem``) and the other labs still count.
    """
    labs = manifest.load()
    wanted = [lab_id for lab_id in labs if not labs_wanted or lab_id in labs_wanted]
    present = [lab_id for lab_id in wanted if (REPO_ROOT / "labs" / lab_id).is_dir()]
    runs = asyncio.run(_run_labs(present, solution, timeout)) if present else {}
    opened = opened_levels()
    rows = []
    for lab_id in wanted:
        lab = labs[lab_id]
        run = runs.get(lab_id)
        progress = progress_of(lab_id, run.tests if run else {}, "", 0.0, labs)
        hints = {t.number: int(opened.get(lab_id, {}).get(str(t.number), 0)) for t in lab.tasks}
        rows.append(
            {
                "lab": lab_id,
                "title": lab.title,
                "tasks_passed": sum(t.done for t in progress.tasks),
                "tasks": len(lab.tasks),
                "points": progress.points,
                "possible": progress.possible,
                "hints": hints,  # task -> levels opened
                "problem": run.problem if run else f"labs/{lab_id} is missing",
            }
        )
    return rows


def _hints_cell(hints: dict[int, int]) -> str:
    opened = [f"{task}:{levels}" for task, levels in hints.items() if levels]
    return " ".join(opened) or "-"


def format_status(rows: list[dict]) -> str:
    lines = [f"{'lab':<4} {'title':<44} {'tasks':>7} {'points':>8}  hints opened (task:levels)"]
    for row in rows:
        tasks = f"{row['tasks_passed']}/{row['tasks']}"
        points = f"{row['points']}/{row['possible']}"
        hints = _hints_cell(row.get("hints", {}))
        lines.append(f"{row['lab']:<4} {row['title'][:44]:<44} {tasks:>7} {points:>8}  {hints}")
    total = sum(r["points"] for r in rows), sum(r["possible"] for r in rows)
    lines.append(f"{'':<4} {'total':<44} {'':>7} {f'{total[0]}/{total[1]}':>8}")
    lines += [f"lab {row['lab']}: {row['problem']}" for row in rows if row.get("problem")]
    return "\n".join(lines)


def _add_timeout(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--timeout",
        type=float,
        default=labrun.TIMEOUT,
        metavar="S",
        help=f"seconds for {what} (default {labrun.TIMEOUT:.0f})",
    )


def main_status(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader status")
    parser.add_argument("--labs", help="comma-separated lab numbers (default: all)")
    parser.add_argument("--solution", action="store_true", help="grade solutions/ instead")
    _add_timeout(parser, "one lab's tests")
    args = parser.parse_args(argv)
    wanted = [f"{int(x):02d}" for x in args.labs.split(",")] if args.labs else None
    print("running the lab tests ...", file=sys.stderr)
    rows = status(wanted, args.solution, args.timeout)
    print(format_status(rows))
    return 1 if any(row["problem"] for row in rows) else 0


# --------------------------------------------------------------------------- watch


def _snapshot(folder: Path) -> dict[Path, float]:
    return {
        path: path.stat().st_mtime
        for path in folder.rglob("*.py")
        if "__pycache__" not in path.parts
    }


def watch(lab: str, interval: float = 0.5, timeout: float = labrun.TIMEOUT) -> None:
    """Run ``pytest labs/NN`` now and again after every save in that folder (Ctrl-C stops).

    Each run is stopped after ``timeout`` seconds, with a line saying so.
    """
    folder = REPO_ROOT / "labs" / lab
    if not folder.is_dir():
        raise SystemExit(f"there is no lab folder labs/{lab}")
    seen = None
    while True:
        now = _snapshot(folder)
        if now != seen:
            seen = now
            print(f"\n=== pytest labs/{lab}  ({time.strftime('%H:%M:%S')}) ===", flush=True)
            result = labrun.run([f"labs/{lab}"], limit=timeout, capture=False)
            if result.timed_out:
                print(f"\n{result.problem}", flush=True)
            print(f"watching labs/{lab} for changes; Ctrl-C to stop", flush=True)
            seen = _snapshot(folder)
        time.sleep(interval)


def main_watch(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader watch")
    parser.add_argument("lab", help="lab number, e.g. 03")
    _add_timeout(parser, "one run of the lab's tests")
    args = parser.parse_args(argv)
    try:
        watch(f"{int(args.lab):02d}", timeout=args.timeout)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    from grader import venv

    venv.ensure(["-m", "grader.student", *sys.argv[1:]], "python -m grader.student")
    commands = {"hint": main_hint, "status": main_status, "watch": main_watch}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(f"usage: python -m grader.student {{{'|'.join(commands)}}} ...")
    sys.exit(commands[sys.argv[1]](sys.argv[2:]))
