from __future__ import annotations

import json

import pymysql

from api.db_errors import describe
from api.greeting import greeting_text
from api.render import counts_json


def test_greeting_lists_every_replica_in_the_given_order() -> None:
    text = greeting_text("b", [("b", 2), ("a", 10)])
    assert text == "Hello from b!\n\nYou visited:\n- b 2 times\n- a 10 times\n"


def test_json_keeps_order_and_non_ascii() -> None:
    document = counts_json("é", [("z", 1), ("é", 3)])
    assert "é" in document
    assert list(json.loads(document)["visits"]) == ["z", "é"]
    assert json.loads(document) == {"replica": "é", "visits": {"z": 1, "é": 3}, "total": 4}


def test_error_description_is_one_line() -> None:
    error = pymysql.err.OperationalError(2003, "Can't connect to MySQL server on 'db'\n(timed out)")
    assert describe(error) == "Can't connect to MySQL server on 'db' (timed out) (error 2003)"
