"""The report of ``make soak``: phases, failures outside fault windows, integrity, memory, chart."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from pathlib import Path

from bench.load import percentile
from bench.soak_fleet import PROCESSES, SERVICES, Window

RECOVERY = 3.0  # seconds after a fault ends that still belong to its window (pools reconnect)


def phases(t0: float, end: float, windows: list[Window]) -> list[Window]:
    """The run cut at each fault window: steady, fault, steady, ..."""
    out, at = [], t0
    for w in sorted(windows, key=lambda w: w.start):
        out.append(Window("steady" if at == t0 else f"after {out[-1].name}", at, w.start))
        out.append(w)
        at = w.end
    out.append(Window(f"after {out[-1].name}" if windows else "steady", at, end))
    return out


def phase_stats(requests, phase: Window) -> dict:
    mine = [r for r in requests if phase.start <= r[0] < phase.end]
    ms = Counter(round(r[1]) for r in mine)
    seconds = max(phase.end - phase.start, 1e-9)
    return {
        "phase": phase.name,
        "seconds": round(seconds, 1),
        "requests": len(mine),
        "rps": round(len(mine) / seconds, 1),
        "statuses": dict(sorted(Counter(str(r[3]) for r in mine).items())),
        "p50_ms": percentile(ms, 0.50),
        "p95_ms": percentile(ms, 0.95),
        "p99_ms": percentile(ms, 0.99),
    }


def failed(status: int) -> bool:
    """A 5xx, or no HTTP answer at all (status 0)."""
    return status >= 500 or status == 0


def outside_windows(requests, windows: list[Window]) -> list[tuple[float, float, str, int]]:
    """Failed requests that overlap no fault window (each stretched by ``RECOVERY``)."""
    spans = [(w.start, w.end + RECOVERY) for w in windows]
    return [
        r
        for r in requests
        if failed(r[3]) and not any(r[0] <= end and r[0] + r[1] / 1000 >= s for s, end in spans)
    ]


def integrity(requests, seeded: dict[str, int], actual: dict[str, int]) -> dict[str, dict]:
    ok = Counter(r[2] for r in requests if 200 <= r[3] < 300)
    out = {}
    for table in seeded:
        created = ok[f"POST /{table}"]
        deleted = ok[f"DELETE /{table}/<id>"]
        expected = seeded[table] + created - deleted
        out[table] = {
            "seeded": seeded[table],
            "created": created,
            "deleted": deleted,
            "expected": expected,
            "actual": actual[table],
            "exact": expected == actual[table],
        }
    return out


def memory(samples: list[dict]) -> dict[str, dict]:
    """Per process: RSS at the end of the first quarter, at the end, and the peak (MB)."""
    out = {}
    for name in PROCESSES:
        rss = [s[f"{name}_rss_mb"] for s in samples if s[f"{name}_rss_mb"] == s[f"{name}_rss_mb"]]
        fds = [s[f"{name}_fds"] for s in samples if s[f"{name}_fds"] >= 0]
        if not rss:
            continue
        quarter = rss[: max(1, len(rss) // 4)]
        out[name] = {
            "rss_warm_mb": statistics.median(quarter[-5:]),
            "rss_end_mb": statistics.median(rss[-5:]),
            "rss_peak_mb": max(rss),
            "fds_max": max(fds, default=-1),
            "fds_end": fds[-1] if fds else -1,
        }
    return out


def write_chart(path: Path, requests, samples, windows, t0: float, pool_size: int) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on servers and CI
    import matplotlib.pyplot as plt

    per_second: dict[int, Counter] = {}
    latency: dict[int, list[float]] = {}
    for start, ms, _name, status in requests:
        second = int(start - t0)
        kind = "5xx / no answer" if failed(status) else "4xx" if status >= 400 else "2xx/3xx"
        per_second.setdefault(second, Counter())[kind] += 1
        latency.setdefault(second, []).append(ms)
    xs = sorted(per_second)
    fig, axes = plt.subplots(4, 1, figsize=(11, 10.5), dpi=100, sharex=True)
    ok_ax, ms_ax, rss_ax, db_ax = axes
    bottom = [0] * len(xs)
    colors = {"2xx/3xx": "#2ca02c", "4xx": "#ff7f0e", "5xx / no answer": "#d62728"}
    for kind, color in colors.items():
        heights = [per_second[x][kind] for x in xs]
        ok_ax.bar(xs, heights, 1.0, bottom=bottom, color=color, label=kind)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ok_ax.set_ylabel("requests/s")
    ok_ax.legend(fontsize=8, loc="lower left")
    ms_ax.plot(xs, [percentile(Counter(map(round, latency[x])), 0.95) for x in xs], color="k")
    ms_ax.set_yscale("log")
    ms_ax.set_ylabel("p95 ms (log)")
    times = [s["t"] - t0 for s in samples]
    for name in PROCESSES:
        rss_ax.plot(times, [s[f"{name}_rss_mb"] for s in samples], label=name)
    rss_ax.set_ylabel("RSS MB")
    rss_ax.legend(fontsize=8, loc="upper left")
    for name in SERVICES:
        db_ax.step(times, [s[f"{name}_backends"] for s in samples], where="post", label=name)
    db_ax.axhline(pool_size, color="grey", linestyle="--", label=f"pool size {pool_size}")
    db_ax.set_ylabel("backends")
    db_ax.set_xlabel("seconds")
    db_ax.legend(fontsize=8, loc="upper left")
    for i, w in enumerate(windows):
        for ax in axes:
            ax.axvspan(w.start - t0, w.end - t0, color="#d62728", alpha=0.12)
        # Two rows of labels: neighbouring windows of a short run would overwrite each other.
        ok_ax.text((w.start + w.end) / 2 - t0, 1.01 + 0.08 * (i % 2), w.name,
                   transform=ok_ax.get_xaxis_transform(), ha="center", va="bottom",
                   fontsize=8)  # fmt: skip
    fig.suptitle("make soak: three services under locust, faults shaded", y=0.995)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def markdown(summary: dict) -> str:
    lines = [
        "# make soak",
        "",
        f"{summary['users']} locust users for {summary['elapsed_s']:g} s (planned "
        f"{summary['duration_s']:g}), pools of "
        f"{summary['pool_size']}; machine: {summary['machine']}.",
        "",
        "| phase | s | requests | req/s | statuses | p50 / p95 / p99 ms |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for p in summary["phases"]:
        statuses = ", ".join(f"{k}: {v}" for k, v in p["statuses"].items())
        lines.append(
            f"| {p['phase']} | {p['seconds']:g} | {p['requests']} | {p['rps']:g} | {statuses} "
            f"| {p['p50_ms']:g} / {p['p95_ms']:g} / {p['p99_ms']:g} |"
        )
    lines += ["", "| process | RSS MB warm -> end (peak) | fds max / end | max backends |"]
    lines.append("|---|---:|---:|---:|")
    for name, m in summary["memory"].items():
        backends = summary["max_backends"].get(name, "")
        if backends != "" and backends > summary["pool_size"]:
            backends = f"{backends} OVER POOL SIZE"
        lines.append(
            f"| {name} | {m['rss_warm_mb']:.1f} -> {m['rss_end_mb']:.1f} ({m['rss_peak_mb']:.1f}) "
            f"| {m['fds_max']} / {m['fds_end']} | {backends} |"
        )
    lines += ["", "| table | seeded | + created | - deleted | expected | actual |"]
    lines.append("|---|---:|---:|---:|---:|---:|")
    for table, i in summary["integrity"].items():
        lines.append(
            f"| {table} | {i['seeded']} | {i['created']} | {i['deleted']} | {i['expected']} "
            f"| {i['actual']}{'' if i['exact'] else ' MISMATCH'} |"
        )
    lines += [
        "",
        f"5xx or no answer outside fault windows (+{RECOVERY:g} s): "
        f"{summary['failed_outside_windows']}.",
        "",
        f"Faults: {json.dumps(summary['faults'])}",
        "",
        f"Reporters (sent / dropped / unknown): {json.dumps(summary['reporters'])}",
        "",
        f"Command: `{summary['command']}`",
    ]
    return "\n".join(lines) + "\n"
