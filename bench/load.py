"""``make load``: locust against each blocking/async handler pair of lab 00; a table and a chart.

Starts the slow upstream (``bench/slow_upstream.py``) and the lab 00 app
(``bench/blocking_vs_async.py``, or ``--source labs/00`` for a student's) as processes of their own,
then runs locust headless, in a process of its own, once per handler: same users, same time, one
worker. Writes into ``--out`` (``reports/load`` by default, ``reports/load/<source>`` for another
source):

* ``locust/<pair>_<style>_stats.csv`` ... : locust's own CSVs, and ``<pair>_<style>.json``, its
  final stats, which the numbers below come from;
* ``summary.csv``: one row per handler (columns in ``COLUMNS``);
* ``results.md``: requests/s, p50, p95, failures and the async/blocking ratio per pair;
* ``chart.png``: requests/s per pair, blocking beside async (and beside the reference run).

``--reference`` also stores the summary as ``bench/results/load_reference.csv`` (+ ``.md``), the
checked-in run the lab 00 notebook shows next to a student's, and in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from bench import benchmarks_md, machine
from bench.processes import (
    HOST,
    REPO_ROOT,
    die_with_parent,
    free_port,
    python,
    running,
    wait_http,
)

DEFAULT_SOURCE = "bench/blocking_vs_async.py"
APP_FILE = "blocking_vs_async.py"
REFERENCE_CSV = REPO_ROOT / "bench" / "results" / "load_reference.csv"
PAIRS = ("sleep", "db", "http")
STYLES = ("blocking", "async")
SECTION = "make load"  # the part of BENCHMARKS.md a --reference run writes
SLEEP_GOAL = 45.0  # async/blocking req/s for the sleep pair at 50 users, 50 ms (theory: 50)
SPAWN_RATE = 1000  # users per second (locust warns above 100; harmless for a local target)
MAX_POOL = 80  # PostgreSQL allows 100 connections by default; leave some for everyone else


@dataclass
class Run:
    """One locust run against one handler, as stored in ``summary.csv``."""

    label: str  # "reference" for the checked-in run, else the source it served
    pair: str
    style: str
    route: str
    users: int
    delay_ms: float
    seconds: float
    requests: int
    failures: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    ratio: float | None = None  # async/blocking req/s of its pair, on both rows of the pair


COLUMNS = [f.name for f in fields(Run)]


def user_class(pair: str, style: str) -> str:
    return f"{pair.capitalize()}{style.capitalize()}"  # as in bench/locustfile.py


def resolve_source(source: str) -> Path:
    """``labs/00`` or ``labs/00/blocking_vs_async.py`` -> the app file, checked to exist."""
    path = Path(source)
    if not path.is_absolute():
        path = REPO_ROOT / path
    if path.suffix != ".py":  # a folder, such as labs/00
        path = path / APP_FILE
    if not path.is_file():
        raise SystemExit(f"--source {source}: no {path.relative_to(REPO_ROOT)} to serve")
    return path


def default_out(source: str) -> Path:
    if source == DEFAULT_SOURCE:
        return REPO_ROOT / "reports" / "load"
    slug = re.sub(r"[^\w.-]+", "_", source.strip("/")).strip("_")
    return REPO_ROOT / "reports" / "load" / slug


def run_locust(pair: str, style: str, host: str, users: int, seconds: float, csv_dir: Path) -> Path:
    """One bounded headless locust run; returns the path of its final stats (JSON)."""
    prefix = csv_dir / f"{pair}_{style}"
    args = python(
        "-m", "locust",
        "-f", str(REPO_ROOT / "bench" / "locustfile.py"),
        "--headless",
        "--users", str(users),
        # Everyone at once: locust sleeps 1/rate between spawns and resets the stats only when the
        # last user is up, so a rate of `users` would eat a second of a short run.
        "--spawn-rate", str(SPAWN_RATE),
        "--run-time", f"{seconds:g}s",
        "--stop-timeout", "0",
        "--reset-stats",  # count from the moment all users are running
        "--host", host,
        "--csv", str(prefix),
        "--json-file", str(prefix),  # locust adds .json
        "--only-summary",
        "--loglevel", "WARNING",
        user_class(pair, style),
    )  # fmt: skip
    log = csv_dir / f"{pair}_{style}.log"
    with log.open("wb") as out:
        # Locust exits 1 when any request failed; failures are data here, so only a missing CSV
        # counts as the run failing. The timeout bounds a hung run.
        subprocess.run(
            args,
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=seconds + 60,
            preexec_fn=die_with_parent,
        )
    # The numbers come from --json-file, written once the run is over. The _stats.csv files are
    # rewritten only once a second while locust runs, so they can miss the last second (or, in
    # a short run, everything after the stats reset).
    stats = Path(f"{prefix}.json")
    if not stats.is_file():
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"locust wrote no {stats.name}; its output:\n{tail}")
    return stats


def percentile(histogram: dict[float, int], fraction: float) -> float:
    """The smallest response time (ms) at or under which ``fraction`` of the requests fall."""
    total = sum(histogram.values())
    if total == 0:
        return float("nan")
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= fraction * total:
            return value
    return max(histogram)


def read_stats(stats: Path) -> dict[str, float]:
    """Requests, failures, req/s and percentiles from a locust ``--json-file``, all entries."""
    entries = json.loads(stats.read_text())
    requests = sum(e["num_requests"] for e in entries)
    histogram: dict[float, int] = {}
    for entry in entries:
        for value, count in entry["response_times"].items():  # rounded ms -> requests
            histogram[float(value)] = histogram.get(float(value), 0) + count
    start = min((e["start_time"] for e in entries), default=0.0)
    last = max((e["last_request_timestamp"] or 0.0 for e in entries), default=0.0)
    return {
        "requests": requests,
        "failures": sum(e["num_failures"] for e in entries),
        "rps": requests / (last - start) if requests and last > start else 0.0,
        "p50_ms": percentile(histogram, 0.50),
        "p95_ms": percentile(histogram, 0.95),
        "p99_ms": percentile(histogram, 0.99),
    }


def answered_rps(run: Run) -> float:
    """Requests/s that succeeded: a handler failing fast (a TODO stub) must not look fast."""
    if run.requests == 0:
        return 0.0
    return run.rps * (run.requests - run.failures) / run.requests


def add_ratios(runs: list[Run]) -> None:
    """Async/blocking ratio of successful requests/s, on both rows of each pair."""
    by_key = {(r.pair, r.style): r for r in runs}
    for pair in PAIRS:
        blocking, async_ = by_key.get((pair, "blocking")), by_key.get((pair, "async"))
        if blocking and async_ and answered_rps(blocking) > 0:
            ratio = round(answered_rps(async_) / answered_rps(blocking), 1)
            blocking.ratio = async_.ratio = ratio


def write_summary(runs: list[Run], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for run in runs:
            writer.writerow(asdict(run))


def read_summary(path: Path) -> list[Run]:
    """Runs from a ``summary.csv`` (or the reference CSV), numbers parsed."""
    runs = []
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            runs.append(
                Run(
                    label=row["label"],
                    pair=row["pair"],
                    style=row["style"],
                    route=row["route"],
                    users=int(row["users"]),
                    delay_ms=float(row["delay_ms"]),
                    seconds=float(row["seconds"]),
                    requests=int(row["requests"]),
                    failures=int(row["failures"]),
                    rps=float(row["rps"]),
                    p50_ms=float(row["p50_ms"]),
                    p95_ms=float(row["p95_ms"]),
                    p99_ms=float(row["p99_ms"]),
                    ratio=float(row["ratio"]) if row["ratio"] else None,
                )
            )
    return runs


def markdown_table(runs: list[Run]) -> str:
    by_key = {(r.pair, r.style): r for r in runs}
    lines = [
        "| pair | blocking req/s | async req/s | async/blocking | blocking p50 / p95 ms "
        "| async p50 / p95 ms | failures (blocking, async) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for pair in PAIRS:
        b, a = by_key.get((pair, "blocking")), by_key.get((pair, "async"))
        if not (b and a):
            continue
        ratio = f"{a.ratio:.1f}x" if a.ratio is not None else "n/a"
        lines.append(
            f"| {pair} | {b.rps:.1f} | {a.rps:.1f} | {ratio} | {b.p50_ms:.0f} / {b.p95_ms:.0f} "
            f"| {a.p50_ms:.0f} / {a.p95_ms:.0f} | {b.failures}, {a.failures} |"
        )
    return "\n".join(lines)


def goal_line(runs: list[Run]) -> str:
    sleep = next((r for r in runs if r.pair == "sleep" and r.ratio is not None), None)
    if sleep is None:
        return "Sleep pair not measured."
    verdict = "meets" if sleep.ratio >= SLEEP_GOAL else "misses"
    conditions = (
        "" if (sleep.users, sleep.delay_ms) == (50, 50) else " (goal is set for 50 users, 50 ms)"
    )
    line = (
        f"Sleep pair: {sleep.ratio:.1f}x, {verdict} the goal of {SLEEP_GOAL:.0f}x"
        f"{conditions}; theory is users = {sleep.users}x."
    )
    failed = [r for r in runs if r.failures]
    if failed:
        line += " Failed requests do not count: " + ", ".join(
            f"{r.route} failed {r.failures} of {r.requests}" for r in failed
        )
        line += " (a handler still raising its TODO? its traceback is in app.log)."
    return line


def write_markdown(
    runs: list[Run], path: Path, title: str, info: dict[str, str], command: str,
    reference: list[Run] | None = None,
) -> None:  # fmt: skip
    first = runs[0]
    parts = [
        f"# {title}",
        "",
        f"{first.users} users, {first.delay_ms:g} ms of I/O per request, "
        f"{first.seconds:g} s per handler, one Sanic worker, locust FastHttpUser with no wait.",
        "",
        markdown_table(runs),
        "",
        goal_line(runs),
        "",
        f"Machine: {machine.markdown(info)}.",
        "",
        f"Command: `{command}`",
    ]
    if reference:
        parts += [
            "",
            "## Reference run (bench/results/load_reference.csv)",
            "",
            markdown_table(reference),
        ]
    path.write_text("\n".join(parts) + "\n")


def write_chart(runs: list[Run], path: Path, title: str, reference: list[Run] | None) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on servers and CI
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    series = [("yours" if reference else "", runs)]
    if reference:
        series.insert(0, ("reference", reference))
    bars = [(name, style) for name, _ in series for style in STYLES]
    width = 0.8 / len(bars)
    colors = {"blocking": "#d62728", "async": "#2ca02c"}
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for index, (name, style) in enumerate(bars):
        data = {r.pair: r for r in dict(series)[name] if r.style == style}
        xs = [p + (index - (len(bars) - 1) / 2) * width for p in range(len(PAIRS))]
        heights = [data[p].rps if p in data else 0 for p in PAIRS]
        faded = name == "reference"
        rects = ax.bar(
            xs, heights, width, label=f"{name} {style}".strip(), color=colors[style],
            alpha=0.35 if faded else 0.9, hatch="//" if faded else None,
        )  # fmt: skip
        ax.bar_label(rects, labels=[f"{h:.0f}" for h in heights], fontsize=8)
    # The ratio goes under each pair's name: it is the number the lab is about.
    ratios = {r.pair: r.ratio for r in runs if r.ratio is not None}
    ax.set_xticks(
        range(len(PAIRS)),
        [f"{p}\n{ratios[p]:.0f}x faster" if p in ratios else p for p in PAIRS],
    )
    ax.set_yscale("log")  # a 50x gap hides the blocking bars on a linear axis
    tallest = max((r.rps for _, rs in series for r in rs), default=1)
    ax.set_ylim(1, max(tallest, 1) * 4)  # room above the bars for their labels
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda y, _: f"{y:g}"))
    ax.set_ylabel("requests/s (log scale)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=50, help="concurrent users (default 50)")
    parser.add_argument(
        "--run-time", type=float, default=15.0, help="seconds per handler (default 15)"
    )
    parser.add_argument(
        "--delay-ms", type=float, default=50.0, help="simulated I/O per request (default 50)"
    )
    parser.add_argument("--source", default=DEFAULT_SOURCE, help="app file or folder, e.g. labs/00")
    parser.add_argument("--pairs", default=",".join(PAIRS), help="comma-separated subset")
    parser.add_argument("--out", type=Path, help="results folder (default reports/load[/source])")
    parser.add_argument(
        "--reference", action="store_true", help=f"also store as {REFERENCE_CSV.name}"
    )
    args = parser.parse_args(argv)
    pairs = tuple(p.strip() for p in args.pairs.split(",") if p.strip())
    if unknown := set(pairs) - set(PAIRS):
        parser.error(f"--pairs: unknown {sorted(unknown)}; choose from {', '.join(PAIRS)}")
    if args.users < 1 or args.run_time <= 0 or not 0 <= args.delay_ms <= 10_000:
        parser.error("need --users >= 1, --run-time > 0 and 0 <= --delay-ms <= 10000")
    args.pairs = pairs
    return args


def main(argv: list[str] | None = None) -> list[Run]:
    args = parse_args(argv)
    app_file = resolve_source(args.source)
    out = (args.out or default_out(args.source)).resolve()
    csv_dir = out / "locust"
    shutil.rmtree(csv_dir, ignore_errors=True)  # stale CSVs of a previous run must not be read
    csv_dir.mkdir(parents=True)
    label = "reference" if args.reference else args.source
    delay = args.delay_ms / 1000
    command = "python -m bench.load " + " ".join(argv if argv is not None else sys.argv[1:])
    info = machine.describe()  # before the run: its load average is the others' work, not ours

    upstream_port, app_port = free_port(), free_port()
    upstream_url, app_url = f"http://{HOST}:{upstream_port}", f"http://{HOST}:{app_port}"
    env = {
        "IO_DELAY": repr(delay),
        "UPSTREAM_URL": upstream_url,
        "DB_POOL_SIZE": str(min(args.users, MAX_POOL)),
    }
    runs: list[Run] = []
    upstream_args = python("-m", "bench.slow_upstream", "--port", str(upstream_port))
    app_args = python("-m", "bench.serve", str(app_file), "--port", str(app_port))
    with (
        running(upstream_args, out / "upstream.log", ready_url=f"{upstream_url}/slow?delay=0"),
        running(app_args, out / "app.log", env=env, ready_url=f"{app_url}/"),
    ):
        for pair in args.pairs:
            for style in STYLES:
                print(f"load: {style} {pair}, {args.users} users, {args.run_time:g} s", flush=True)
                stats = read_stats(
                    run_locust(pair, style, app_url, args.users, args.run_time, csv_dir)
                )
                if stats["requests"] == 0:
                    print(
                        f"load: no request to /{style}/{pair} finished in {args.run_time:g} s; "
                        "the machine is busy or the run too short (raise --run-time)",
                        file=sys.stderr,
                    )
                runs.append(
                    Run(label, pair, style, f"/{style}/{pair}", args.users, args.delay_ms,
                        args.run_time, **stats)
                )  # fmt: skip
                # A blocking worker may still be working through requests locust gave up on;
                # the next run starts when the app answers again.
                wait_http(f"{app_url}/", timeout=120)
    add_ratios(runs)

    title = f"Lab 00: blocking vs async ({label})"
    reference = None
    if args.source != DEFAULT_SOURCE and REFERENCE_CSV.is_file():
        reference = read_summary(REFERENCE_CSV)
    write_summary(runs, out / "summary.csv")
    write_markdown(runs, out / "results.md", title, info, command, reference)
    write_chart(runs, out / "chart.png", title, reference)
    if args.reference:
        write_summary(runs, REFERENCE_CSV)
        reference_md = REFERENCE_CSV.with_suffix(".md")
        write_markdown(runs, reference_md, "Lab 00 reference run", info, command)
        # BENCHMARKS.md shows the same run, without the file's own title.
        benchmarks_md.update(SECTION, reference_md.read_text().split("\n", 2)[2])
    print(markdown_table(runs))
    print(goal_line(runs))
    print(f"results: {out.relative_to(REPO_ROOT) if out.is_relative_to(REPO_ROOT) else out}")
    return runs


if __name__ == "__main__":
    main()
