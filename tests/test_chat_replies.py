"""assistant.chat.replies: lines are shown only once verified against their fact sheet."""
from __future__ import annotations

from assistant.chat import Say
from assistant.facts import Fact, FactSheet
from assistant.verify import verify


def test_unverified_line_is_never_shown():
    sheet = FactSheet(facts=[Fact("recommended_price", 899.0, "price", currency="INR")], currency="INR")
    say = Say(sheet)
    say("I suggest {recommended_price}.", "Competitors charge ₹1,050.00 on average.",
        "That is 12% below the median.")
    dropped: list[str] = []
    text = say.text(dropped)
    assert text == "I suggest ₹899.00." and len(dropped) == 2
    assert verify(text, sheet).ok
