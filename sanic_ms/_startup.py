"""Process-wide start-up fixes, applied by ``create_app`` (never by importing ``sanic_ms``).

rfc3987-syntax (which Jupyter pulls in through ``jsonschema[format-nongpl]``) compiles an Earley
grammar when imported: about 3.5 s of CPU in every process that imports jsonschema, that is every
service start and every lab test run. It only checks the "iri" formats, which no schema of ours
uses, so jsonschema is told it is absent and skips those two formats. This edits ``sys.modules``
for the whole process, so it is a function an app's setup calls (before request validation
imports jsonschema), not an effect of importing the framework.

Sanic guesses each route's error format by reading and parsing its handler's source, at every
``add_route``: a few milliseconds a route, paid again by every app a test builds (its static
routes' handler is a long function). The guess depends on the handler's code only, so it is
remembered per code object.
"""

from __future__ import annotations

import inspect
import sys
from types import CodeType
from typing import Any

from sanic.mixins.routes import RouteMixin


def setup() -> None:
    """Apply the fixes above; idempotent, and harmless once jsonschema is already imported."""
    # None in sys.modules makes `import rfc3987_syntax` raise ImportError, which jsonschema
    # takes as "not installed"; setdefault keeps a copy someone imported on purpose.
    # typeshed types sys.modules as holding modules only; None is the import system's own marker.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    _remember_error_formats()


def _remember_error_formats() -> None:
    guess = RouteMixin._determine_error_format
    if getattr(guess, "remembered", False):
        return
    known: dict[CodeType, str] = {}

    def remembered(self: RouteMixin, handler: Any) -> str:
        # Sanic reads the source of what inspect.getsource unwraps to: key on that code.
        code = getattr(inspect.unwrap(handler), "__code__", None)
        if not isinstance(code, CodeType):
            return guess(self, handler)
        if code not in known:
            known[code] = guess(self, handler)
        return known[code]

    remembered.remembered = True  # type: ignore[attr-defined]
    RouteMixin._determine_error_format = remembered  # type: ignore[method-assign]
