"""`invoke bench --quick` end to end: the report is complete and the counts exact.

Speed is never judged here: the machine is shared and noisy. Only that every
figure is present (the API's, the baseline's, both /healthz ceilings, the
cost of scraping /metrics and the ratios) and that the stored counts rose by
exactly the number of 200 answers, for each server at every level and in
every window of the scraping phase.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from bench.report import API_KEYS, LEVEL_KEYS, SERVERS
from bench.run import LEVELS, ORIGINAL_NAMES, REPLICA_NAMES
from localservers.mariadb import find_mariadbd
from tests.utils.run import run
from tests.utils.tools import require_tool

STANDIN = Path(__file__).resolve().parent.parent / "utils" / "original_standin.py"


def test_quick_bench_reports_every_level_with_exact_counts(tmp_path: Path) -> None:
    require_tool("wrk", "Debian: apt-get install wrk")
    require_tool("mariadb-slap", "Debian: apt-get install mariadb-client")
    find_mariadbd()
    results = tmp_path / "results"

    completed = run(sys.executable, "-m", "bench.run", "--quick", "--results", results, check=False)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = json.loads((results / "results.json").read_text())
    assert report["quick"] is True
    assert report["exact"] is True
    assert report["warmup_counts"]["exact"] is True
    assert [level["connections"] for level in report["levels"]] == list(LEVELS)
    assert report["baseline_warmup_counts"]["exact"] is True
    for level in report["levels"]:
        assert set(LEVEL_KEYS) <= set(level)
        for kind in SERVERS:
            check_visits(level[kind])
            healthz = level["healthz"][kind]
            assert set(API_KEYS) <= set(healthz)
            assert_positive(healthz, "requests_per_second", "p50_ms", "p99_ms", "answered")
            assert healthz["statuses"] == {"200": healthz["answered"]}
            assert healthz["errors"] == 0
            share = level["share_of_healthz"][kind]
            assert math.isclose(
                share, level[kind]["requests_per_second"] / healthz["requests_per_second"]
            )
        assert level["counts"] == level["api"]["counts"]
        # The two servers count apart, on the same table.
        assert not set(level["api"]["per_replica"]) & set(level["baseline"]["per_replica"])
        assert level["ceiling"]["visits"] > 0
        assert level["api_to_ceiling"] > 0
        vs = level["vs_baseline"]
        assert math.isclose(
            vs["requests_per_second"],
            level["api"]["requests_per_second"] / level["baseline"]["requests_per_second"],
        )
        assert vs["p99_ms"] == {
            "api": level["api"]["p99_ms"],
            "baseline": level["baseline"]["p99_ms"],
        }
        assert vs["p99_lower"] is (level["api"]["p99_ms"] < level["baseline"]["p99_ms"])

    table = (results / "results.md").read_text()
    for level in report["levels"]:
        assert f"\n| {level['connections']} |" in table
        for label in SERVERS.values():
            assert f"\n| {level['connections']} | {label} |" in table
        assert f"**{level['vs_baseline']['requests_per_second']:.2f} x**" in table
    assert f"**{report['scrape_cost']['ratio']:.3f} x**" in table
    assert (results / "results.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    check_scrape_cost(report["scrape_cost"])


def assert_positive(summary: dict[str, Any], *keys: str) -> None:
    for key in keys:
        assert math.isfinite(summary[key]), key
        assert summary[key] > 0, key
    assert summary["p50_ms"] <= summary["p99_ms"]


def check_visits(api: dict[str, Any]) -> None:
    """One server's GET / figures, and its counts exact per replica."""
    assert set(API_KEYS) <= set(api)
    assert_positive(api, "requests_per_second", "p50_ms", "p99_ms", "answered")
    # Exact counts: each replica's stored count rose by its 200 answers.
    counts = api["counts"]
    assert counts["exact"] is True
    assert counts["stored_increase"] == counts["answered_200"]
    assert sum(counts["answered_200"].values()) == api["statuses"].get("200", 0)
    assert set(counts["answered_200"]) == set(api["per_replica"])
    assert all(n > 0 for n in counts["answered_200"].values()), "a replica got no load"


