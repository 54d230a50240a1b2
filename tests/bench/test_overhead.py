"""``make bench``: wrk output is read right, and a short run writes every table and CSV.

Speed is never asserted: only that every app and endpoint was measured and the numbers parse.
"""

from __future__ import annotations

import csv
import json
import subprocess

import pytest

from bench import benchmarks_md, overhead_measure, overhead_report
from bench.overhead_measure import Measure
from bench.processes import REPO_ROOT, python

WRK_OK = """\
Running 1s test @ http://127.0.0.1:18099/slow?delay=0
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.23ms    6.25ms  52.92ms   94.34%
    Req/Sec     7.57k     4.09k   12.12k    50.00%
  Latency Distribution
     50%  339.00us
     75%    0.86ms
     90%    5.15ms
     99%   40.04ms
  7560 requests in 1.01s, 1.25MB read
Requests/sec:   7516.72
Transfer/sec:      1.24MB
"""

WRK_ERRORS = """\
Running 1s test @ http://127.0.0.1:18099/slow?delay=x
  1 threads and 4 connections
  Latency Distribution
     50%  499.00us
     75%    1.90ms
     90%    3.65ms
     99%    1.20s
  4680 requests in 1.01s, 0.87MB read
  Socket errors: connect 1, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 4680
Requests/sec:   4645.35
Transfer/sec:      0.86MB
"""


def test_wrk_output_is_read_in_milliseconds():
    assert overhead_measure.parse_wrk(WRK_OK) == {
        "requests": 7560,
        "errors": 0,
        "rps": 7516.72,
        "p50_ms": pytest.approx(0.339),
        "p99_ms": pytest.approx(40.04),
    }


def test_wrk_non_2xx_and_socket_errors_count_as_errors():
    parsed = overhead_measure.parse_wrk(WRK_ERRORS)
    assert parsed["errors"] == 4680 + 1 + 2 + 3
    assert parsed["p99_ms"] == pytest.approx(1200.0)


def test_wrk_output_without_numbers_is_an_error_not_a_zero():
    with pytest.raises(ValueError, match="wrk output has no"):
        overhead_measure.parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


def _measured(cpu_us: dict[tuple[str, str], float]) -> dict[tuple[str, str], Measure]:
    return {
        (app, endpoint): Measure(app, endpoint, "wrk", 50, 8.0, 1000, 0, 1e6 / us, 1.0, 2.0, 0, us)
        for (app, endpoint), us in cpu_us.items()
    }


def test_the_cost_table_splits_the_extra_cpu_along_the_ladder():
    cpu = {
        ("bare", "hello"): 30, ("envelope", "hello"): 32, ("framework", "hello"): 57,
        ("traced", "hello"): 77,
        ("bare", "row"): 70, ("envelope", "row"): 90, ("framework", "row"): 115,
        ("traced", "row"): 160,
    }  # fmt: skip
    table = overhead_report.cost_table(_measured(cpu)).splitlines()

    def cells(start: str) -> list[str]:
        (line,) = [line for line in table if line.startswith(f"| {start}")]
        return [cell.strip() for cell in line.strip("|").split("|")][1:]

    assert cells("pipeline") == ["2", "—"]
    assert cells("database layer") == ["—", "18"]  # (90 - 70) - (32 - 30)
    assert cells("one JSON log line") == ["25", "25"]
    assert cells("SERVER span") == ["20", "—"]
    assert cells("CLIENT span") == ["—", "25"]  # (160 - 115) - (77 - 57)
    assert cells("**all of it**") == ["47", "90"]
    assert cells("budget") == ["20", "47"]  # bare * (1 / 0.6 - 1)


def test_an_app_missing_from_the_run_leaves_its_costs_blank():
    table = overhead_report.cost_table(_measured({("bare", "hello"): 30, ("traced", "hello"): 80}))
    assert "| one JSON log line (`@logger`: `logging` + python-json-logger) | — | — |" in table
    assert "| **all of it** (full stack - bare) | 50 | — |" in table


def test_a_goal_whose_run_answered_errors_is_neither_met_nor_missed():
    chosen = _measured({("traced", "row"): 100, ("litestar_bare", "row"): 300})
    chosen[("litestar_bare", "row")].errors = 5047  # e.g. PostgreSQL out of connections
    (line,) = [line for line in overhead_report.goal_lines(chosen, []) if "Litestar" in line]
    assert line.endswith("NOT MEASURED: litestar_bare row answered 5,047 errors"), line
    chosen[("litestar_bare", "row")].errors = 0
    (line,) = [line for line in overhead_report.goal_lines(chosen, []) if "Litestar" in line]
    assert line.endswith(": met"), line


