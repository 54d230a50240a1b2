"""Time the grader: seconds per student x lab for a batch of synthetic submissions.

``python -m grader.grading.benchmark [--students 20] [--jobs 2] [--labs 01,02] [--root DIR]`` builds
``students`` clones in a temporary folder (every lab's editable files: the solution for a third,
the starter for a third, and for the rest the solution of even-numbered labs only), grades them
all with ``--force``, and prints the figure. Nothing is kept.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from grader import manifest
from grader.grading import grade, run


def make_submissions(labs: dict[str, manifest.Lab], folder: Path, students: int) -> None:
    for n in range(students):
        clone = folder / f"student{n:02d}"
        for index, lab in enumerate(labs.values()):
            solved = n % 3 == 0 or (n % 3 == 2 and index % 2 == 0)
            source = lab.solution_folder if solved else lab.folder
            for rel in lab.files:
                target = clone / "labs" / lab.id / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source / rel, target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.grading.benchmark", description=__doc__)
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--labs", type=lambda s: [p.zfill(2) for p in s.split(",") if p])
    parser.add_argument("--root", type=Path, default=manifest.REPO_ROOT)
    args = parser.parse_args(argv)
    labs = manifest.load(args.root / "labs" / "manifest.toml")
    if args.labs:
        labs = {i: labs[i] for i in args.labs}
    base = Path(tempfile.mkdtemp(prefix="grader-benchmark-"))
    try:
        make_submissions(labs, base / "submissions", args.students)
        settings = grade.Settings(
            root=args.root, labs=list(labs), jobs=args.jobs, force=True, limits=run.Limits()
        )
        started = time.monotonic()
        try:
            book = grade.grade(base / "submissions", base / "out", settings)
        except grade.GradingError as exc:
            print(f"python -m grader.grading.benchmark: {exc}")
            return 2
        seconds = time.monotonic() - started
    finally:
        shutil.rmtree(base, ignore_errors=True)
    pairs = args.students * len(labs)
    print(
        f"{args.students} students x {len(labs)} labs ({', '.join(labs)}) = {pairs} runs "
        f"(+{len(labs)} solution runs), --jobs {args.jobs}, {os.cpu_count()} cores: "
        f"{seconds:.1f} s, {seconds / pairs:.2f} s per student x lab"
    )
    for lab_id in labs:
        inside = [s.labs[lab_id].seconds for s in book.students]
        print(
            f"  lab {lab_id}: the run's own pytest process {sum(inside) / len(inside):.2f} s on average"
        )
    inside = sum(lab.seconds for s in book.students for lab in s.labs.values()) / pairs
    print(
        f"  of which the labs' test runs themselves: {inside:.2f} s per run on average, "
        f"so {seconds * args.jobs / (pairs + len(labs)) - inside:.2f} s of grader work per run"
    )
    for problem in book.problems:
        print(f"PROBLEM: {problem}")
    return 0


if __name__ == "__main__":
    from grader import signals

    signals.kill_is_ctrl_c()
    raise SystemExit(main())
