"""The log formats: error lines as one JSON object, gunicorn's lines JSON only
when asked."""

from __future__ import annotations

import json
import logging
import sys

from api.logformat import JsonFormatter, gunicorn_logconfig


def test_error_lines_are_one_json_object_even_with_a_traceback() -> None:
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        record = logging.LogRecord(
            "api.store", logging.WARNING, __file__, 1, "database unavailable: %s", ("x",),
            sys.exc_info(),
        )  # fmt: skip
    line = JsonFormatter().format(record)
    assert "\n" not in line
    fields = json.loads(line)
    assert fields["level"] == "warning"
    assert fields["logger"] == "api.store"
    assert fields["message"] == "database unavailable: x"
    assert "ValueError: boom" in fields["exception"]


def test_gunicorn_lines_turn_json_only_when_asked() -> None:
    assert gunicorn_logconfig("text") == {}
    formatter = gunicorn_logconfig("json")["formatters"]
    assert formatter == {"generic": {"()": "api.logformat.JsonFormatter"}}
