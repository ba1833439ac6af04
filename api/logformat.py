"""Log lines as JSON objects, for ``LOG_FORMAT=json``.

With ``LOG_FORMAT=json`` every line the server writes is one JSON object: the
access lines (api/accesslog.py) and the error lines of gunicorn, uvicorn and
the app (this formatter, installed by gunicorn.conf.py). The default,
``text``, keeps the readable formats.
"""

from __future__ import annotations

import json
import logging
import time

FORMATS = ("text", "json")


def timestamp(seconds: float) -> str:
    """UTC, to the millisecond: ``2026-11-26T21:12:25.135Z``."""
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{whole}.{int(seconds % 1 * 1000):03d}Z"


def json_line(fields: dict[str, object]) -> str:
    """One JSON object on one line; newlines inside values stay escaped."""
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")) + "\n"


class JsonFormatter(logging.Formatter):
    """A log record as one JSON object: time, level, logger, pid, message."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, object] = {
            "time": timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        return json_line(fields).rstrip("\n")


def gunicorn_logconfig(log_format: str) -> dict[str, object]:
    """gunicorn's ``logconfig_dict``: its default handlers, with JSON lines.

    gunicorn merges this into its defaults key by key, so replacing its one
    formatter, ``generic``, turns its own lines and uvicorn's (which share
    gunicorn's error handlers) into JSON. Text keeps gunicorn's defaults.
    """
    if log_format != "json":
        return {}
    return {"formatters": {"generic": {"()": f"{__name__}.JsonFormatter"}}}
