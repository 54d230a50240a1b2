"""What the plugin's tests share: pytest run on a folder of tests, in a process of its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def run_pytest(folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m pytest -q`` on ``folder`` (its working directory too), as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
