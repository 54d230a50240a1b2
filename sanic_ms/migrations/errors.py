"""The two ways migrations fail: written wrong (at class definition) or failed while running."""

from __future__ import annotations

from .report import Report


class MigrationDefinitionError(TypeError):
    """A migration class or ``@info`` is written wrong; raised while the class is defined."""


class MigrationError(RuntimeError):
    """A migration failed; its transaction was rolled back and nothing was recorded for it."""

    def __init__(self, message: str, report: Report | None = None):
        super().__init__(message)
        self.report = report
