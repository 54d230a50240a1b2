"""Rewrite one generated section of BENCHMARKS.md, leaving the hand-written text around it alone."""

from __future__ import annotations

from pathlib import Path

from bench.processes import REPO_ROOT

BENCHMARKS_MD = REPO_ROOT / "BENCHMARKS.md"


def markers(name: str) -> tuple[str, str]:
    return f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"


def update(name: str, section: str, path: Path = BENCHMARKS_MD) -> None:
    """Replace the text between ``name``'s markers (appended at the end when missing)."""
    begin, end = markers(name)
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if begin not in text or end not in text:
        text = text.rstrip("\n") + f"\n\n{begin}\n{end}\n"
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    path.write_text(f"{head}{begin}\n{section.rstrip(chr(10))}\n{end}{tail}")
