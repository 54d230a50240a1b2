"""``make load``: the lab 00 app answers on every route, and a short load run writes its results.

Speed is never asserted: only that the runs happen and their numbers are there and parse.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bench import load
from bench.processes import HOST, REPO_ROOT, free_port, python, running

APP = REPO_ROOT / "bench" / "blocking_vs_async.py"
BEGIN = re.compile(r"^(?P<indent>[ ]*)# BEGIN SOLUTION task (?P<task>\d+): (?P<todo>.+)$")
END = re.compile(r"^[ ]*# END SOLUTION$")


def starter(source: str) -> str:
    """What the marker convention in bench/blocking_vs_async.py promises the lab 00 starter is."""
    out, inside = [], False
    for line in source.splitlines():
        if match := BEGIN.match(line):
            assert not inside, f"nested BEGIN SOLUTION: {line!r}"
            inside = True
            todo = f"TODO task {match['task']}: {match['todo']}"
            out.append(f'{match["indent"]}raise NotImplementedError("{todo}")')
        elif END.match(line):
            assert inside, f"END SOLUTION without BEGIN: {line!r}"
            inside = False
        elif not inside:
            out.append(line)
    assert not inside, "a BEGIN SOLUTION block is never closed"
    return "\n".join(out) + "\n"


def test_solution_markers_make_a_valid_starter_with_one_todo_per_task():
    source = APP.read_text()
    stub = starter(source)
    compile(stub, "labs/00/blocking_vs_async.py", "exec")  # the starter is valid Python
    assert re.findall(r'NotImplementedError\("TODO task (\d+):', stub) == ["1", "2", "3"]
    # The blocking handlers a student compares against stay in the starter.
    for given in ("time.sleep(delay)", "sync_db.execute(", "urllib.request.urlopen("):
        assert given in stub
    for solved in ("await asyncio.sleep", ".pool.fetchval(", ".http.get("):
        assert solved not in stub


@pytest.fixture(scope="module")
def lab00_app(tmp_path_factory):
    """The lab 00 app and the slow upstream, served as for ``make load``; yields the app's URL."""
    logs = tmp_path_factory.mktemp("lab00")
    upstream = f"http://{HOST}:{free_port()}"
    app = f"http://{HOST}:{free_port()}"
    env = {"IO_DELAY": "0.01", "UPSTREAM_URL": upstream, "DB_POOL_SIZE": "2"}
    with (
        running(
            python("-m", "bench.slow_upstream", "--port", upstream.rsplit(":", 1)[1]),
            logs / "upstream.log",
            ready_url=f"{upstream}/slow?delay=0",
        ),
        running(
            python("-m", "bench.serve", str(APP), "--port", app.rsplit(":", 1)[1]),
            logs / "app.log",
            env=env,
            ready_url=f"{app}/",
        ),
    ):
        yield app


@pytest.mark.parametrize("pair", load.PAIRS)
@pytest.mark.parametrize("style", load.STYLES)
def test_each_handler_does_its_io_and_says_which_it_is(lab00_app, pair, style):
    with urllib.request.urlopen(f"{lab00_app}/{style}/{pair}", timeout=10) as answer:
        body = json.load(answer)
    assert body["pair"] == pair
    assert body["style"] == style
    assert body["waited"] == 0.01
    if pair == "db":
        assert isinstance(body["backend"], int)  # a real PostgreSQL backend answered
    if pair == "http":
        assert body["upstream"] == {"slept": 0.01}


