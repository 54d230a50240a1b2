"""What a run did, per model (`Report`), and where each model stands (`ModelStatus`)."""

from __future__ import annotations

import dataclasses
from typing import Any

from .records import Record


@dataclasses.dataclass
class Applied:
    version: str
    author: str | None
    notes: list[str]


@dataclasses.dataclass
class ModelReport:
    """What one run did to one model's table."""

    name: str
    table: str
    created: bool = False
    applied: list[Applied] = dataclasses.field(default_factory=list)

    def lines(self) -> list[str]:
        head = f"{self.name} ({self.table})"
        if not self.created and not self.applied:
            return [f"{head}: up to date"]
        out = [f"{head}: created table" if self.created else f"{head}:"]
        for item in self.applied:
            by = f" by {item.author}" if item.author else ""
            out.append(f"  applied {item.version}{by}")
            out.extend(f"    {note}" for note in item.notes)
        return out


@dataclasses.dataclass
class Report:
    """What :func:`~sanic_ms.migrations.apply` did, per model."""

    models: list[ModelReport]
    waited: bool = False

    @property
    def applied(self) -> int:
        return sum(len(m.applied) for m in self.models)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        lines = ["waited for another migration runner"] if self.waited else []
        for model in self.models:
            lines.extend(model.lines())
        lines.append(f"{self.applied} version(s) applied")
        return "\n".join(lines)


@dataclasses.dataclass
class ModelStatus:
    """Applied and pending versions of one model."""

    name: str
    table: str
    table_exists: bool
    applied: list[Record]
    pending: list[str]
    unknown: list[str]  # recorded, but no longer defined in the code

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for row in data["applied"]:
            for key in ("authored_at", "applied_at"):
                row[key] = row[key].isoformat() if row[key] else None
        return data

    def lines(self) -> list[str]:
        exists = "" if self.table_exists else ", table absent"
        out = [f"{self.name} ({self.table}{exists})"]
        for row in self.applied:
            by = f" by {row.author}" if row.author else ""
            gone = "  (not in the code)" if row.version in self.unknown else ""
            when = row.applied_at.isoformat(timespec="seconds")
            out.append(f"  applied  {row.version}{by} at {when}{gone}")
        out.extend(f"  pending  {version}" for version in self.pending)
        if not self.applied and not self.pending:
            out.append("  (no versions defined)")
        return out
