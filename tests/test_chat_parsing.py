"""assistant.chat.parsing: amounts, intents and slots of single messages (no model). Budget < 1 s."""
from __future__ import annotations

import pytest

from assistant.chat import find_amounts, parse, parse_amount


@pytest.mark.parametrize("text, value, percent, currency", [
    ("1,299", 1299.0, False, None),
    ("₹1299", 1299.0, False, "INR"),
    ("Rs. 1,29,999", 129999.0, False, "INR"),
    ("£3.50", 3.5, False, "GBP"),
    ("R$ 89,90", 8990.0, False, "BRL"),       # a comma group is thousands here, never decimals
    ("20%", 20.0, True, None),
    ("12.5 percent", 12.5, True, None),
    ("1.5k", 1500.0, False, None),
    ("900 rupees", 900.0, False, "INR"),
])
def test_amounts(text, value, percent, currency):
    (a,) = find_amounts(text)
    assert (a.value, a.percent, a.currency) == (value, percent, currency)


def test_digits_inside_names_are_not_amounts():
    assert find_amounts("Tiffen 67mm filter X100 B07JW9H4J1 v1.2") == []
    assert parse_amount("boAt Rockerz 450 at 1,299") == 450.0   # a model number is still a number


@pytest.mark.parametrize("text, name", [
    ("what should I charge for boAt Rockerz 450 headphones? my cost is 900", "price"),
    ("B07JW9H4J1", "price"),
    ("why?", "why"), ("Why is it so high", "why"), ("explain", "why"),
    ("what if I charge 1,299?", "what_if"), ("how about ₹1199", "what_if"), ("try 999", "what_if"),
    ("what margin would I make at 1299?", "what_if"),
    ("show competitors", "competitors"), ("who undercuts me?", "competitors"),
    ("show comparables", "comparables"), ("similar products please", "comparables"),
    ("set my minimum margin to 20%", "set_policy"), ("my cost is 900", "set_policy"),
    ("remove my ceiling", "set_policy"), ("use .99 endings", "set_policy"),
    ("2", "choose"), ("the second one", "choose"), ("none of these", "choose"),
    ("hello", "help"), ("reset", "reset"), ("", "unknown"), ("1299", "unknown"),
])
def test_intents(text, name):
    assert parse(text).name == name


def test_price_request_slots():
    i = parse("what should I charge for boAt Rockerz 450 headphones? my cost is 900")
    assert (i.query, i.cost, i.current_price, i.explicit) == ("boAt Rockerz 450 headphones", 900.0, None, True)
    i = parse("I sell it for 1,29,999 and it costs me 80,000. Price for Samsung Galaxy S23")
    assert (i.query, i.cost, i.current_price) == ("Samsung Galaxy S23", 80000.0, 129999.0)
    i = parse("Samsung Galaxy S23, I sell it at ₹70,000")
    assert (i.query, i.current_price, i.currency) == ("Samsung Galaxy S23", 70000.0, "INR")
    assert parse("blah").explicit is False


def test_what_if_and_policy_slots():
    assert parse("what if I charge ₹1,299?").price == 1299.0
    assert parse("what if I charge 1,299? my cost is 900").cost == 900.0
    assert parse("set my minimum margin to 20%").policy == {"min_margin": 0.2}
    assert parse("min margin 15").policy == {"min_margin": 0.15}          # percent without a sign
    assert parse("margin 0.25").policy == {"min_margin": 0.25}            # already a fraction
    assert parse("set MAP to ₹999 and ceiling 2,000").policy == {"map_price": 999.0, "ceiling": 2000.0}
    assert parse("max change 10%").policy == {"max_change": 0.1}
    assert parse("remove my ceiling").policy == {"ceiling": None}
    assert parse("end prices in 9").policy == {"ending": "9"}
    assert parse("no price ending").policy == {"ending": "none"}
    assert parse("2").choice == 2 and parse("new").new_product
