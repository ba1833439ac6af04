"""The metrics registry itself (its HTTP side is tested in test_instrumentation.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.metrics import Metrics


def test_a_directory_set_after_the_client_was_imported_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This process imported prometheus-client without the variable: samples
    # stay in memory, so a multiprocess scrape would silently read nothing.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    with pytest.raises(RuntimeError, match="do not preload"):
        Metrics()
