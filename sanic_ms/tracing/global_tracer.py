"""``opentracing.tracer`` follows the apps that run, so a library's spans join the request's trace.

``opentracing.tracer`` is the global that library code written against OpenTracing uses (as the
seed's own code did): while an app runs it is that app's tracer, so a library span started inside
a request is a child of the request's span. Several apps in one process (the demo, a notebook)
stack up: the latest started wins, and stopping one hands it back.
"""

from __future__ import annotations

from typing import Any

import opentracing

from .context import active_span
from .tracer import Tracer

_installed: list[Any] = []
_before: tuple[Any, bool] | None = None


class _JoinRequests:
    """OpenTelemetry's shim as the global: a span started with no parent joins the request's.

    The shim only sees spans activated through OpenTelemetry's context, and ours are activated
    in ``context.ACTIVE``; our own Tracer reads that ContextVar already and needs no wrapper.
    """

    def __init__(self, shim: Any) -> None:
        self._shim = shim

    def __getattr__(self, name: str) -> Any:
        return getattr(self._shim, name)

    def _parent(self, child_of: Any, references: Any, ignore_active_span: bool) -> Any:
        if child_of is None and not references and not ignore_active_span:
            if self._shim.active_span is None:
                return active_span()
        return child_of

    def start_span(
        self,
        operation_name: str | None = None,
        child_of: Any = None,
        references: Any = None,
        **kwargs: Any,
    ) -> Any:
        parent = self._parent(child_of, references, kwargs.get("ignore_active_span", False))
        return self._shim.start_span(operation_name, parent, references, **kwargs)

    def start_active_span(
        self, operation_name: str, child_of: Any = None, references: Any = None, **kwargs: Any
    ) -> Any:
        parent = self._parent(child_of, references, kwargs.get("ignore_active_span", False))
        return self._shim.start_active_span(operation_name, parent, references, **kwargs)


def install_global_tracer(tracer: Any) -> None:
    """Make ``tracer`` ``opentracing.tracer`` until :func:`uninstall_global_tracer`."""
    global _before
    if not _installed:
        _before = (opentracing.tracer, opentracing.is_global_tracer_registered())
    _installed.append(tracer if isinstance(tracer, Tracer) else _JoinRequests(tracer))
    opentracing.set_global_tracer(_installed[-1])


def uninstall_global_tracer(tracer: Any) -> None:
    """Hand ``opentracing.tracer`` back: to the app started before, or to what it was before."""
    mine = [t for t in _installed if t is tracer or getattr(t, "_shim", None) is tracer]
    for installed in mine:
        _installed.remove(installed)
    if opentracing.tracer not in mine:
        return  # somebody else set the global since: theirs now
    if _installed:
        opentracing.set_global_tracer(_installed[-1])
    elif _before is not None:
        opentracing.tracer, opentracing.is_tracer_registered = _before
