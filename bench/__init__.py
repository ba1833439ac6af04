"""The benchmark behind `invoke bench`: see bench/run.py and the README's Performance section."""
