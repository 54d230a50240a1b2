"""Importing sanic_ms changes nothing in the process; create_app applies the start-up fixes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

PROBE = textwrap.dedent(
    """
    import logging, sys
    from sanic import Sanic

    def state():
        return (
            list(sys.path), logging.root.level, list(logging.root.handlers), logging._srcfile,
            logging.logThreads, logging.logProcesses, Sanic.test_mode,
        )

    before, modules = state(), set(sys.modules)
    import sanic_ms
    assert state() == before, (before, state())
    assert "rfc3987_syntax" not in sys.modules, "import edited sys.modules"
    # jsonschema comes with the first validator, after create_app's fix: imported now, it would
    # import rfc3987-syntax (seconds) before the fix could stop it.
    assert "jsonschema" not in sys.modules, "import sanic_ms imported jsonschema"
    new = {name.partition(".")[0] for name in set(sys.modules) - modules}
    assert not new & {"grader", "examples", "labs", "bench"}, new
    sanic_ms.create_app("probe", {"DATABASE_URL": "postgresql://h/d"})
    assert sys.modules["rfc3987_syntax"] is None
    from sanic_ms.validation import RequestValidator
    RequestValidator(body={"type": "object"}).check(None, {})
    assert sys.modules["rfc3987_syntax"] is None and "jsonschema" in sys.modules
    print("ok")
    """
)


def test_importing_sanic_ms_changes_no_global_state():
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_the_error_format_guess_is_made_once_per_handler_code(monkeypatch):
    from sanic import Sanic, json, text
    from sanic.mixins import routes

    from sanic_ms import _startup

    _startup.setup()
    read = []
    original = routes.getsource
    monkeypatch.setattr(routes, "getsource", lambda f: read.append(f) or original(f))

    def make(kind):
        async def handler(request):
            return text("x") if kind == "text" else json({})

        async def plain(request):
            return text("x")

        return plain if kind == "text" else handler

    app = Sanic("startup_guess_probe")
    try:
        first, second, other = make("text"), make("text"), make("json")
        assert app._determine_error_format(first) == "text"
        assert app._determine_error_format(second) == "text"
        assert read == [first], "a second function of the same code was read again"
        # Other code is read and guessed on its own (two kinds of response: no guess).
        assert app._determine_error_format(other) == ""
        assert read == [first, other]
    finally:
        Sanic.unregister_app(app)
