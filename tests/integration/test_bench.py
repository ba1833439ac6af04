"""`invoke bench --quick` end to end: the report is complete and the counts exact.

Speed is never judged here: the machine is shared and noisy. Only that every
figure is present and that the stored counts rose by exactly the number of
200 answers, at every level.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from bench.report import API_KEYS, LEVEL_KEYS
from bench.run import LEVELS
from tests.servers import find_mariadbd
from tests.tooling import REPO_ROOT, require_tool


def test_quick_bench_reports_every_level_with_exact_counts(tmp_path: Path) -> None:
    require_tool("wrk", "Debian: apt-get install wrk")
    require_tool("mariadb-slap", "Debian: apt-get install mariadb-client")
    find_mariadbd()
    results = tmp_path / "results"

    completed = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--results", str(results)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = json.loads((results / "results.json").read_text())
    assert report["quick"] is True
    assert report["exact"] is True
    assert report["warmup_counts"]["exact"] is True
    assert [level["connections"] for level in report["levels"]] == list(LEVELS)
    for level in report["levels"]:
        assert set(LEVEL_KEYS) <= set(level)
        api = level["api"]
        assert set(API_KEYS) <= set(api)
        for key in ("requests_per_second", "p50_ms", "p99_ms"):
            assert math.isfinite(api[key]), key
            assert api[key] > 0, key
        assert api["p50_ms"] <= api["p99_ms"]
        assert api["answered"] > 0
        assert level["ceiling"]["visits"] > 0
        assert level["api_to_ceiling"] > 0
        # Exact counts: each replica's stored count rose by its 200 answers.
        counts = level["counts"]
        assert counts["exact"] is True
        assert counts["stored_increase"] == counts["answered_200"]
        assert sum(counts["answered_200"].values()) == api["statuses"].get("200", 0)
        assert set(counts["answered_200"]) == set(api["per_replica"])
        assert all(n > 0 for n in counts["answered_200"].values()), "a replica got no load"

    table = (results / "results.md").read_text()
    for level in report["levels"]:
        assert f"\n| {level['connections']} |" in table
    assert (results / "results.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
