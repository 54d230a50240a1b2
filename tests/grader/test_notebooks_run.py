"""The lab notebooks: each runs top to bottom in a fresh kernel and is committed without outputs.

The kernel is the ``python3`` kernelspec that ipykernel installs into this virtualenv
(``.venv/share/jupyter/kernels/python3``); its command is ``python``, which jupyter_client runs as
the interpreter running these tests, so the kernel sees exactly the project's environment on a
fresh clone without any ``ipykernel install``. ``test_kernel_is_this_environment`` checks that.

The seven notebooks run two at a time (the machine has two cores) in one session fixture; each
test then looks at its own notebook's result.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from grader import build_notebooks, labprogress, manifest
from grader import notebook as nb_support
from grader.notebook import kernel
from grader.postgres import resolve

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO_ROOT / "notebooks"
KERNEL = "python3"
CELL_TIMEOUT = 90  # seconds one cell may run
NOTEBOOK_LIMIT = 120  # seconds a whole notebook may run (the bound)
WORKERS = 2
# Notebooks that draw a picture (matplotlib) when run top to bottom: name -> at least this many.
PICTURES = {
    "00_async_vs_blocking": 1,
    "01_pool": 1,
    "03_tracing": 1,
    "04_migrations": 1,
}
LOOPBACK = re.compile(r"https?://(?!127\.0\.0\.1|localhost)[\w.-]+")


def committed() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


@dataclass
class Execution:
    notebook: nbformat.NotebookNode
    seconds: float
    error: str | None  # the failing cell's error as nbclient reports it, or why it was stopped


async def execute(path: Path, limit: float = NOTEBOOK_LIMIT) -> Execution:
    """Run a notebook top to bottom in a fresh kernel started in the notebook's folder."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name=KERNEL,
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(path.parent)}},
    )
    began = time.perf_counter()
    error = None
    try:
        await asyncio.wait_for(client.async_execute(), limit)
    except CellExecutionError as exc:
        error = str(exc)
    except TimeoutError:
        error = f"{path.name} did not finish within {limit:.0f} s"
    return Execution(notebook, time.perf_counter() - began, error)


# This run's notebook databases are nbNN<TAG>_...: another notebook run on the same server (a
# student's Jupyter, a second test session) neither counts here nor trips the check.
TAG = f"t{os.getpid()}"


async def _notebook_databases() -> set[str]:
    conn = await asyncpg.connect(resolve().dsn)
    try:
        rows = await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname ~ $1", f"^nb[0-9]{{2}}{TAG}_"
        )
    finally:
        await conn.close()
    return {row["datname"] for row in rows}


@dataclass
class Session:
    executions: dict[str, Execution]
    left_behind: set[str]  # notebook databases (nbNN_...) that appeared during the run and stayed


@pytest.fixture(scope="session")
def session() -> Session:
    """Every committed notebook executed, ``WORKERS`` at a time; times in reports/notebooks.json."""

    async def run_all() -> Session:
        os.environ["NOTEBOOK_DB_TAG"] = TAG  # the kernels inherit it
        before = await _notebook_databases()
        gate = asyncio.Semaphore(WORKERS)

        async def one(path: Path) -> tuple[str, Execution]:
            async with gate:
                return path.stem, await execute(path)

        executions = dict(await asyncio.gather(*(one(path) for path in committed())))
        return Session(executions, await _notebook_databases() - before)

    try:
        result = asyncio.run(run_all())
    finally:
        os.environ.pop("NOTEBOOK_DB_TAG", None)
    report = REPO_ROOT / "reports" / "notebooks.json"
    report.parent.mkdir(exist_ok=True)
    times = {name: round(run.seconds, 1) for name, run in result.executions.items()}
    report.write_text(json.dumps({"workers": WORKERS, "seconds": times}, indent=1) + "\n")
    return result


def _text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif "data" in output:
            parts.append(output.data.get("text/plain", ""))
    return "".join(parts)


# --------------------------------------------------------------------------- the files


def test_every_lab_has_its_notebook():
    labs = manifest.load()
    assert labs, "labs/manifest.toml lists no lab"
    missing = [lab.notebook.name for lab in labs.values() if not lab.notebook.exists()]
    assert not missing, f"labs without a notebook (notebooks/<id>_<slug>.ipynb): {missing}"
    for path in committed():
        lab_id = path.name[:2]
        if lab_id in labs:
            assert path == labs[lab_id].notebook, f"{path.name}: the manifest's slug says otherwise"


