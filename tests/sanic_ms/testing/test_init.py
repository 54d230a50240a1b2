"""sanic_ms.testing's public surface, and importing it changing nothing global."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import sanic_ms.testing

REPO = Path(__file__).resolve().parents[3]


def test_all_is_sorted_and_every_name_is_there():
    names = sanic_ms.testing.__all__
    assert names == sorted(names)
    missing = [name for name in names if not hasattr(sanic_ms.testing, name)]
    assert missing == []


def test_the_seed_import_paths_still_work():
    from sanic_ms.tests import APITestCase, MockServices

    assert APITestCase is sanic_ms.testing.APITestCase
    assert MockServices is sanic_ms.testing.MockServices


def test_importing_it_flips_no_global_switch():
    # In a fresh interpreter: this session's plugin already turned test mode on here.
    probe = textwrap.dedent(
        """
        import logging, sys
        path, handlers = list(sys.path), list(logging.getLogger().handlers)
        import sanic_ms.testing
        from sanic import Sanic
        print(Sanic.test_mode, sys.path == path, logging.getLogger().handlers == handlers,
              "pytest" in sys.modules)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "True", "True", "False"]


def test_allow_same_name_apps_is_what_turns_test_mode_on(monkeypatch):
    from sanic import Sanic

    monkeypatch.setattr(Sanic, "test_mode", False)
    sanic_ms.testing.allow_same_name_apps()
    assert Sanic.test_mode is True
