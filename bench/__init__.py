"""The benchmark behind `invoke bench`: see bench/run.py and docs/performance.md."""
