"""The notebooks' helpers (``grader.notebook``): importing them is free, ``setup`` does the work."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_importing_the_helpers_changes_no_class_attribute_until_setup():
    # In a child: this test session's own conftest has set Sanic.test_mode already.
    code = (
        "from sanic import Sanic\n"
        "from grader import notebook as nb\n"
        "assert not Sanic.test_mode, 'importing grader.notebook set Sanic.test_mode'\n"
        "nb.setup()\n"
        "assert Sanic.test_mode, 'nb.setup() must allow apps of the same name'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_every_name_a_notebook_uses_is_public():
    from grader import notebook as nb

    used = {
        name
        for source in (REPO / "notebooks" / "src").glob("*.py")
        for name in re.findall(r"\bnb\.(\w+)", source.read_text())
    }
    assert used - set(nb.__all__) == set(), "notebooks use names grader.notebook does not export"
    missing = [name for name in nb.__all__ if not hasattr(nb, name)]
    assert not missing, f"grader.notebook.__all__ names what it does not define: {missing}"
