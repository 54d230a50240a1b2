"""The report of ``make bench``: the best round per app, ratios to bare Sanic, goals met or missed."""

from __future__ import annotations

import argparse
import csv
import importlib.metadata
from collections.abc import Callable
from dataclasses import asdict, fields
from pathlib import Path

from bench import machine
from bench.overhead_measure import APPS, ENDPOINTS, Generator, Measure

# Issue 15's goals, as ratios of req/s in one run. (name, numerator, denominator, endpoints, goal)
RATIO_GOALS = (
    ("full stack / bare Sanic", "traced", "bare", ("hello", "row"), 0.60),
    ("full stack / bare Sanic (stretch)", "traced", "bare", ("row",), 0.80),
    ("tracing on / off", "traced", "framework", ("row",), 0.85),
    ("full stack / FastAPI + OpenTelemetry", "traced", "fastapi_otel", ("hello", "row"), 4.0),
    ("full stack / bare FastAPI", "traced", "fastapi_bare", ("hello", "row"), 1.0),
    ("full stack / bare Litestar (stretch)", "traced", "litestar_bare", ("row",), 1.0),
)
P99_GOAL = 1.1  # collector-down p99 / collector-up p99
E2E_P50_GOAL_MS = 60.0


def best(
    measures: list[Measure], score: Callable[[Measure], float] = lambda m: m.rps
) -> dict[tuple[str, str], Measure]:
    """Per (app, endpoint), the round with the highest ``score``: the most requests/s."""
    chosen: dict[tuple[str, str], Measure] = {}
    for m in measures:
        key = (m.app, m.endpoint)
        if key not in chosen or score(m) > score(chosen[key]):
            chosen[key] = m
    return chosen


def lowest_p99(measures: list[Measure]) -> dict[tuple[str, str], Measure]:
    """Per (app, endpoint), the round with the lowest p99: for the p99 goal, as ``best`` is for
    req/s (a p99 of a few ms moves by a millisecond between rounds; noise only ever adds to it)."""
    return best(measures, score=lambda m: -m.p99_ms)


PEER = "fastapi_otel"  # the usual observable choice: the second yardstick beside bare Sanic


