"""The access-log line: the gthread server's format, from an ASGI scope."""

from __future__ import annotations

from typing import Any

from api.accesslog import format_line


def scope(**overrides: Any) -> dict[str, Any]:
    return {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "client": ("10.0.0.7", 51234),
        "headers": [(b"host", b"api"), (b"user-agent", b"curl/8.5.0")],
        **overrides,
    }


def test_one_line_with_client_request_status_bytes_seconds_and_agent() -> None:
    line = format_line(scope(), 200, 93, 0.0018344)
    assert line == '10.0.0.7 "GET / HTTP/1.1" 200 93 0.001834s "curl/8.5.0"\n'


def test_query_kept_and_missing_parts_shown_as_dashes() -> None:
    line = format_line(
        scope(raw_path=b"/nope", query_string=b"a=1", client=None, headers=[]), 404, 0, 0.5
    )
    assert line == '- "GET /nope?a=1 HTTP/1.1" 404 - 0.500000s "-"\n'