def check_scrape_cost(cost: dict[str, Any]) -> None:
    """GET / with and without a scraper on /metrics: both measured, counts
    exact in every window, every scrape answered 200."""
    assert cost["connections"] == max(LEVELS)
    assert cost["windows"] == 2
    assert cost["exact"] is True
    assert cost["errors"] == 0
    rates = cost["requests_per_second"]
    assert set(rates) == {"with_scraper", "without_scraper"}
    assert all(rate > 0 for rate in rates.values())
    assert math.isclose(cost["ratio"], rates["with_scraper"] / rates["without_scraper"])
    for kind, windows in cost["window_requests_per_second"].items():
        assert len(windows) == 1
        assert math.isclose(rates[kind], windows[0])
    scrape = cost["scrape"]
    # Each replica's scraper asks once as its window opens, then at its rate.
    assert scrape["count"] >= len(REPLICA_NAMES)
    assert scrape["statuses"] == {"200": scrape["count"]}
    assert 0 < scrape["p50_ms"] <= scrape["p99_ms"]


def test_quick_bench_measures_the_original_beside_the_api(tmp_path: Path) -> None:
    # The original's contract, kept by a stand-in (tests/utils/original_standin.py:
    # the real Go server's source is not reachable from CI).
    require_tool("wrk", "Debian: apt-get install wrk")
    find_mariadbd()
    contender = tmp_path / "original"
    contender.write_text(f'#!/bin/sh\nexec {sys.executable} {STANDIN} "$@"\n')
    contender.chmod(0o755)
    results = tmp_path / "results"

    completed = run(
        sys.executable, "-m", "bench.run", "--quick", "--results", results,
        "--original", contender, check=False,
    )  # fmt: skip

    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = json.loads((results / "results.json").read_text())
    assert report["exact"] is True
    assert report["settings"]["original"]["replicas"] == len(ORIGINAL_NAMES)
    for level in report["levels"]:
        check_visits(level["original"])
        assert set(level["original"]["per_replica"]) == set(ORIGINAL_NAMES)
        assert "original" not in level["healthz"]  # every path of it counts a visit
        vs = level["vs_original"]
        assert math.isclose(
            vs["requests_per_second"],
            level["api"]["requests_per_second"] / level["original"]["requests_per_second"],
        )
        for kind in ("api", "baseline", "original"):
            assert level[kind]["p99_ms"] <= level[kind]["p999_ms"]
    table = (results / "results.md").read_text()
    assert "| API / original req/s |" in table
    for level in report["levels"]:
        assert f"**{level['vs_original']['requests_per_second']:.2f} x**" in table


def test_a_missing_original_is_one_line(tmp_path: Path) -> None:
    completed = run(
        sys.executable, "-m", "bench.run", "--quick", "--original", tmp_path / "nothing",
        check=False,
    )  # fmt: skip
    assert completed.returncode != 0
    assert completed.stderr.strip().splitlines() == [
        f"bench: --original {tmp_path / 'nothing'}: no executable there; "
        "build it with bench/build-original.sh (docs/performance.md)"
    ]


def test_quick_galera_bench_reports_both_databases_with_exact_counts(tmp_path: Path) -> None:
    require_tool("wrk", "Debian: apt-get install wrk")
    results = tmp_path / "results"

    completed = run(
        sys.executable, "-m", "bench.galera", "--quick", "--results", results, check=False
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = json.loads((results / "galera.json").read_text())
    assert report["exact"] is True
    assert report["errors"] == 0
    assert set(report["median"]) == {"single", "galera"}
    for figures in report["median"].values():
        assert figures["requests_per_second"] > 0
        assert 0 < figures["p50_ms"] <= figures["p99_ms"]
        assert figures["cores: database (mariadbd)"] > 0
    assert math.isclose(
        report["ratio"],
        report["median"]["galera"]["requests_per_second"]
        / report["median"]["single"]["requests_per_second"],
    )
    assert "galera / single:" in (results / "galera.md").read_text()
