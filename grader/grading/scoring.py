"""Turn a run into points: per test, per task, per lab, with the messages a student may see.

The tests that count are the reference run's (the lab's solution graded the same way, hidden
tests included), not whatever the student's run reported: a test the student's run never reported
is failed. A task's points are shared equally by its tests. Only a test whose setup, call and
teardown all passed earns anything; skipped, errored or unreported tests earn nothing. A run
whose integrity failed scores 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from grader.grading.run import Run
from grader.manifest import Lab

MESSAGE_LINES = 20
MESSAGE_CHARS = 1200
SHARE_UNITS = 10_000  # a test's points are whole ten-thousandths
SECRET_MIN = 12  # shorter hidden-source lines are too common to redact ("return None")


@dataclass
class TestResult:
    nodeid: str
    name: str  # the test function, with parameters
    task: int
    hidden: bool
    status: str  # "passed", "failed", "error", "skipped", "not run"
    message: str  # trimmed, redacted; always "" for hidden tests
    score: float
    max_score: float


@dataclass
class TaskResult:
    number: int
    title: str
    hint: str
    score: float
    max_score: float
    tests: list[TestResult]

    @property
    def passed(self) -> bool:
        return all(t.status == "passed" for t in self.tests)


@dataclass
class LabResult:
    lab_id: str
    title: str
    score: float
    max_score: float
    tasks: list[TaskResult]
    flags: list[str] = field(default_factory=list)  # "integrity", "timeout", "crashed", ...
    notes: list[str] = field(default_factory=list)  # for the student
    instructor_notes: list[str] = field(default_factory=list)  # never shown to the student
    seconds: float = 0.0
    cached: bool = False

    def to_json(self) -> dict:
        return asdict(self)


class Redactor:
    """Removes any line of the hidden tests' source from text a student will read."""

    def __init__(self, hidden_dirs: list[Path]) -> None:
        secrets = set()
        for folder in hidden_dirs:
            for path in folder.rglob("*") if folder.is_dir() else []:
                if path.is_file():
                    for line in path.read_text(errors="replace").splitlines():
                        if len(line.strip()) >= SECRET_MIN:
                            secrets.add(line.strip())
        self.secrets = sorted(secrets, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "[redacted: hidden test source]")
        return text


def trim(text: str) -> str:
    """The part of a pytest failure a student needs: the ``E`` lines, else the last lines."""
    lines = text.strip().splitlines()
    explained = [line[1:].strip() for line in lines if line.startswith("E ")]
    if explained:
        kept = explained[:MESSAGE_LINES]
    elif len(lines) > MESSAGE_LINES and not text.lstrip().startswith(("def ", "@", "    ")):
        kept = lines[:MESSAGE_LINES]  # a plain explanation (the labs rewrite raw failures)
    else:
        kept = lines[-MESSAGE_LINES:]
    out = "\n".join(kept).strip()
    if len(out) > MESSAGE_CHARS:
        out = out[: MESSAGE_CHARS - 1] + "…"
    return out


def test_name(nodeid: str) -> str:
    return nodeid.split("::", 1)[-1]


def is_hidden(nodeid: str) -> bool:
    return "/hidden/" in nodeid


def inventory(lab: Lab, reference: Run) -> dict[int, list[str]]:
    """Task -> the node ids that count for it, from the reference run."""
    numbers = {t.number for t in lab.tasks}
    tasks: dict[int, list[str]] = {n: [] for n in numbers}
    for item in reference.collected:
        if item["task"] in numbers:
            tasks[item["task"]].append(item["nodeid"])
    return tasks


def _why_not_run(run: Run, timeout: float) -> str:
    if run.timed_out:
        return (
            f"did not run: the lab's tests were stopped after {timeout:g} s (time limit for a lab)"
        )
    if run.collect_errors:
        return "did not run: the tests could not be loaded:\n" + trim(
            run.collect_errors[0]["message"]
        )
    if not run.finished:
        return (
            f"did not run: the test process ended early (exit status {run.returncode}); "
            "does your file call sys.exit() or os._exit(), or crash the interpreter?"
        )
    return "did not run"


