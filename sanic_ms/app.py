"""``create_app``: a Sanic app with the pool, the downstream clients and the envelope wired in."""

from __future__ import annotations

import argparse
import logging
import os
import re
from types import ModuleType, SimpleNamespace
from typing import Any

from sanic import Sanic
from sanic.config import Config

from . import _startup, gc_tuning, middleware, tracing
from . import settings as default_settings
from .client import Client, Clients, SessionFactory, session_factory_of, use_session_factory
from .db import Database
from .dsn import MissingDatabaseURL
from .log import setup_logging
from .openapi import setup as setup_openapi

log = logging.getLogger("sanic_ms")

_NAME = re.compile(r"[A-Za-z][\w-]*\Z")


def create_app(
    name: str,
    settings: dict[str, Any] | ModuleType | argparse.Namespace | None = None,
    *,
    defaults: dict[str, Any] | ModuleType | None = None,
    session_factory: SessionFactory | None = None,
) -> Sanic[Config, SimpleNamespace]:
    """Build an app named ``name``; nothing connects until the server starts.

    Settings are UPPERCASE names (a dict or a module): ``defaults`` (the service's own) override
    those of ``sanic_ms.settings``, environment variables override both, and ``settings`` passed
    here override everything (see ``sanic_ms.settings.load``). ``DATABASE_URL`` is required:
    without it, :class:`sanic_ms.dsn.MissingDatabaseURL` says how to set it. ``session_factory``
    gives the downstream clients their HTTP session (a fake one in tests; see ``sanic_ms.client``).
    """
    if not _NAME.match(name):
        raise ValueError(
            f"app name {name!r} is not allowed: Sanic needs a letter, then letters, digits, _ or -"
        )
    if isinstance(settings, argparse.Namespace):
        # `sanic mod:create_app --factory` first calls the factory with its own parsed options
        # (host, port, workers): they are the CLI's business, not settings of ours.
        settings = None
    # Everything that can refuse the settings runs before Sanic(name) registers the name: a
    # caller that retries (Sanic's CLI does, after a TypeError) must not find the name taken.
    config = default_settings.load(settings, base=defaults)
    if not config["DATABASE_URL"]:
        raise MissingDatabaseURL(
            f"create_app({name!r})", "or pass it: create_app(name, {'DATABASE_URL': ...})"
        )
    _startup.setup()
    setup_logging(config["LOG_CONFIG"], config["LOG_LEVEL"])
    app = Sanic(name, configure_logging=False)
    try:
        app.config.update(config)
        middleware.setup(app)
        tracing.setup(app)
        setup_openapi(app)  # /openapi/spec.json, Swagger UI, request validation
        if session_factory is not None:
            use_session_factory(app, session_factory)
    except BaseException:
        Sanic.unregister_app(app)
        raise

    @app.before_server_start
    async def _start(app: Sanic[Config, SimpleNamespace]) -> None:
        app.ctx.db = await Database.from_config(app.config, app.config.DATABASE_URL).connect()
        factory = session_factory_of(app)
        app.ctx.clients = Clients(
            {
                service: Client(
                    service,
                    url,
                    timeout=app.config.CLIENT_TIMEOUT,
                    max_size=app.config.CLIENT_MAX_SIZE,
                    session_factory=factory,
                )
                for service, url in app.config.SERVICES.items()
            }
        )
        await app.ctx.clients.start()

    @app.after_server_start
    async def _started(app: Sanic[Config, SimpleNamespace]) -> None:
        app.ctx.gc_tuned = gc_tuning.tune(app.config.GC_THRESHOLD)  # collect less often
        # One line per worker process: how a supervisor (or a test) knows each one is up.
        log.info("%s serving on %s", app.name, app.serve_location, extra={"pid": os.getpid()})

    @app.after_server_stop
    async def _stop(app: Sanic[Config, SimpleNamespace]) -> None:
        if getattr(app.ctx, "gc_tuned", False):
            app.ctx.gc_tuned = False
            gc_tuning.release()
        clients = getattr(app.ctx, "clients", None)
        if clients is not None:
            await clients.close()
        db = getattr(app.ctx, "db", None)
        if db is not None:
            await db.close()

    return app
