"""The public surface of ``sanic_ms.migrations``: what the seed and the services import."""

from __future__ import annotations

import subprocess
import sys

from sanic_ms import migrations


def test_all_is_sorted_and_every_name_is_there():
    assert migrations.__all__ == sorted(migrations.__all__, key=lambda n: (not n.isupper(), n))
    missing = [name for name in migrations.__all__ if not hasattr(migrations, name)]
    assert not missing


def test_the_seeds_imports_work():
    code = "from sanic_ms.migrations import MigrationModel, info, db, migrate; print(db.obj)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"  # importing connects to nothing
