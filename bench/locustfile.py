"""Locust users for ``bench/load.py``: one user class per handler, no wait between requests.

Run by ``bench/load.py`` in a process of its own (locust patches the standard library with gevent,
so it never shares a process with the app or the tests). By hand::

    locust -f bench/locustfile.py --headless -u 50 -r 50 -t 15s \
        --host http://127.0.0.1:8000 SleepAsync
"""

from __future__ import annotations

import os

import gevent
from locust import FastHttpUser, constant, events, task


@events.init.add_listener
def _fresh_clock(**_kwargs) -> None:
    # gevent's loop caches "now" and has not run since locust began importing; without a fresh
    # clock the --run-time timer, armed right after this event, counts the startup too and a
    # short run can end before its first request.
    gevent.get_hub().loop.update_now()


class _OneRoute(FastHttpUser):
    abstract = True
    wait_time = constant(0)  # every user sends its next request as soon as the last one answers
    path = "/"

    @task
    def hit(self) -> None:
        self.client.get(self.path, name=self.path)


class SleepBlocking(_OneRoute):
    path = "/blocking/sleep"


class SleepAsync(_OneRoute):
    path = "/async/sleep"


class DbBlocking(_OneRoute):
    path = "/blocking/db"


class DbAsync(_OneRoute):
    path = "/async/db"


class HttpBlocking(_OneRoute):
    path = "/blocking/http"


class HttpAsync(_OneRoute):
    path = "/async/http"


class AnyPath(_OneRoute):
    """``make bench`` without wrk: the path in ``LOCUST_PATH`` (set by ``bench/overhead.py``)."""

    path = os.environ.get("LOCUST_PATH", "/")