def test_the_p99_goal_compares_each_apps_lowest_p99_of_the_rounds():
    def run(app: str, round_: int, rps: float, p99: float) -> Measure:
        return Measure(app, "hello", "wrk", 50, 8.0, 1000, 0, rps, 1.0, p99, round_, 50.0)

    measures = [
        run("traced", 1, 10_000, 5.0), run("traced", 2, 10_500, 6.0),
        run("collector_down", 1, 11_000, 5.2), run("collector_down", 2, 11_800, 7.0),
    ]  # fmt: skip
    chosen = overhead_report.best(measures)
    assert chosen[("collector_down", "hello")].p99_ms == 7.0  # the table keeps the fastest round

    def p99_line(**kwargs):
        (line,) = [
            line
            for line in overhead_report.goal_lines(chosen, [], **kwargs)
            if "collector-down" in line
        ]
        return line

    assert p99_line().endswith("MISSED")  # 7.0 / 6.0
    line = p99_line(p99=overhead_report.lowest_p99(measures))
    assert "p99 5.20 ms = 1.04x collector-up 5.00 ms" in line and line.endswith("met"), line


def test_the_run_needs_a_connection_per_pool_slot_of_every_app_and_service():
    from bench.overhead import FACTORY, connections_needed
    from bench.overhead_apps import POOL_SIZE

    workers = sum(FACTORY[app][2] for app in overhead_measure.APPS)
    assert connections_needed(e2e=False) == POOL_SIZE * workers
    assert connections_needed(e2e=True) == POOL_SIZE * workers + 6
    assert connections_needed(e2e=True) <= 97  # PostgreSQL's default 100, 3 reserved


def test_benchmarks_md_keeps_the_hand_written_text(tmp_path):
    begin, end = benchmarks_md.markers("make bench")
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(f"# Benchmarks\n\nWhy.\n\n{begin}\nold\n{end}\n\nAfter.\n")
    benchmarks_md.update("make bench", "new table\n", path)
    assert path.read_text() == f"# Benchmarks\n\nWhy.\n\n{begin}\nnew table\n{end}\n\nAfter.\n"


def test_benchmarks_md_gets_a_section_when_it_has_none(tmp_path):
    begin, end = benchmarks_md.markers("make load")
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\nNotes.\n")
    benchmarks_md.update("make load", "numbers", path)
    text = path.read_text()
    assert text.startswith("# Benchmarks\n\nNotes.\n")
    assert f"{begin}\nnumbers\n{end}" in text


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """One short ``make bench``: 2 s of load, but eight servers to start on a 2-core machine."""
    out = tmp_path_factory.mktemp("bench")
    args = [
        "--duration", "1", "--rounds", "1", "--warmup", "0", "--connections", "4",
        "--e2e-duration", "1", "--e2e-connections", "2",
        "--out", str(out), "--no-benchmarks-md",
    ]  # fmt: skip
    before = (
        (REPO_ROOT / "BENCHMARKS.md").read_bytes()
        if (REPO_ROOT / "BENCHMARKS.md").exists()
        else None
    )
    done = subprocess.run(
        python("-m", "bench.overhead", *args),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    after = (
        (REPO_ROOT / "BENCHMARKS.md").read_bytes()
        if (REPO_ROOT / "BENCHMARKS.md").exists()
        else None
    )
    assert before == after, "--no-benchmarks-md must leave BENCHMARKS.md alone"
    return out


def rows(path):
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


# The run's servers start in the first test that uses it: give that test their startup time.
smoke = pytest.mark.timeout(240)


@smoke
def test_every_app_and_endpoint_is_measured_with_numbers_that_parse(short_run):
    measured = rows(short_run / "summary.csv")
    assert {(r["app"], r["endpoint"]) for r in measured} == {
        (app, endpoint) for app in overhead_measure.APPS for endpoint in overhead_measure.ENDPOINTS
    }
    for r in measured:
        assert int(r["requests"]) > 0
        assert int(r["errors"]) == 0, r  # every app answers both endpoints correctly
        for column in ("rps", "p50_ms", "p99_ms"):
            float(r[column])
        assert r["generator"] in ("wrk", "locust")


@smoke
def test_end_to_end_runs_parallel_and_sequential(short_run):
    e2e = rows(short_run / "e2e.csv")
    assert [(r["endpoint"], r["connections"]) for r in e2e] == [
        ("parallel", "2"),
        ("sequential", "2"),
    ]
    assert all(int(r["requests"]) > 0 and int(r["errors"]) == 0 for r in e2e)


@smoke
def test_traced_app_reports_its_spans_to_the_collector(short_run):
    tracing = json.loads((short_run / "tracing.json").read_text())
    stats = tracing["traced"].get("data", tracing["traced"])
    assert stats["enabled"] is True
    assert tracing["sink"]["spans"] > 0  # the collector really received spans
    down = tracing["collector_down"].get("data", tracing["collector_down"])
    assert down["reporter"]["sent"] == 0  # nothing listens there


@smoke
def test_results_table_states_generator_ratios_and_goals(short_run):
    text = (short_run / "results.md").read_text()
    assert "Load generator: **" in text
    assert "| hello | bare |" in text
    assert "| row | collector_down |" in text
    assert "| row | envelope |" in text
    assert "| one JSON log line" in text and "| budget for all of it at 0.60 of bare |" in text
    assert "full stack" in text
    assert "parallel p50" in text


async def test_a_server_short_of_connections_is_refused_before_anything_starts(database_url):
    from bench.overhead import check_connections

    await check_connections(database_url, 1)  # this server has at least one to spare
    with pytest.raises(SystemExit, match="needs 100000 PostgreSQL connections at once"):
        await check_connections(database_url, 100_000)
