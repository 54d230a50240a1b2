"""A lab's tests from a notebook cell: run in a bounded child, shown as a table of tasks."""

from __future__ import annotations

from typing import Any

from grader import labrun, manifest
from grader.labprogress import LabProgress, progress_of
from grader.notebook.kernel import lab_environ


async def lab(
    lab_id: str, *, solution: bool = False, display: bool = True, limit: float = 120.0
) -> LabProgress:
    """Run ``pytest labs/<lab_id>`` in a child process and show which tasks pass.

    Never raises because tests fail: an unfinished lab is the normal state. The table is displayed
    (HTML in Jupyter, text elsewhere) and returned. ``solution=True`` tests ``solutions/<lab_id>``.
    The run is stopped after ``limit`` seconds, and the table says so, naming the lab.
    """
    labs = manifest.load()
    if lab_id not in labs or not labs[lab_id].folder.is_dir():
        progress = LabProgress(lab_id, "(not in labs/manifest.toml yet)", summary="no such lab yet")
        _show(progress, display)
        return progress
    if display:
        print(f"running pytest {'solutions' if solution else 'labs'}/{lab_id} ...", flush=True)
    result = await labrun.run_async(
        [f"labs/{lab_id}"],
        solution=solution,
        limit=limit,
        env=lab_environ(),  # the lab's tests get the variables set aside
        args=("--color=no",),
    )
    summary = result.summary
    if not result.tests and not result.problem:
        summary = f"no results (pytest exit code {result.returncode}): {summary}"
    progress = progress_of(lab_id, result.tests, summary, result.seconds, labs)
    progress.solution = solution
    _show(progress, display)
    return progress


def _show(obj: Any, display: bool) -> None:
    if not display:
        return
    try:  # Jupyter's, when there: a plain `python` runs the notebook helpers as well
        from IPython import get_ipython
        from IPython.display import display as ipython_display
    except ImportError:
        print(obj)
        return
    if get_ipython() is None:
        print(obj)
    else:
        ipython_display(obj)
