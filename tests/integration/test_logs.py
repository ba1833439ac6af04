"""Request ids, JSON log lines, and no secret in any line or answer."""

from __future__ import annotations

import json
import time

import pytest

from api.accesslog import FLUSH_SECONDS
from deploy.api_client import request
from localservers.mariadb import DB_PASSWORD, MariaDBServer
from localservers.ports import free_port
from localservers.replica import Replica
from tests.utils.servers import ReplicaFactory

WRONG_PASSWORD = "a-wrong-but-secret-password"


def log_text(replica: Replica, wanted: str) -> str:
    """The replica's whole log once ``wanted`` shows up in it (or after a while)."""
    deadline = time.monotonic() + FLUSH_SECONDS * 3 + 5
    while wanted not in replica.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(FLUSH_SECONDS / 2)
    return replica.log_path.read_text()


def test_a_client_request_id_is_echoed_and_one_is_made_when_missing(
    mariadb: MariaDBServer, database: str, start_replicas: ReplicaFactory
) -> None:
    (replica,) = start_replicas(mariadb, database, "rid")
    echoed = request(f"{replica.url}/", headers={"X-Request-ID": "client-chosen-42"})
    assert echoed.status == 200
    assert echoed.headers["x-request-id"] == "client-chosen-42"
    made = request(f"{replica.url}/nope").headers["x-request-id"]
    assert len(made) == 32
    assert made != request(f"{replica.url}/nope").headers["x-request-id"]

    text = log_text(replica, made)
    assert any('"GET / HTTP/1.1" 200' in line and line.endswith(" client-chosen-42")
               for line in text.splitlines())  # fmt: skip
    assert any(line.endswith(f" {made}") for line in text.splitlines())


def test_with_log_format_json_every_line_is_a_json_object(
    mariadb: MariaDBServer, database: str, start_replicas: ReplicaFactory
) -> None:
    (replica,) = start_replicas(mariadb, database, "json-1", LOG_FORMAT="json")
    assert request(f"{replica.url}/", headers={"X-Request-ID": "rid-json"}).status == 200
    # A replica whose database refuses it: warnings from the app's logger.
    (refused,) = start_replicas(
        mariadb, database, "json-2", LOG_FORMAT="json", DB_PASSWORD=WRONG_PASSWORD
    )
    assert request(f"{refused.url}/").status == 503

    lines = log_text(replica, "rid-json").splitlines()
    lines += log_text(refused, "database unavailable").splitlines()
    objects = [json.loads(line) for line in lines if line.strip()]
    assert len(objects) == len([line for line in lines if line.strip()])

    access = [o for o in objects if o.get("type") == "access" and o["request_id"] == "rid-json"]
    assert len(access) == 1
    assert access[0]["method"] == "GET"
    assert access[0]["path"] == "/"
    assert access[0]["status"] == 200
    assert access[0]["replica"] == "json-1"
    assert access[0]["duration"] >= 0
    errors = [o for o in objects if o.get("type") != "access"]
    assert {"level", "message"} <= set(errors[0])
    assert any(
        o["level"] == "warning" and o["message"].startswith("database unavailable") for o in errors
    )


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_password_in_any_log_line_or_answer(
    mariadb: MariaDBServer, database: str, start_replicas: ReplicaFactory, log_format: str
) -> None:
    (good,) = start_replicas(mariadb, database, "good", LOG_FORMAT=log_format)
    (wrong,) = start_replicas(
        mariadb, database, "wrong", LOG_FORMAT=log_format, DB_PASSWORD=WRONG_PASSWORD
    )
    (down,) = start_replicas(
        mariadb, database, "down", LOG_FORMAT=log_format, DB_PORT=str(free_port())
    )
    answers = []
    for replica in (good, wrong, down):
        for path in ("/", "/visits", "/readyz", "/nope"):
            for accept in ("text/plain", "application/json"):
                answers.append(request(f"{replica.url}{path}", accept=accept))
    assert {a.status for a in answers} >= {200, 404, 503}

    logs = [log_text(good, "/nope"), log_text(wrong, "/nope"), log_text(down, "/nope")]
    assert "Access denied" in logs[1]  # the refusal was logged, without the password
    for secret in (DB_PASSWORD, WRONG_PASSWORD):
        for text in logs:
            assert secret not in text
        for answer in answers:
            assert secret not in answer.body
            assert secret not in json.dumps(answer.headers)