def test_notebooks_are_built_from_their_sources():
    targets = build_notebooks.targets()
    assert {p.name for p in targets} == {p.name for p in committed()}
    stale = [p.name for p, text in targets.items() if p.read_text() != text]
    assert not stale, f"run `python -m grader build`: {stale} differ from notebooks/src/"


@pytest.mark.parametrize("path", committed(), ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    dirty = [
        i
        for i, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, f"{path.name}: cells {dirty} hold outputs; clear them before committing"


@pytest.mark.parametrize("path", committed(), ids=lambda p: p.stem)
def test_code_reaches_only_loopback(path):
    notebook = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    assert not LOOPBACK.findall(code), f"{path.name} names a non-loopback URL"


@pytest.mark.parametrize("path", committed(), ids=lambda p: p.stem)
def test_your_turn_runs_the_labs_tests(path):
    notebook = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    assert f'nb.lab("{path.name[:2]}")' in code, f"{path.name} has no 'your turn' cell for its lab"
    assert "await nb.cleanup()" in notebook.cells[-1].source, "the last cell must clean up"


# --------------------------------------------------------------------------- the kernel and errors


@pytest.mark.timeout(150)
def test_kernel_is_this_environment(tmp_path):
    path = tmp_path / "which.ipynb"
    nbformat.write(
        nbformat.v4.new_notebook(
            cells=[nbformat.v4.new_code_cell("import sys; print(sys.executable)")]
        ),
        path,
    )
    result = asyncio.run(execute(path))
    assert result.error is None, result.error
    assert _text(result.notebook.cells[0]).strip() == sys.executable


@pytest.mark.timeout(150)
def test_a_failing_cell_fails_the_run_with_its_error(tmp_path):
    path = tmp_path / "broken.ipynb"
    cells = [
        nbformat.v4.new_code_cell("ready = True"),
        nbformat.v4.new_code_cell("raise ValueError('broken on purpose')"),
        nbformat.v4.new_code_cell("print('after the failure')"),
    ]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    result = asyncio.run(execute(path))
    assert result.error is not None, "a raising cell must fail the run"
    assert "ValueError" in result.error and "broken on purpose" in result.error
    assert "raise ValueError('broken on purpose')" in result.error  # the cell's source is shown
    assert not result.notebook.cells[2].get("outputs"), "cells after the failure must not run"


# --------------------------------------------------------------------------- helpers, in process


def test_lab_progress_counts_a_task_done_only_when_all_its_tests_pass():
    lab = next(iter(manifest.load().values()))
    first, *others = lab.tasks
    tests = {
        "t1": {"lab": lab.id, "task": first.number, "outcome": "passed", "message": ""},
        "t2": {"lab": lab.id, "task": first.number, "outcome": "passed", "message": ""},
    }
    for task in others:
        tests[f"ok{task.number}"] = {"lab": lab.id, "task": task.number, "outcome": "passed"}
        tests[f"no{task.number}"] = {
            "lab": lab.id,
            "task": task.number,
            "outcome": "failed",
            "message": "\x1b[31mTODO task\x1b[0m still raises",
        }
    progress = labprogress.progress_of(lab.id, tests, "some failed", 1.0)
    assert [t.done for t in progress.tasks] == [True] + [False] * len(others)
    assert progress.points == first.points
    if others:
        assert progress.next_task.number == others[0].number
        assert progress.next_task.first_failure == "TODO task still raises"  # colours stripped
        assert f"grader hint {lab.id} {others[0].number}" in str(progress)
        assert "✘" in progress._repr_html_()


def test_waterfall_puts_children_under_their_parent_in_start_order():
    def span(id_, parent, start, duration, service, name, **extra):
        out = {"traceId": "t", "id": id_, "timestamp": start, "duration": duration, "name": name}
        out["localEndpoint"] = {"serviceName": service}
        if parent:
            out["parentId"] = parent
        return {**out, **extra}

    spans = [
        span("c2", "root", 1_300, 500, "users", "get", kind="CLIENT",
             tags={"peer.service": "roles"}),
        span("root", None, 1_000, 2_000, "users", "get /users/<id:int>", kind="SERVER"),
        span("q", "root", 1_100, 100, "users", "select", kind="CLIENT",
             tags={"sql.query": "SELECT *  FROM users"}),
        span("s2", "c2", 1_400, 300, "roles", "get /roles/<id:int>", kind="SERVER"),
    ]  # fmt: skip
    bars = nb_support.waterfall(spans)
    assert [(b.depth, b.label) for b in bars] == [
        (0, "users: get /users/<id:int>"),
        (1, "users -> postgresql: SELECT * FROM users"),
        (1, "users -> roles: get"),
        (2, "roles: get /roles/<id:int>"),
    ]
    assert (bars[0].start_ms, bars[0].duration_ms) == (0.0, 2.0)
    assert bars[3].start_ms == pytest.approx(0.4)


# --------------------------------------------------------------------------- every notebook runs


SESSION_LIMIT = -(-len(committed()) // WORKERS) * NOTEBOOK_LIMIT + 120  # a guard against hangs


@pytest.mark.timeout(SESSION_LIMIT)
@pytest.mark.parametrize("path", committed(), ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, session):
    result = session.executions[path.stem]
    assert result.error is None, f"{path.name} failed ({result.seconds:.0f} s):\n{result.error}"
    cells = result.notebook.cells
    turn = next(
        c for c in cells if c.cell_type == "code" and f'nb.lab("{path.name[:2]}")' in c.source
    )
    shown = _text(turn)
    assert f"Lab {path.name[:2]}" in shown and "points" in shown, (
        f"the 'your turn' cell showed no progress table:\n{shown}"
    )
    pictures = sum(
        "image/png" in output.get("data", {})
        for cell in cells
        for output in cell.get("outputs", [])
    )
    assert pictures >= PICTURES.get(path.stem, 0), f"{path.name} drew {pictures} picture(s)"


@pytest.mark.timeout(SESSION_LIMIT)
def test_notebooks_drop_their_databases(session):
    assert not session.left_behind, f"databases the notebooks left behind: {session.left_behind}"


def test_notebook_apps_ignore_redirecting_environment(monkeypatch):
    # docker-compose's Jupyter sets these for its own services; a notebook's apps use their own.
    dsn = resolve().dsn
    monkeypatch.setenv("DATABASE_URL", dsn)
    monkeypatch.setenv("CITIES_SERVICE_URL", "http://cities:8002")
    monkeypatch.setenv("ZIPKIN_URL", "http://zipkin:9411")
    monkeypatch.setattr(kernel, "_lab_environ", None)
    kernel.own_settings()
    from sanic_ms import settings

    loaded = settings.load({"DATABASE_URL": "postgresql://notebook/db", "SERVICES": {}})
    assert loaded["DATABASE_URL"] == "postgresql://notebook/db"
    assert loaded["SERVICES"] == {} and loaded["ZIPKIN_URL"] is None
    # The lab's tests, run from the notebook, still get the environment as it was.
    assert kernel.lab_environ()["CITIES_SERVICE_URL"] == "http://cities:8002"
    assert kernel.lab_environ()["DATABASE_URL"] == dsn


def test_student_code_plugs_the_lab_file_in_or_falls_back_with_a_note():
    import sys

    import sanic_ms.migrations.model as reference

    async def refuse(modules):
        assert modules["model.py"] is not reference  # the check sees the student's module
        raise AssertionError("planted: not ready")

    async def main():
        mine = await nb_support.student_code("04", "model.py", solution=True)
        try:
            assert mine.yours, mine.note
            assert "Running your code: solutions/04/model.py" in mine.note
            assert sys.modules["sanic_ms.migrations.model"] is mine["model.py"]
        finally:
            nb_support.undo_plugs()
        assert sys.modules["sanic_ms.migrations.model"] is reference
        fallback = await nb_support.student_code("04", "model.py", solution=True, check=refuse)
        assert not fallback.yours and fallback["model.py"] is reference
        assert (
            "runs the reference instead" in fallback.note and "planted: not ready" in fallback.note
        )
        assert sys.modules["sanic_ms.migrations.model"] is reference
        assert "border-left" in fallback._repr_html_()

    asyncio.run(main())
