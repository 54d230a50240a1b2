"""The openapi package's public surface, and its place below ``sanic_ms.doc`` (one-way imports)."""

from __future__ import annotations

import subprocess
import sys

from sanic_ms import doc, openapi


def test_the_public_surface_is_sorted_and_importable():
    assert openapi.__all__ == sorted(openapi.__all__, key=lambda n: (not n.isupper(), n))
    missing = [name for name in openapi.__all__ if not hasattr(openapi, name)]
    assert not missing, f"openapi.__all__ names what the package does not define: {missing}"


def test_doc_re_exports_the_records_and_field_helpers():
    missing = [name for name in doc.__all__ if not hasattr(doc, name)]
    assert not missing, f"doc.__all__ names what sanic_ms.doc does not define: {missing}"
    assert doc.String is openapi.fields.String and doc.RouteDoc is openapi.declarations.RouteDoc


def test_the_document_never_imports_the_decorators():
    # sanic_ms.doc imports the openapi package; the other way round would be a cycle.
    code = "import sys, sanic_ms.openapi; print('sanic_ms.doc' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