def test_slow_upstream_refuses_a_delay_that_is_not_a_number():
    port = free_port()
    with running(
        python("-m", "bench.slow_upstream", "--port", str(port)),
        Path("/dev/null"),
        ready_url=f"http://{HOST}:{port}/slow?delay=0",
    ):
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(f"http://{HOST}:{port}/slow?delay=soon", timeout=10)
    assert error.value.code == 400
    assert b"delay must be a number" in error.value.read()


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def student_run(tmp_path_factory):
    """A short ``--source`` run against an untouched starter: blocking works, async fails."""
    folder = tmp_path_factory.mktemp("labs") / "00"
    folder.mkdir()
    (folder / "blocking_vs_async.py").write_text(starter(APP.read_text()))
    out = tmp_path_factory.mktemp("load")
    args = ["--users", "3", "--run-time", "3", "--delay-ms", "10", "--pairs", "sleep"]
    done = subprocess.run(
        python("-m", "bench.load", *args, "--source", str(folder), "--out", str(out)),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out, done.stdout


@pytest.mark.timeout(180)  # the short run itself starts in this test
def test_load_run_writes_locust_csvs_summary_table_and_chart(student_run):
    out, stdout = student_run
    for style in load.STYLES:
        assert (out / "locust" / f"sleep_{style}_stats.csv").is_file()
    rows = read_rows(out / "summary.csv")
    assert [(r["pair"], r["style"]) for r in rows] == [("sleep", "blocking"), ("sleep", "async")]
    for row in rows:
        for column in ("rps", "p50_ms", "p95_ms", "p99_ms", "ratio"):
            float(row[column])  # every number parses
        assert int(row["requests"]) > 0
        assert (int(row["users"]), float(row["delay_ms"])) == (3, 10.0)
    assert (out / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (out / "results.md").read_text()
    assert "| sleep |" in table
    assert "async/blocking" in table
    assert "| sleep |" in stdout  # the table is printed too


@pytest.mark.timeout(180)
def test_student_todo_shows_as_failures_not_a_crash(student_run):
    out, _ = student_run
    blocking, async_ = read_rows(out / "summary.csv")
    assert int(blocking["failures"]) == 0
    assert int(async_["failures"]) == int(async_["requests"])  # every call hit the TODO stub
    assert float(async_["ratio"]) == 0.0  # failing fast is not being fast
    assert "/async/sleep failed" in (out / "results.md").read_text()


@pytest.mark.timeout(180)
def test_student_run_shows_the_reference_beside_it(student_run):
    out, _ = student_run
    assert "## Reference run (bench/results/load_reference.csv)" in (out / "results.md").read_text()


def test_reference_run_is_checked_in_and_parses():
    runs = load.read_summary(load.REFERENCE_CSV)
    assert {(r.pair, r.style) for r in runs} == {(p, s) for p in load.PAIRS for s in load.STYLES}
    assert {r.label for r in runs} == {"reference"}
    assert all(r.requests > 0 and r.ratio is not None for r in runs)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "labs/nope"], "no labs/nope/blocking_vs_async.py to serve"),
        (["--pairs", "sleep,disk"], "unknown ['disk']"),
        (["--users", "0"], "need --users >= 1"),
    ],
)
def test_bad_arguments_get_a_clear_error(args, message):
    done = subprocess.run(
        python("-m", "bench.load", *args), cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert message in done.stderr


def test_serve_asks_for_the_file_when_given_a_folder(tmp_path):
    done = subprocess.run(
        python("-m", "bench.serve", str(tmp_path)),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert f"{tmp_path} is a folder: name the file" in done.stderr


def test_locust_final_stats_are_read_from_its_json(tmp_path):
    entry = {
        "start_time": 100.0,
        "last_request_timestamp": 110.0,
        "num_requests": 100,
        "num_failures": 4,
        # locust keys its histogram by rounded milliseconds, as strings once in JSON
        "response_times": {"50": 90, "60": 5, "400": 5},
    }
    path = tmp_path / "run.json"
    path.write_text(json.dumps([entry]))
    assert load.read_stats(path) == {
        "requests": 100,
        "failures": 4,
        "rps": 10.0,
        "p50_ms": 50.0,
        "p95_ms": 60.0,
        "p99_ms": 400.0,
    }


def test_a_run_without_requests_has_no_made_up_numbers(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps([]))
    stats = load.read_stats(path)
    assert (stats["requests"], stats["rps"]) == (0, 0.0)
    assert stats["p50_ms"] != stats["p50_ms"]  # NaN: no latency was measured
