"""The framework's layering, as ``make lint`` checks it: the contracts of ``[tool.importlinter]``.

``library``: ``sanic_ms`` imports nothing of ``grader``, ``examples``, ``bench`` or ``labs`` (the
``solutions/NN`` folders are no package: nothing can import them by name). ``acyclic``: within
``sanic_ms`` and each of its packages, no module imports another that imports it back, directly
or through others. ``course-acyclic``: the same within ``grader``, ``examples`` and ``bench``
(``grader.grading`` imports no ``grader.__main__``; the examples' tests take
``running_services`` as a fixture, not from their conftest). ``examples``: the examples import
nothing of ``grader``, ``bench`` or ``labs`` but the development database (``grader.postgres``),
and ``dev-database``: that helper imports nothing of the course, so ``grader.notebook`` may serve
the examples without a cycle.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CONTRACTS = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
    "contracts"
]


def test_the_contracts_are_the_ones_this_file_describes():
    assert [c["id"] for c in CONTRACTS] == [
        "library",
        "acyclic",
        "course-acyclic",
        "examples",
        "dev-database",
    ]


@pytest.mark.parametrize("contract", [c["id"] for c in CONTRACTS])
def test_import_contract_is_kept(contract):
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--contract", contract],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
