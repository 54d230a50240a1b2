"""Process-wide start-up fixes, applied by ``create_app`` (never by importing ``sanic_ms``).

rfc3987-syntax (which Jupyter pulls in through ``jsonschema[format-nongpl]``) compiles an Earley
grammar when imported: about 3.5 s of CPU in every process that imports jsonschema, that is every
service start and every lab test run. It only checks the "iri" formats, which no schema of ours
uses, so jsonschema is told it is absent and skips those two formats. This edits ``sys.modules``
for the whole process, so it is a function an app's setup calls (before request validation
imports jsonschema), not an effect of importing the framework.
"""

from __future__ import annotations

import sys


def setup() -> None:
    """Apply the fixes above; idempotent, and harmless once jsonschema is already imported."""
    # None in sys.modules makes `import rfc3987_syntax` raise ImportError, which jsonschema
    # takes as "not installed"; setdefault keeps a copy someone imported on purpose.
    # typeshed types sys.modules as holding modules only; None is the import system's own marker.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
