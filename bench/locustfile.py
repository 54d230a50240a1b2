"""Locust users: a class per lab 00 handler (``bench/load.py``), ``SoakUser`` (``bench/soak.py``).

Run by ``bench/load.py`` in a process of its own (locust patches the standard library with gevent,
so it never shares a process with the app or the tests). By hand::

    locust -f bench/locustfile.py --headless -u 50 -r 50 -t 15s \
        --host http://127.0.0.1:8000 SleepAsync
"""

from __future__ import annotations

import os
import random

import gevent
from locust import FastHttpUser, between, constant, events, task


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


# --- make soak (bench/soak.py) ------------------------------------------------------------------


class _RequestLog:
    """Every request as a CSV line (start, ms, name, status), for per-phase numbers afterwards.

    Status 0 is a request that got no HTTP answer at all (refused, reset, timed out).
    """

    def __init__(self, path: str):
        self.file = open(path, "w", buffering=1 << 16)  # closed on quit
        self.file.write("start,ms,name,status\n")

    def on_request(self, name, response_time, response=None, start_time=None, **_kwargs) -> None:
        status = getattr(response, "status_code", 0) or 0
        self.file.write(f"{start_time:.3f},{response_time:.1f},{name},{status}\n")

    def close(self, **_kwargs) -> None:
        self.file.close()


if os.environ.get("SOAK_REQUEST_LOG"):
    _log = _RequestLog(os.environ["SOAK_REQUEST_LOG"])
    events.request.add_listener(_log.on_request)
    # quit, not quitting: on SIGTERM locust fires quitting before users finish their requests.
    events.quit.add_listener(_log.close)


class SoakUser(FastHttpUser):
    """Mixed reads and writes on the three example services (URLs from ``SOAK_*_URL``).

    Reads use the seeded rows (never deleted, so always there); each user updates and deletes
    only users it created itself, so every 2xx create and delete is one row more or less.
    """

    wait_time = between(0.02, 0.1)
    users_url = os.environ.get("SOAK_USERS_URL", "http://127.0.0.1:8001")
    cities_url = os.environ.get("SOAK_CITIES_URL", "http://127.0.0.1:8002")
    roles_url = os.environ.get("SOAK_ROLES_URL", "http://127.0.0.1:8003")
    seeded = int(os.environ.get("SOAK_SEEDED_USERS", "20"))
    cities = int(os.environ.get("SOAK_SEEDED_CITIES", "5"))
    roles = int(os.environ.get("SOAK_SEEDED_ROLES", "3"))

    def on_start(self) -> None:
        self.mine: list[int] = []

    @task(6)
    def get_user(self) -> None:
        user = random.randint(1, self.seeded)
        self.client.get(f"{self.users_url}/users/{user}", name="GET /users/<id>")

    @task(2)
    def list_users(self) -> None:
        self.client.get(f"{self.users_url}/users?page=1&size=10", name="GET /users")

    @task(2)
    def get_city(self) -> None:
        city = random.randint(1, self.cities)
        self.client.get(f"{self.cities_url}/cities/{city}", name="GET /cities/<id>")

    @task(2)
    def get_role(self) -> None:
        role = random.randint(1, self.roles)
        self.client.get(f"{self.roles_url}/roles/{role}", name="GET /roles/<id>")

    @task(3)
    def create_user(self) -> None:
        body = {
            "name": f"soak {random.randrange(10**9)}",
            "age": random.randint(18, 90),
            "city_id": random.randint(1, self.cities),
            "role_id": random.randint(1, self.roles),
        }
        with self.client.post(
            f"{self.users_url}/users", json=body, name="POST /users", catch_response=True
        ) as response:
            if 200 <= response.status_code < 300:
                self.mine.append(response.json()["data"]["id"])
            else:
                response.failure(f"HTTP {response.status_code}")

    @task(1)
    def update_user(self) -> None:
        if self.mine:
            user = random.choice(self.mine)
            body = {"age": random.randint(18, 90)}
            self.client.put(f"{self.users_url}/users/{user}", json=body, name="PUT /users/<id>")

    @task(2)
    def delete_user(self) -> None:
        if self.mine:
            user = self.mine[-1]
            with self.client.delete(
                f"{self.users_url}/users/{user}", name="DELETE /users/<id>", catch_response=True
            ) as response:
                if 200 <= response.status_code < 300:
                    self.mine.pop()
                else:
                    if response.status_code == 404:
                        self.mine.pop()  # gone already: an earlier delete did it after all
                    response.failure(f"HTTP {response.status_code}")

    @task(1)
    def create_city(self) -> None:
        body = {"name": f"city {random.randrange(10**9)}"}
        self.client.post(f"{self.cities_url}/cities", json=body, name="POST /cities")

    @task(1)
    def create_role(self) -> None:
        body = {"name": f"role {random.randrange(10**9)}"}
        self.client.post(f"{self.roles_url}/roles", json=body, name="POST /roles")
