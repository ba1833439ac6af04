from __future__ import annotations

from api.greeting import greeting_text


def test_greeting_lists_every_replica_in_the_given_order() -> None:
    text = greeting_text("b", [("b", 2), ("a", 10)])
    assert text == "Hello from b!\n\nYou visited:\n- b 2 times\n- a 10 times\n"
