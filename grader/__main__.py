"""``python -m grader``: build, check, grade, Gradescope, and the students' hint and status."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from grader import manifest

STUDENT_COMMANDS = {
    # command -> (module written by the labs, function taking argv)
    "build": ("grader.build", "main_build"),
    "hint": ("grader.student", "main_hint"),
    "status": ("grader.student", "main_status"),
    "watch": ("grader.student", "main_watch"),
}


def _labs_arg(text: str) -> list[str]:
    return [part.strip().zfill(2) for part in text.split(",") if part.strip()]


def _root_arg(text: str) -> Path:
    root = Path(text).resolve()
    if not (root / "labs" / "manifest.toml").is_file():
        raise argparse.ArgumentTypeError(f"{root} has no labs/manifest.toml")
    return root


def _add_limits(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="S",
        help="seconds for a whole lab's tests (default 120)",
    )
    parser.add_argument(
        "--test-timeout",
        type=float,
        default=20.0,
        metavar="S",
        help="seconds per test (default 20; a lab's own limit may be lower)",
    )
    parser.add_argument(
        "--memory",
        type=int,
        default=2048,
        metavar="MB",
        help="address-space limit of a run (default 2048)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=96,
        help="processes and threads a run may have (default 96)",
    )
    parser.add_argument(
        "--file-size",
        type=int,
        default=64,
        metavar="MB",
        help="largest file a run may write (default 64)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__)
    parser.add_argument(
        "--root",
        type=_root_arg,
        default=manifest.REPO_ROOT,
        help="the repository holding labs/manifest.toml (default: this one)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check", help="instructor's pre-flight of every lab")
    check.add_argument("--lab", type=_labs_arg, help="only these labs (e.g. 01 or 01,03)")
    check.add_argument("--jobs", type=int, default=0, help="parallel runs (default: cores)")
    check.add_argument(
        "--no-mutants",
        action="store_true",
        help="skip planting the manifest's mistakes in the solutions (faster, less checked)",
    )
    check.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        metavar="S",
        help="seconds for one lab's tests (default 300)",
    )
    check.add_argument(
        "--strict-drift",
        action="store_true",
        help="fail when a student's file in labs/ differs from its source (the default when CI "
        "is set)",
    )

    grade = commands.add_parser("grade", help="grade a folder of submissions")
    grade.add_argument("submissions", type=Path, help="one folder, .zip or .tar.gz per student")
    grade.add_argument("--out", type=Path, required=True, help="where the reports go")
    grade.add_argument("--labs", type=_labs_arg, help="only these labs, e.g. 00,03")
    grade.add_argument(
        "--jobs",
        type=int,
        default=0,
        help="parallel runs (default: the cores, fewer under a cgroup CPU quota or memory limit)",
    )
    grade.add_argument(
        "--hidden-tests",
        type=Path,
        metavar="DIR",
        help="extra tests per lab in DIR/NN/, shown to students by name only",
    )
    grade.add_argument("--force", action="store_true", help="re-run even unchanged submissions")
    grade.add_argument(
        "--no-netns",
        action="store_true",
        help="do not isolate the network (when a namespace breaks something)",
    )
    grade.add_argument("--quiet", action="store_true", help="no progress bar")
    grade.add_argument(
        "--strict",
        action="store_true",
        help="a file the static review flags scores its lab 0 (default: flagged for review only)",
    )
    _add_limits(grade)

    gradescope = commands.add_parser("gradescope", help="grade inside a Gradescope autograder")
    gradescope.add_argument(
        "--autograder",
        type=Path,
        default=Path("/autograder"),
        help="the autograder folder (default /autograder)",
    )
    gradescope.add_argument("--labs", type=_labs_arg, help="only these labs")
    gradescope.add_argument("--hidden-tests", type=Path, metavar="DIR")
    gradescope.add_argument(
        "--jobs",
        type=int,
        default=0,
        help="parallel runs (default: from the container's CPU quota and memory limit)",
    )
    gradescope.add_argument(
        "--prepare",
        action="store_true",
        help="setup.sh: grade each lab's solution once and cache it for every submission",
    )
    _add_limits(gradescope)

    bundle = commands.add_parser("gradescope-bundle", help="write the zip to upload to Gradescope")
    bundle.add_argument("--out", type=Path, required=True, help="the .zip to write")
    bundle.add_argument("--labs", type=_labs_arg, help="only these labs")
    bundle.add_argument("--hidden-tests", type=Path, metavar="DIR")
    return parser


def _limits(args: argparse.Namespace):
    from grader.grading.run import Limits

    return Limits(
        timeout=args.timeout,
        test_timeout=args.test_timeout,
        memory_mb=args.memory,
        processes=args.processes,
        file_mb=args.file_size,
    )


def _student_command(command: str, argv: list[str]) -> int:
    module_name, function = STUDENT_COMMANDS[command]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        module = None
    entry = getattr(module, function, None)
    if entry is None:
        print(
            f"python -m grader {command}: not built yet ({module_name}.{function} is missing; "
            "it comes with the labs)",
            file=sys.stderr,
        )
        return 2
    return int(entry(argv) or 0)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in STUDENT_COMMANDS:
        return _student_command(argv[0], argv[1:])
    args = _parser().parse_args(argv)
    if args.command == "check":
        from grader import check

        return check.main(
            args.root, args.lab, args.jobs, args.timeout, args.strict_drift, not args.no_mutants
        )
    if args.command == "grade":
        from grader.grading import grade

        settings = grade.Settings(
            root=args.root,
            labs=args.labs,
            jobs=args.jobs,
            hidden=args.hidden_tests,
            limits=_limits(args),
            force=args.force,
            isolate_network=not args.no_netns,
            progress=not args.quiet,
            strict=args.strict,
        )
        try:
            book = grade.grade(args.submissions, args.out, settings)
        except grade.GradingError as exc:
            print(f"python -m grader grade: {exc}", file=sys.stderr)
            return 2
        grade.print_summary(book, args.out)
        return 1 if book.problems else 0
    if args.command == "gradescope":
        from grader.grading import gradescope

        if args.prepare:
            return gradescope.main_prepare(
                args.root, args.labs, args.hidden_tests, _limits(args), args.jobs
            )
        return gradescope.main_run(
            args.root, args.autograder, args.labs, args.hidden_tests, _limits(args), args.jobs
        )
    if args.command == "gradescope-bundle":
        from grader.grading import gradescope

        return gradescope.main_bundle(args.root, args.out, args.labs, args.hidden_tests)
    return 2


if __name__ == "__main__":
    from grader import signals, venv

    venv.ensure(["-m", "grader", *sys.argv[1:]], "python -m grader")
    os.umask(0o022)  # reports and workspaces must stay readable whatever the shell's umask
    signals.kill_is_ctrl_c()
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