def overhead_table(chosen: dict[tuple[str, str], Measure]) -> str:
    lines = [
        "| endpoint | app | req/s | of bare Sanic | of FastAPI + OTel | overhead µs/request "
        "| CPU µs/request | of bare by CPU | p50 ms | p99 ms | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for endpoint in ENDPOINTS:
        bare, peer = chosen.get(("bare", endpoint)), chosen.get((PEER, endpoint))
        for app in APPS:
            m = chosen.get((app, endpoint))
            if m is None:
                continue
            ratio = f"{m.rps / bare.rps:.2f}" if bare and bare.rps else "n/a"
            of_peer = f"{m.rps / peer.rps:.2f}" if peer and peer.rps else "n/a"
            extra = f"{1e6 / m.rps - 1e6 / bare.rps:+.0f}" if bare and m.rps and bare.rps else "n/a"
            by_cpu = f"{bare.cpu_us / m.cpu_us:.2f}" if bare and m.cpu_us > 0 else "n/a"
            lines.append(
                f"| {endpoint} | {app} | {m.rps:,.0f} | {ratio} | {of_peer} | {extra} "
                f"| {m.cpu_us:.0f} | {by_cpu} | {m.p50_ms:.2f} | {m.p99_ms:.2f} | {m.errors} |"
            )
    return "\n".join(lines)


# Each convenience's cost: the CPU µs per request one app adds over the app below it on the ladder
# bare -> envelope -> framework -> traced; on ``row`` minus the same step on ``hello`` for the
# parts only ``row`` has (its database layer, its query span).
COSTS = (
    ("pipeline and envelope (`create_app`: routing wrapper, envelope, error handler)",
     "envelope", "bare", "hello"),
    ("database layer (`db.acquire`, budget and timeouts, records as dicts)",
     "envelope", "bare", "row-hello"),
    ("one JSON log line (`@logger`: `logging` + python-json-logger)",
     "framework", "envelope", "both"),
    ("SERVER span (B3 extract, start, finish) and its reporting",
     "traced", "framework", "hello"),
    ("CLIENT span of the query and its reporting",
     "traced", "framework", "row-hello"),
)  # fmt: skip


def _cpu(chosen: dict[tuple[str, str], Measure], app: str, endpoint: str) -> float:
    m = chosen.get((app, endpoint))
    return m.cpu_us if m is not None else float("nan")


def cost_table(chosen: dict[tuple[str, str], Measure]) -> str:
    """Where a full-stack request's extra CPU goes, and the budget the 0.60 goal leaves."""
    lines = [
        "| what the full stack adds to bare Sanic | hello µs | row µs |",
        "|---|---:|---:|",
    ]

    def step(top: str, bottom: str, endpoint: str) -> float:
        return _cpu(chosen, top, endpoint) - _cpu(chosen, bottom, endpoint)

    for name, top, bottom, where in COSTS:
        hello, row = step(top, bottom, "hello"), step(top, bottom, "row")
        if where == "hello":
            cells = (hello, float("nan"))
        elif where == "row-hello":
            cells = (float("nan"), row - hello)
        else:
            cells = (hello, row)
        lines.append(f"| {name} | {_num(cells[0])} | {_num(cells[1])} |")
    total = (step("traced", "bare", "hello"), step("traced", "bare", "row"))
    lines.append(f"| **all of it** (full stack - bare) | {_num(total[0])} | {_num(total[1])} |")
    bare = (_cpu(chosen, "bare", "hello"), _cpu(chosen, "bare", "row"))
    lines.append(f"| bare Sanic's own request | {_num(bare[0])} | {_num(bare[1])} |")
    # full / bare >= 0.60 by CPU  <=>  extra <= bare * (1 / 0.60 - 1)
    budget = tuple(b * (1 / RATIO_GOALS[0][4] - 1) for b in bare)
    lines.append(
        f"| budget for all of it at 0.60 of bare | {_num(budget[0])} | {_num(budget[1])} |"
    )
    return "\n".join(lines)


def _num(value: float) -> str:
    return "—" if value != value else f"{value:.0f}"  # nan: not measured or not applicable


def _verdict(met: bool, *measures: Measure) -> str:
    """met / MISSED, unless a run behind the number answered errors: then it proves nothing."""
    failed = [m for m in measures if m.errors]
    if failed:
        return "NOT MEASURED: " + ", ".join(
            f"{m.app} {m.endpoint} answered {m.errors:,} errors" for m in failed
        )
    return "met" if met else "MISSED"


def goal_lines(
    chosen: dict[tuple[str, str], Measure],
    e2e: list[Measure],
    p99: dict[tuple[str, str], Measure] | None = None,
) -> list[str]:
    """The goals, met or MISSED; ``p99``: the rounds the p99 goal compares (default: ``chosen``)."""
    p99 = chosen if p99 is None else p99
    lines = []
    for name, numerator, denominator, endpoints, goal in RATIO_GOALS:
        for endpoint in endpoints:
            top, bottom = chosen.get((numerator, endpoint)), chosen.get((denominator, endpoint))
            if top and bottom and bottom.rps:
                ratio = top.rps / bottom.rps
                lines.append(
                    f"- `{endpoint}`: {name} = {ratio:.2f} (goal ≥ {goal:.2f}): "
                    f"{_verdict(ratio >= goal, top, bottom)}"
                )
    for endpoint in ENDPOINTS:
        one, two = chosen.get(("traced", endpoint)), chosen.get(("traced_2w", endpoint))
        if one and two and one.rps:
            lines.append(
                f"- `{endpoint}`: full stack, 2 workers / 1 worker = {two.rps / one.rps:.2f} "
                "(what one 2-core box gives, load generator included)"
            )
    for endpoint in ENDPOINTS:
        up, down = p99.get(("traced", endpoint)), p99.get(("collector_down", endpoint))
        if up and down and up.p99_ms:
            ratio = down.p99_ms / up.p99_ms
            lines.append(
                f"- `{endpoint}`: collector-down p99 {down.p99_ms:.2f} ms = {ratio:.2f}x "
                f"collector-up {up.p99_ms:.2f} ms, lowest of the rounds each "
                f"(goal ≤ {P99_GOAL}x): "
                f"{_verdict(ratio <= P99_GOAL, up, down)}"
            )
    for parallel in (m for m in e2e if m.endpoint == "parallel"):
        lines.append(
            f"- end to end, {parallel.connections} connection(s): parallel p50 "
            f"{parallel.p50_ms:.1f} ms (goal ≤ {E2E_P50_GOAL_MS:.0f} ms): "
            f"{_verdict(parallel.p50_ms <= E2E_P50_GOAL_MS, parallel)}"
        )
    return lines


def e2e_table(e2e: list[Measure], delay_ms: float) -> str:
    lines = [
        f"| GET /users/1, downstreams held {delay_ms:g} ms | connections | req/s | p50 ms "
        "| p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for m in e2e:
        lines.append(
            f"| {m.endpoint} | {m.connections} | {m.rps:,.0f} | {m.p50_ms:.1f} | {m.p99_ms:.1f} "
            f"| {m.errors} |"
        )
    return "\n".join(lines)


def tracing_line(tracing: dict) -> str:
    parts = []
    for app in ("traced", "collector_down"):
        stats = tracing.get(app, {})
        stats = stats.get("data", stats)  # sanic_ms apps answer in the envelope
        reporter = stats.get("reporter") if isinstance(stats, dict) else None
        if stats.get("enabled") and reporter:
            keep = ("queued", "sent", "dropped", "failed_posts")
            parts.append(f"{app}: " + ", ".join(f"{k} {reporter.get(k)}" for k in keep))
        else:
            parts.append(f"{app}: tracing not enabled ({stats})")
    sink = tracing.get("sink", {})
    parts.append(f"collector received {sink.get('spans')} spans in {sink.get('batches')} posts")
    return "; ".join(parts)


def render(
    chosen: dict[tuple[str, str], Measure], e2e: list[Measure], tracing: dict,
    args: argparse.Namespace, gen: Generator, info: dict[str, str], command: str,
    p99: dict[tuple[str, str], Measure] | None = None,
) -> str:  # fmt: skip
    parts = [
        f"Run {info['date']} with `{command}`.",
        "",
        f"Machine: {machine.markdown(info)}.",
        "",
        f"Load generator: **{gen.name}** ({gen.version}), {args.connections} connections, "
        f"{args.duration:g} s per endpoint, best of {args.rounds} round(s); one worker per app "
        "(`traced_2w`: two); app and load generator share the machine's cores. Peers on uvicorn "
        f"{_version('uvicorn')} (uvloop, httptools): FastAPI {_version('fastapi')}, Litestar "
        f"{_version('litestar')}, OpenTelemetry SDK {_version('opentelemetry-sdk')}.",
        "",
        overhead_table(chosen),
        "",
        "Overhead µs/request = 1e6/req/s(app) - 1e6/req/s(bare): the extra time one worker spends "
        "per request. CPU µs/request: the app process's CPU time (user + system) over the run "
        "divided by its requests; other work on the machine barely moves it, so *of bare by CPU* "
        "(bare's CPU per request / the app's) is the steadier estimate of the req/s ratio.",
        "",
        f"Tracing: {tracing_line(tracing)}.",
        "",
        "Where the time goes, by CPU µs per request of this run (each line: one app minus the "
        "one below it on the ladder bare → envelope → framework → traced; a part only `row` "
        "has: its step on `row` minus the same step on `hello`):",
        "",
        cost_table(chosen),
        "",
    ]
    if e2e:
        parts += [
            f"End to end ({args.e2e_duration:g} s each; users, cities and roles one worker each, "
            "tracing to a local collector; one connection shows the latency the parallel calls "
            "give, more connections show it under load):",
            "",
            e2e_table(e2e, args.e2e_delay_ms),
            "",
        ]
    parts += ["Goals:", "", *goal_lines(chosen, e2e, p99)]
    return "\n".join(parts) + "\n"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


def write_csv(measures: list[Measure], path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[f.name for f in fields(Measure)])
        writer.writeheader()
        for m in measures:
            writer.writerow(asdict(m))
