"""The notebook kernel's own setup: same-named apps allowed, redirecting variables set aside."""

from __future__ import annotations

import os

from grader import postgres
from sanic_ms.testing import allow_same_name_apps

# Environment variables override an app's own settings (sanic_ms.settings). A notebook wires its
# apps explicitly (its database, its services on loopback ports), so in the kernel the variables
# that would send them elsewhere are set aside once PostgreSQL is resolved (docker-compose's
# Jupyter sets DATABASE_URL and USERS_SERVICE_URL...). The lab's tests get them back.
REDIRECTS = ("DATABASE_URL", "DB_REPLICA_URL", "ZIPKIN_URL")
_lab_environ: dict[str, str] | None = None


def setup() -> None:
    """Called by every notebook's first cell (and by ``start``); safe to call again."""
    # Notebook cells are rerun, and apps keep their names (users, cities ...). Here, not at import:
    # importing is free.
    allow_same_name_apps()


def own_settings() -> None:
    """Set the redirecting variables aside, in this kernel only, once PostgreSQL is resolved."""
    global _lab_environ
    if _lab_environ is not None:
        return
    postgres.resolve()  # cached for this process: decided with the environment as it was
    _lab_environ = dict(os.environ)
    for name in list(os.environ):
        if name in REDIRECTS or name.endswith("_SERVICE_URL"):
            del os.environ[name]


def lab_environ() -> dict[str, str]:
    """The environment as it was before :func:`own_settings`: what a lab's tests run with."""
    return dict(_lab_environ if _lab_environ is not None else os.environ)
