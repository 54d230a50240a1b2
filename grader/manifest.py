"""Read ``labs/manifest.toml``: every lab, the files a student edits, its tasks, points, hints and
the mistakes planted in its solution to prove its tests catch them."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
MANIFEST = REPO_ROOT / "labs" / "manifest.toml"


HINT_LEVELS = ("the idea", "the API to use", "the shape of the code")


@dataclass(frozen=True)
class Task:
    number: int
    title: str
    points: int
    hints: tuple[str, ...]  # level 1 first: the idea, then the API to use, then the code's shape

    @property
    def hint(self) -> str:
        """The first level: what feedback to a student shows without giving the answer away."""
        return self.hints[0] if self.hints else ""


@dataclass(frozen=True)
class Mutation:
    """A mistake students make, planted in the solution: ``find`` becomes ``replace`` in ``file``."""

    name: str
    task: int  # the task whose tests must catch it
    file: str  # a student file of the lab (a key of ``Lab.files``)
    find: str  # occurs exactly once in solutions/NN/<file>
    replace: str
    why: str = ""  # the mistake in a student's words


@dataclass(frozen=True)
class Lab:
    id: str  # "00" ... "06": the folder under labs/ and solutions/
    title: str
    slug: str  # notebooks/<id>_<slug>.ipynb
    minutes: int  # estimated time
    files: dict[str, str]  # file a student edits (relative to labs/<id>) -> its source in the repo
    tasks: tuple[Task, ...]
    mutations: tuple[Mutation, ...] = ()
    min_mutations: int = 0  # planted mistakes `grader check` requires (covering every task)
    agreement: bool = False  # `grader check` also checks README, starter and tests agree
    # The repository the lab lives in (the grader points it at a copy, or its tests at a fixture).
    root: Path = REPO_ROOT

    @property
    def points(self) -> int:
        return sum(task.points for task in self.tasks)

    @property
    def folder(self) -> Path:
        return self.root / "labs" / self.id

    @property
    def solution_folder(self) -> Path:
        return self.root / "solutions" / self.id

    @property
    def notebook(self) -> Path:
        return self.root / "notebooks" / f"{self.id}_{self.slug}.ipynb"

    def task(self, number: int) -> Task:
        for task in self.tasks:
            if task.number == number:
                return task
        raise KeyError(f"lab {self.id} has no task {number}")


def load(path: Path = MANIFEST) -> dict[str, Lab]:
    """Every lab in the manifest, keyed by id, in order (``<root>/labs/manifest.toml``)."""
    path = Path(path)
    with path.open("rb") as f:
        raw = tomllib.load(f)
    labs = {}
    for lab_id, table in sorted(raw.get("labs", {}).items()):
        tasks = tuple(
            Task(int(t["number"]), t["title"], int(t["points"]), _hints(t))
            for t in table.get("tasks", [])
        )
        files = dict(table["files"])
        only = next(iter(files)) if len(files) == 1 else None
        mutations = tuple(
            Mutation(
                name=m["name"],
                task=int(m["task"]),
                file=m.get("file", only),
                find=m["find"],
                replace=m["replace"],
                why=m.get("why", ""),
            )
            for m in table.get("mutations", [])
        )
        labs[lab_id] = Lab(
            id=lab_id,
            title=table["title"],
            slug=table["slug"],
            minutes=int(table.get("minutes", 0)),
            files=files,
            tasks=tasks,
            mutations=mutations,
            min_mutations=int(raw.get("check", {}).get("min_mutations", 0)),
            agreement=bool(raw.get("check", {}).get("agreement", False)),
            root=path.resolve().parent.parent,
        )
    return labs


def _hints(task: dict) -> tuple[str, ...]:
    """``hints = [idea, api, shape]``; a single ``hint = "..."`` is one level (older manifests)."""
    if "hints" in task:
        return tuple(str(level) for level in task["hints"])
    return (task["hint"],) if "hint" in task else ()
