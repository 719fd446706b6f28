"""assistant.chat.slots: the values a message carries (rules; no model)."""
from __future__ import annotations

import pytest

from assistant.chat.slots import extract_slots, product_words

IDS = {"watches1", "B07PR1CL3S"}


def slots(text: str):
    return extract_slots(text, lambda t: t if t in IDS else None, vocabulary={"set", "planters"})


def test_issue_messages():
    s = slots("B07PR1CL3S price pls, cost 900, im selling at 1499, should i drop it?")
    assert (s.product_id, s.cost, s.current_price, s.price) == ("B07PR1CL3S", 900, 1499, None)
    s = slots("what is my margin at 1499 if cost is 900 for B07PR1CL3S")
    assert (s.product_id, s.price, s.cost, s.margin) == ("B07PR1CL3S", 1499, 900, None)
    s = slots("what if I sell watches1 at 199? my cost is 60")
    assert (s.product_id, s.price, s.cost, s.current_price) == ("watches1", 199, 60, None)
    s = slots("handmade brass diya lamp, cost 150 rupees")
    assert (s.product_words, s.cost, s.currency) == ("handmade brass diya lamp", 150, "INR")


@pytest.mark.parametrize("text, words", [
    ("what should I charge for boAt Rockerz 450 headphones? my cost is 900", "boAt Rockerz 450 headphones"),
    ("I sell it for 1,29,999 and it costs me 80,000. Price for Samsung Galaxy S23", "Samsung Galaxy S23"),
    ("how am I doing?", ""),
    ("lowest price for 30% margin", ""),
    ("set of 4 terracotta planters, what price?", "set of 4 terracotta planters"),
])
def test_product_words_drop_the_question(text, words):
    assert slots(text).product_words == words


def test_targets_stock_days_choices_and_refs():
    assert slots("lowest price for a 30% margin").margin == pytest.approx(0.3)
    assert slots("I need a 50% markup, cost is 400").markup == pytest.approx(0.5)
    s = slots("I have 200 units, want to clear them in 3 weeks")
    assert (s.stock, s.days) == (200, 21)
    assert slots("the second one").choice == 2 and slots("last one").choice == -1
    assert slots("none of these").new_product
    assert slots("should I drop it?").ref and not slots("should I drop it?").product_words
    assert slots("Rs900 is my cost").cost == 900 and slots("I sell at 1499/-").current_price == 1499


def test_product_words_keeps_connectors_inside_a_run():
    text = "price for a set of 6 ceramic cups with saucers please"
    assert product_words(text) == "ceramic cups with saucers"          # "set" is a question word...
    assert product_words(text, keep={"set"}.__contains__) == "set of 6 ceramic cups with saucers"  # ...or not
