"""The garbage collector, tuned for a server: young collections every 20,000 objects, not 700.

CPython collects its youngest generation each time the container objects allocated and not yet
freed grow by 700 (``gc.get_threshold()[0]``). Most of a request's objects are freed before the
next one starts, but finished spans wait in the tracing reporter's queue for their batch (up to
``TRACING_BATCH_SIZE``, half a second by default), and each is a handful of objects: under load
the count crosses 700 every few requests, and every collection walks the survivors again. At
5,000 traced requests/s that was about 4 % of the worker's CPU (470 ms of collections in an 11 s
run); with ``GC_THRESHOLD = 20_000``, 35 to 55 ms. Cycles are still collected, only less often: a
little memory, never a leak.

The setting is the process's, so apps served side by side in one process (tests, a notebook)
share it: the first to start keeps what Python had, the last to stop puts it back.
"""

from __future__ import annotations

import gc
import threading

_lock = threading.Lock()
_users = 0
_original: tuple[int, int, int] | None = None


def tune(threshold: int) -> bool:
    """Collect the young generation every ``threshold`` net allocations, or less often if it is
    already set so; False, changing nothing, when ``threshold`` is 0 or less. Pair each True with
    :func:`release`."""
    global _users, _original
    if threshold <= 0:
        return False
    with _lock:
        young, older, oldest = gc.get_threshold()
        if _users == 0:
            _original = (young, older, oldest)
        _users += 1
        gc.set_threshold(max(threshold, young), older, oldest)  # never below what is set
    return True


def release() -> None:
    """One server that tuned has stopped; the last one puts Python's thresholds back."""
    global _users, _original
    with _lock:
        if _users == 0:
            return
        _users -= 1
        if _users == 0 and _original is not None:
            gc.set_threshold(*_original)
            _original = None
