"""The benchmark's report: JSON (everything), a Markdown table, a PNG plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server or in CI

import matplotlib.pyplot as plt

# Every level in the report has these keys; the test suite checks them.
LEVEL_KEYS = (
    "connections",
    "api",
    "ceiling",
    "api_to_ceiling",
    "counts",
    "baseline",
    "healthz",
    "vs_baseline",
    "share_of_healthz",
)
# "api" and "baseline" (GET /) have these; "healthz" has one summary per server.
API_KEYS = (
    "requests_per_second",
    "p50_ms",
    "p99_ms",
    "p999_ms",
    "errors",
    "answered",
    "unanswered",
    "statuses",
    "socket_errors",
    "seconds",
    "per_replica",
    "cpu_cores",
)
SERVERS = {"api": "API (ASGI, group commit)", "baseline": "baseline (gthread, 2 statements)"}
# With `--original PATH` (bench/original.py), a third contender.
ORIGINAL = {"original": "original (Go, 4 statements in a transaction)"}


def servers(level: dict[str, Any]) -> dict[str, str]:
    """The contenders a level measured, with their labels."""
    return {**SERVERS, **({} if "original" not in level else ORIGINAL)}


def _server_rows(report: dict[str, Any]) -> list[str]:
    lines = [
        "| connections | server | `/` req/s | p50 ms | p99 ms | p99.9 ms | errors "
        "| stored = 200s | `/healthz` req/s | `/` / `/healthz` |",
        "|---:|---|---:|---:|---:|---:|---:|:---:|---:|---:|",
    ]
    for level in report["levels"]:
        for kind, label in servers(level).items():
            visits = level[kind]
            exact = "yes" if visits["counts"]["exact"] else "**NO**"
            healthz = level["healthz"].get(kind)
            ceiling = (
                f"| {healthz['requests_per_second']:,.0f} | {level['share_of_healthz'][kind]:.2f} |"
                if healthz
                else "| n/a | n/a |"  # the original counts a visit on every path
            )
            lines.append(
                f"| {level['connections']} | {label} | {visits['requests_per_second']:,.0f} "
                f"| {visits['p50_ms']:.1f} | {visits['p99_ms']:.1f} | {visits['p999_ms']:.1f} "
                f"| {visits['errors']} | {exact} {ceiling}"
            )
    return lines


def _scrape_rows(cost: dict[str, Any]) -> list[str]:
    rates, scrape = cost["requests_per_second"], cost["scrape"]
    return [
        "| connections | `/metrics` scrapes/s per replica | `/` req/s without | `/` req/s with "
        "| with / without | one scrape p50 ms | p99 ms | scrapes |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {cost['connections']} | {cost['scrapes_per_second_per_replica']} "
        f"| {rates['without_scraper']:,.0f} | {rates['with_scraper']:,.0f} "
        f"| **{cost['ratio']:.3f} x** | {scrape['p50_ms']:.1f} | {scrape['p99_ms']:.1f} "
        f"| {scrape['count']} |",
    ]


def markdown_table(report: dict[str, Any]) -> str:
    lines = _server_rows(report)
    lines += [
        "",
        "| connections | API / baseline req/s | p99 ms API | p99 ms baseline "
        "| DB ceiling visits/s | API / ceiling |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for level in report["levels"]:
        vs = level["vs_baseline"]
        lines.append(
            f"| {level['connections']} | **{vs['requests_per_second']:.2f} x** "
            f"| {vs['p99_ms']['api']:.1f} | {vs['p99_ms']['baseline']:.1f} "
            f"| {level['ceiling']['visits_per_second']:,.0f} | {level['api_to_ceiling']:.2f} |"
        )
    if all("vs_original" in level for level in report["levels"]):
        lines += [
            "",
            "| connections | API / original req/s | p99 ms API | p99 ms original "
            "| p99.9 ms API | p99.9 ms original |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for level in report["levels"]:
            vs = level["vs_original"]
            lines.append(
                f"| {level['connections']} | **{vs['requests_per_second']:.2f} x** "
                f"| {vs['p99_ms']['api']:.1f} | {vs['p99_ms']['original']:.1f} "
                f"| {level['api']['p999_ms']:.1f} | {level['original']['p999_ms']:.1f} |"
            )
    # Where the two cores went during each GET / load: what limits each server.
    groups = list(report["levels"][0]["api"]["cpu_cores"])
    lines += [
        "",
        "| connections | server under load | "
        + " | ".join(f"CPU cores: {g}" for g in groups)
        + " |",
        "|---:|---|" + "---:|" * len(groups),
    ]
    for level in report["levels"]:
        for kind in servers(level):
            cores = level[kind]["cpu_cores"]
            lines.append(
                f"| {level['connections']} | {kind} | "
                + " | ".join(f"{cores[g]:.2f}" for g in groups)
                + " |"
            )
    lines += ["", *_scrape_rows(report["scrape_cost"])]
    settings, baseline = report["settings"], report["settings"]["baseline"]
    lines += [
        "",
        f"API: {settings['replicas']} replicas x {settings['workers']} uvicorn workers. "
        f"Baseline: {baseline['replicas']} replicas x {baseline['workers']} gthread workers "
        f"x {baseline['threads']} threads. {settings['load_seconds']:g} s of load per "
        f"measurement; {report['machine']['cpus']} CPUs; MariaDB {report['machine']['mariadb']}; "
        f"{report['machine']['wrk']}.",
    ]
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: Path) -> None:
    levels = report["levels"]
    connections = [level["connections"] for level in levels]
    figure, (rate_axes, latency_axes) = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")

    for (kind, label), color in zip(SERVERS.items(), ("C0", "C1"), strict=True):
        rate_axes.plot(
            connections,
            [level[kind]["requests_per_second"] for level in levels],
            marker="o",
            color=color,
            label=f"{label}: GET /",
        )
        rate_axes.plot(
            connections,
            [level["healthz"][kind]["requests_per_second"] for level in levels],
            marker="^",
            linestyle=":",
            color=color,
            label=f"{label}: GET /healthz",
        )
    rate_axes.plot(
        connections,
        [level["ceiling"]["visits_per_second"] for level in levels],
        marker="s",
        linestyle="--",
        color="grey",
        label="DB ceiling (visits/s, mariadb-slap)",
    )
    rate_axes.set_xlabel("concurrent connections")
    rate_axes.set_ylabel("answers per second")
    rate_axes.set_title("Throughput")
    rate_axes.set_ylim(bottom=0)
    rate_axes.legend(fontsize="small")

    for (kind, label), color in zip(SERVERS.items(), ("C0", "C1"), strict=True):
        for key, style in (("p50_ms", "--"), ("p99_ms", "-")):
            latency_axes.plot(
                connections,
                [level[kind][key] for level in levels],
                marker="o",
                linestyle=style,
                color=color,
                label=f"{label}: {key.removesuffix('_ms')}",
            )
    latency_axes.set_xlabel("concurrent connections")
    latency_axes.set_ylabel("ms")
    latency_axes.set_title("GET / latency")
    latency_axes.set_ylim(bottom=0)
    latency_axes.legend(fontsize="small")

    for axes in (rate_axes, latency_axes):
        axes.set_xticks(connections)
        axes.grid(alpha=0.3)
    figure.suptitle("visit-counter: GET / over 3 replicas, API against the baseline, one run")
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write(report: dict[str, Any], directory: Path) -> dict[str, Path]:
    """Write results.json, results.md and results.png; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": directory / "results.json",
        "markdown": directory / "results.md",
        "plot": directory / "results.png",
    }
    paths["json"].write_text(json.dumps(report, indent=2) + "\n")
    paths["markdown"].write_text(markdown_table(report))
    plot(report, paths["plot"])
    return paths
