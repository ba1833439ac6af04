"""The access-log line (the gthread server's format plus the request id, or
JSON) and the request id."""

from __future__ import annotations

import json
from typing import Any

import pytest

from api.accesslog import format_json_line, format_line, request_id


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
    line = format_line(scope(), 200, 93, 0.0018344, "abc123")
    assert line == '10.0.0.7 "GET / HTTP/1.1" 200 93 0.001834s "curl/8.5.0" abc123\n'


def test_query_kept_and_missing_parts_shown_as_dashes() -> None:
    line = format_line(
        scope(raw_path=b"/nope", query_string=b"a=1", client=None, headers=[]), 404, 0, 0.5, "r1"
    )
    assert line == '- "GET /nope?a=1 HTTP/1.1" 404 - 0.500000s "-" r1\n'


def test_the_json_line_is_one_object_with_the_request_and_the_replica() -> None:
    line = format_json_line(scope(query_string=b"a=1"), 503, 41, 0.25, "rid-7", "api-0")
    assert line.endswith("}\n")
    assert line.count("\n") == 1
    fields = json.loads(line)
    assert fields["time"].endswith("Z")
    assert {k: v for k, v in fields.items() if k != "time"} == {
        "level": "info",
        "type": "access",
        "method": "GET",
        "path": "/?a=1",
        "status": 503,
        "bytes": 41,
        "duration": 0.25,
        "replica": "api-0",
        "request_id": "rid-7",
        "client": "10.0.0.7",
        "user_agent": "curl/8.5.0",
    }


def test_a_sane_client_request_id_is_kept() -> None:
    headers = [(b"x-request-id", b"4bf92f35-77b3.4a:1_x")]
    assert request_id(scope(headers=headers)) == "4bf92f35-77b3.4a:1_x"


@pytest.mark.parametrize(
    "sent", [b"", b"has space", b'quote"', b"x" * 129, b"caf\xc3\xa9", b"line\nbreak"]
)
def test_any_other_request_id_is_replaced_by_a_new_one(sent: bytes) -> None:
    made = request_id(scope(headers=[(b"x-request-id", sent)]))
    assert made != sent.decode("latin-1")
    assert len(made) == 32
    assert made != request_id(scope(headers=[(b"x-request-id", sent)]))


def test_a_missing_request_id_is_made() -> None:
    assert len(request_id(scope())) == 32
