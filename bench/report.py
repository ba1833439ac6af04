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
)
API_KEYS = (
    "requests_per_second",
    "p50_ms",
    "p99_ms",
    "errors",
    "answered",
    "unanswered",
    "statuses",
    "socket_errors",
    "seconds",
    "per_replica",
)


def markdown_table(report: dict[str, Any]) -> str:
    lines = [
        "| connections | API req/s | p50 ms | p99 ms | errors "
        "| DB ceiling visits/s | API / ceiling | stored = 200s |",
        "|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for level in report["levels"]:
        api = level["api"]
        exact = "yes" if level["counts"]["exact"] else "**NO**"
        lines.append(
            f"| {level['connections']} | {api['requests_per_second']:,.0f} "
            f"| {api['p50_ms']:.1f} | {api['p99_ms']:.1f} | {api['errors']} "
            f"| {level['ceiling']['visits_per_second']:,.0f} "
            f"| {level['api_to_ceiling']:.2f} | {exact} |"
        )
    # Where the two cores went while the API was under load: what limits it.
    groups = list(report["levels"][0].get("cpu_cores", {}))
    if groups:
        lines += [
            "",
            "| connections | " + " | ".join(f"CPU cores: {g}" for g in groups) + " |",
            "|---:|" + "---:|" * len(groups),
        ]
        for level in report["levels"]:
            cores = level["cpu_cores"]
            lines.append(
                f"| {level['connections']} | "
                + " | ".join(f"{cores[g]:.2f}" for g in groups)
                + " |"
            )
    settings = report["settings"]
    lines += [
        "",
        f"{settings['replicas']} replicas x {settings['workers']} gunicorn workers"
        f"{' x ' + str(settings['threads']) + ' threads' if 'threads' in settings else ''}; "
        f"{settings['load_seconds']:g} s of load per level; "
        f"{report['machine']['cpus']} CPUs; MariaDB {report['machine']['mariadb']}; "
        f"{report['machine']['wrk']}.",
    ]
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: Path) -> None:
    levels = report["levels"]
    connections = [level["connections"] for level in levels]
    figure, (rate_axes, latency_axes) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")

    rate_axes.plot(
        connections,
        [level["api"]["requests_per_second"] for level in levels],
        marker="o",
        label="API (200 answers/s)",
    )
    rate_axes.plot(
        connections,
        [level["ceiling"]["visits_per_second"] for level in levels],
        marker="s",
        linestyle="--",
        label="DB ceiling (visits/s, mariadb-slap)",
    )
    rate_axes.set_xlabel("concurrent connections")
    rate_axes.set_ylabel("per second")
    rate_axes.set_title("Throughput")
    rate_axes.set_ylim(bottom=0)
    rate_axes.legend()

    for key, label in (("p50_ms", "p50"), ("p99_ms", "p99")):
        latency_axes.plot(
            connections, [level["api"][key] for level in levels], marker="o", label=label
        )
    latency_axes.set_xlabel("concurrent connections")
    latency_axes.set_ylabel("ms")
    latency_axes.set_title("API latency")
    latency_axes.set_ylim(bottom=0)
    latency_axes.legend()

    for axes in (rate_axes, latency_axes):
        axes.set_xticks(connections)
        axes.grid(alpha=0.3)
    figure.suptitle("visit-counter: GET / over 3 replicas")
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
