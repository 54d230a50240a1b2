"""Build the lab notebooks (``notebooks/NN_slug.ipynb``) from their sources in ``notebooks/src/``.

A source is a Python file in "percent" format: a line ``# %%`` starts a code cell, and a line
``# %% [markdown]`` a markdown cell whose lines each start with ``# ``. The notebooks are written
without outputs (and without execution counts), so what is committed is exactly what this script
writes; ``tests/grader/test_notebooks_run.py`` checks that. Edit the source, then run::

    python -m grader build          # rewrite every notebook (and the labs' generated files)
    python -m grader build --check  # exit 1 and name the notebooks that differ
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader import manifest

HERE = manifest.REPO_ROOT / "notebooks"
SOURCES = HERE / "src"
# "python3" is the Python running Jupyter: the project's virtualenv under `make notebooks`, the
# image's Python in docker-compose's Jupyter. `make notebooks` also registers it by name
# ("sanic-ms-workshop") for editors that start kernels themselves.
KERNEL = {
    "name": "python3",
    "display_name": "Python 3 (sanic-ms workshop)",
    "language": "python",
}


def _cell(kind: str, lines: list[str]) -> Any:
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    if kind == "markdown":
        text = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in lines)
        return new_markdown_cell(text)
    return new_code_cell("\n".join(lines))


def cells(source: str) -> list[Any]:
    """The cells of a percent-format source."""
    out: list[Any] = []
    kind: str | None = None
    lines: list[str] = []
    for line in source.splitlines():
        if line.startswith("# %%"):
            if kind is not None:
                out.append(_cell(kind, lines))
            kind = "markdown" if "[markdown]" in line else "code"
            lines = []
        elif kind is not None:
            lines.append(line)
    if kind is not None:
        out.append(_cell(kind, lines))
    return [c for c in out if c.source]


def render(source_path: Path) -> str:
    """The notebook JSON text for one source, with stable cell ids (built from the file name)."""
    nb = new_notebook(cells=cells(source_path.read_text()))
    nb.metadata["kernelspec"] = KERNEL
    nb.metadata["language_info"] = {"name": "python"}
    for number, cell in enumerate(nb.cells):
        cell["id"] = f"{source_path.stem[:2]}-{number:02d}"  # stable ids keep diffs small
    nbformat.validate(nb)
    return str(nbformat.writes(nb)) + "\n"


def targets() -> dict[Path, str]:
    """notebooks/<name>.ipynb -> the text it must hold, for every source."""
    return {HERE / f"{src.stem}.ipynb": render(src) for src in sorted(SOURCES.glob("*.py"))}


def build(check: bool = False) -> list[str]:
    """Write (or with ``check``, compare) every notebook; return the ones that differ."""
    problems = []
    for path, text in targets().items():
        if path.exists() and path.read_text() == text:
            continue
        rel = path.relative_to(manifest.REPO_ROOT)
        if check:
            problems.append(f"{rel}: differs from notebooks/src/ (run `python -m grader build`)")
        else:
            path.write_text(text)
    return problems
