"""A progress bar on stderr: redrawn in place on a terminal, a line every few seconds in a log."""

from __future__ import annotations

import sys
import threading
import time


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    def __init__(self, total: int, label: str, stream=None, enabled: bool = True) -> None:
        self.total = max(total, 1)
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.done = 0
        self.cached = 0
        self.started = time.monotonic()
        self.last_line = 0.0
        self.tty = self.stream.isatty()
        self.lock = threading.Lock()

    def advance(self, what: str = "", cached: bool = False) -> None:
        with self.lock:
            self.done += 1
            self.cached += cached
            self._draw(what)

    def _draw(self, what: str) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        elapsed = now - self.started
        fresh = self.done - self.cached
        eta = ""
        if 0 < self.done < self.total and fresh:
            eta = f"  eta {_clock(elapsed / fresh * (self.total - self.done))}"
        width = 30
        filled = int(width * self.done / self.total)
        bar = "#" * filled + "." * (width - filled)
        line = (
            f"{self.label} [{bar}] {self.done}/{self.total}  {_clock(elapsed)}{eta}"
            + (f"  ({self.cached} cached)" if self.cached else "")
            + (f"  {what}" if what else "")
        )
        if self.tty:
            self.stream.write("\r\x1b[K" + line[:150])
            if self.done >= self.total:
                self.stream.write("\n")
        elif self.done >= self.total or now - self.last_line >= 5 or self.done == 1:
            self.stream.write(line + "\n")
            self.last_line = now
        self.stream.flush()
