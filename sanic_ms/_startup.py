"""Process-wide start-up fixes, imported first by ``sanic_ms``.

rfc3987-syntax (which Jupyter pulls in through ``jsonschema[format-nongpl]``) compiles an Earley
grammar when imported: about 3.5 s of CPU in every process that imports jsonschema, that is every
service start and every lab test run. It only checks the "iri" formats, which no schema of ours
uses, so jsonschema is told it is absent and skips those two formats.
"""

import sys

sys.modules.setdefault("rfc3987_syntax", None)
