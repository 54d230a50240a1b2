"""A run's output through a pipe the grader drains: the head and the tail kept, the middle cut.

Written to a file, a run's output counted against its file-size limit: 100 MB of debugging prints
repeated in pytest's report of a failure filled it, and pytest's own summary was lost. Through a
pipe that a thread of the grader empties as fast as the run writes, output costs the run nothing
and the instructor's log keeps the first ``HEAD`` and the last ``TAIL`` bytes.
"""

from __future__ import annotations

import os
import threading

HEAD = 64 * 1024
TAIL = 64 * 1024
CHUNK = 1 << 16


class CappedOutput:
    """``fd`` is the pipe's write end for the run; ``close()`` writes what was kept to ``path``."""

    def __init__(self, path) -> None:
        self.path = path
        read_fd, self.fd = os.pipe()
        self.head = bytearray()
        self.tail = bytearray()
        self.cut = 0
        self.thread = threading.Thread(target=self._drain, args=(read_fd,), daemon=True)
        self.thread.start()

    def _drain(self, read_fd: int) -> None:
        with os.fdopen(read_fd, "rb", buffering=0) as pipe:
            while chunk := pipe.read(CHUNK):
                room = HEAD - len(self.head)
                if room > 0:
                    self.head += chunk[:room]
                    chunk = chunk[room:]
                self.tail += chunk
                if len(self.tail) > 2 * TAIL:  # trim now and then, not at every chunk
                    self.cut += len(self.tail) - TAIL
                    del self.tail[:-TAIL]

    def parent_done(self) -> None:
        """Close the grader's copy of the write end (the run holds its own)."""
        os.close(self.fd)

    def close(self, timeout: float = 5) -> None:
        """Wait for every writer to be gone (or ``timeout``), then write the log file."""
        self.thread.join(timeout)
        if len(self.tail) > TAIL:
            self.cut += len(self.tail) - TAIL
            del self.tail[:-TAIL]
        with open(self.path, "wb") as f:
            f.write(self.head)
            if self.cut:
                f.write(f"\n[grader: {self.cut} bytes of output cut here]\n".encode())
            f.write(self.tail)
