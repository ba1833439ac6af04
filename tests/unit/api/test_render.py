from __future__ import annotations

import json

from api.render import counts_json


def test_json_keeps_order_and_non_ascii() -> None:
    document = counts_json("é", [("z", 1), ("é", 3)])
    assert "é" in document
    assert list(json.loads(document)["visits"]) == ["z", "é"]
    assert json.loads(document) == {"replica": "é", "visits": {"z": 1, "é": 3}, "total": 4}
