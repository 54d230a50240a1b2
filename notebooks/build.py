"""Build the lab notebooks (``notebooks/NN_slug.ipynb``) from their sources in ``notebooks/src/``.

A source is a Python file in "percent" format: a line ``# %%`` starts a code cell, and a line
``# %% [markdown]`` a markdown cell whose lines each start with ``# ``. The notebooks are written
without outputs (and without execution counts), so what is committed is exactly what this script
writes; ``tests/test_notebooks.py`` checks that. Edit the source, then run::

    python notebooks/build.py          # rewrite every notebook
    python notebooks/build.py --check  # exit 1 and name the notebooks that differ
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"
# "python3" is the Python running Jupyter: the project's virtualenv under `make notebooks`, the
# image's Python in docker-compose's Jupyter. `make notebooks` also registers it by name
# ("sanic-ms-workshop") for editors that start kernels themselves.
KERNEL = {
    "name": "python3",
    "display_name": "Python 3 (sanic-ms workshop)",
    "language": "python",
}


def _cell(kind: str, lines: list[str]):
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    if kind == "markdown":
        text = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in lines)
        return new_markdown_cell(text)
    return new_code_cell("\n".join(lines))


def cells(source: str) -> list:
    """The cells of a percent-format source."""
    out, kind, lines = [], None, []
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
    return nbformat.writes(nb) + "\n"


def targets() -> dict[Path, str]:
    """notebooks/<name>.ipynb -> the text it must hold, for every source."""
    return {HERE / f"{src.stem}.ipynb": render(src) for src in sorted(SOURCES.glob("*.py"))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    stale = []
    for path, text in targets().items():
        if path.exists() and path.read_text() == text:
            continue
        stale.append(path.name)
        if not args.check:
            path.write_text(text)
    verb = "differ from their sources" if args.check else "written"
    print(f"{len(stale)} notebook(s) {verb}" + (f": {', '.join(stale)}" if stale else ""))
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