def shares(points: float, count: int) -> list[float]:
    """``points`` split over ``count`` tests in steps of 1/10,000 that add up to ``points`` exactly.

    (Rounding each share on its own gives 3 x 0.3333 = 0.9999 for a 1-point task.)
    """
    units = round(points * SHARE_UNITS)
    each, extra = divmod(units, count)
    return [(each + (i < extra)) / SHARE_UNITS for i in range(count)]


def score(
    lab: Lab,
    reference: Run,
    run: Run,
    redact: Redactor,
    timeout: float,
    notes: list[str],
    infra: list[str] = (),
) -> LabResult:
    tasks_tests = inventory(lab, reference)
    flags: list[str] = []
    instructor: list[str] = []
    if infra:
        flags.append("infra")
        instructor += [f"infra: {why}" for why in infra]
        notes = [
            *notes,
            "The grader itself had a problem running this lab (not your code); "
            "it will be graded again.",
        ]
    if run.integrity:
        flags.append("integrity")
        instructor += [f"integrity: {why}" for why in run.integrity]
    if run.timed_out:
        flags.append("timeout")
    elif not run.finished and not infra:
        flags.append("crashed")
        instructor.append(f"the run ended without finishing (exit status {run.returncode})")
    tasks = []
    for task in lab.tasks:
        nodeids = tasks_tests.get(task.number, [])
        results = []
        for nodeid, share in zip(nodeids, shares(task.points, len(nodeids) or 1), strict=False):
            outcome = run.tests.get(nodeid)
            hidden = is_hidden(nodeid)
            if outcome is None:
                status, message = "not run", _why_not_run(run, timeout)
            else:
                status, message = outcome.status, trim(outcome.message)
            earned = share if status == "passed" and "integrity" not in flags else 0.0
            results.append(
                TestResult(
                    nodeid=nodeid,
                    name=test_name(nodeid),
                    task=task.number,
                    hidden=hidden,
                    status=status,
                    message="" if hidden or status == "passed" else redact(message),
                    score=earned,
                    max_score=share,
                )
            )
        tasks.append(
            TaskResult(
                number=task.number,
                title=task.title,
                hint=task.hint,
                score=round(sum(t.score for t in results), 2),
                max_score=float(task.points),
                tests=results,
            )
        )
    if "integrity" in flags:
        notes = [
            *notes,
            "This lab scored 0: the grader's own checks came out wrong while your code ran "
            "(see your instructor).",
        ]
    if run.timed_out:
        notes = [*notes, f"The lab's tests were stopped after {timeout:g} s."]
    total = round(sum(t.score for t in tasks), 2)
    return LabResult(
        lab_id=lab.id,
        title=lab.title,
        score=total,
        max_score=float(lab.points),
        tasks=tasks,
        flags=flags,
        notes=notes,
        instructor_notes=instructor,
        seconds=run.seconds,
    )


def reference_problems(lab: Lab, reference: Run) -> list[str]:
    """Why the lab's solution does not score full marks in the grader (the instructor's problem)."""
    problems = []
    if reference.integrity:
        problems += [f"lab {lab.id} solution: integrity: {w}" for w in reference.integrity]
    if reference.timed_out:
        problems.append(f"lab {lab.id} solution: stopped by the time limit")
    for error in reference.collect_errors:
        problems.append(f"lab {lab.id} solution: collection error in {error['nodeid']}")
    tasks = inventory(lab, reference)
    for number, nodeids in tasks.items():
        if not nodeids:
            problems.append(f"lab {lab.id} task {number}: no test")
        for nodeid in nodeids:
            outcome = reference.tests.get(nodeid)
            if outcome is None or outcome.status != "passed":
                status = outcome.status if outcome else "not run"
                first = trim(outcome.message).splitlines()[:1] if outcome else []
                why = " (" + " ".join(first[0].split())[:160] + ")" if first else ""
                problems.append(f"lab {lab.id} solution: {nodeid} {status}{why}")
    return problems
