"""The chat's "apply it": the rule that recognises the request, and applying the last suggestion
through the same PriceBook as the API (auto-apply or the approval queue, with the book's
numbers in a verified reply); without a price book or a priced product, a clear answer."""
from __future__ import annotations

import pytest

from assistant.chat import ChatAgent, ChatSession
from assistant.chat.parsing import apply_request, parse
from assistant.chat.routing import ToolRouter
from assistant.facts import format_money
from assistant.pricebook import ApprovalPolicy, PriceBook

ALWAYS = ApprovalPolicy(max_auto_change=10, min_confidence=0)     # everything applies at once
NEVER = ApprovalPolicy(max_auto_change=0, min_confidence=1)       # everything waits


@pytest.mark.parametrize("text, price", [
    ("apply it", None), ("Apply that price", None), ("set it to the suggested price", None),
    ("ok, apply it please", None), ("apply", None), ("yes apply it at 1,299", 1299.0),
    ("go ahead and apply the suggestion", None), ("use the suggested price", None),
    ("Apply it. Thanks!", None), ("set the price to the recommended price", None),
])
def test_apply_requests(text, price):
    assert apply_request(text) == (True, price)
    assert parse(text).name == "apply" and parse(text).price == price


@pytest.mark.parametrize("text", ["apply a 20% margin", "does MAP apply here?", "apply 799",
                                  "what if I apply 799", "set my minimum margin to 20%",
                                  "what should I charge for an apple watch"])
def test_not_apply_requests(text):
    assert apply_request(text) == (False, None)


@pytest.fixture(scope="module")
def agent(tiny_service) -> ChatAgent:
    return ChatAgent(tiny_service, explain=False)


def _book(agent: ChatAgent, tmp_path, policy: ApprovalPolicy) -> PriceBook:
    agent.pricebook = PriceBook(tmp_path / "book.sqlite", policy)
    return agent.pricebook


def _priced(agent: ChatAgent, pid: str) -> ChatSession:
    s = ChatSession()
    assert agent.reply(f"what should I charge for {pid}?", s).intent == "price"
    assert s.suggestion is not None
    return s


def test_the_classifier_route_sees_the_rule(agent):
    assert agent.understand("apply it", ChatSession()).name == "apply"
    assert agent.understand("set it to the suggested price", ChatSession()).name == "apply"
    assert agent.understand("apply a minimum margin of 20%", ChatSession()).name != "apply"


def test_without_a_price_book_applying_is_not_enabled(agent, catalog_product):
    agent.pricebook = None
    s = _priced(agent, catalog_product["id"])
    r = agent.reply("apply it", s)
    assert r.intent == "apply" and "not enabled" in r.text and r.dropped == []


def test_without_a_priced_product(agent, tmp_path):
    book = _book(agent, tmp_path, ALWAYS)
    r = agent.reply("apply it", ChatSession())
    assert r.intent == "apply" and "no priced product" in r.text and r.dropped == []
    assert book.approvals(None) == []


def test_auto_apply(agent, catalog_product, tmp_path):
    book = _book(agent, tmp_path, ALWAYS)
    s = _priced(agent, catalog_product["id"])
    # the tiny model's intervals are wide, so it abstains and an abstention always waits for an
    # approver (test_queued_for_approval); here the suggestion is taken as a confident one
    s.suggestion = s.suggestion.model_copy(update={"abstain": False})
    sug = s.suggestion
    r = agent.reply("apply it", s)
    assert r.intent == "apply" and r.dropped == [] and r.suggestion_id == sug.suggestion_id
    assert book.current_price(sug.product_id) == sug.recommended_price
    [h] = book.history(sug.product_id)
    assert h.actor == "merchant:chat" and h.rule == "auto-apply policy"
    assert h.suggestion_id == sug.suggestion_id
    assert "Applied" in r.text and format_money(h.new_price, sug.currency) in r.text
    if h.old_price is not None:
        assert format_money(h.old_price, sug.currency) in r.text
    assert "auto-apply policy" in r.text and "±1000%" in r.text

    # a named price below it: applied, with the lowest price before the reduction
    lower = round(h.new_price * 0.8, 2)
    r2 = agent.reply(f"apply it at {lower}", s)
    assert r2.dropped == [] and book.current_price(sug.product_id) == lower
    ref = min(x for x in (h.old_price, h.new_price) if x is not None)
    assert "lowest price over the last 30 days" in r2.text
    assert format_money(ref, sug.currency) in r2.text


def test_queued_for_approval(agent, catalog_product, tmp_path):
    book = _book(agent, tmp_path, NEVER)
    s = _priced(agent, catalog_product["id"])
    r = agent.reply("set it to the suggested price", s)
    [a] = book.approvals("pending")
    assert a.suggestion_id == s.suggestion.suggestion_id and a.requested_by == "merchant:chat"
    assert r.intent == "apply" and r.dropped == [] and "Queued for approval" in r.text
    assert f"#{a.approval_id}" in r.text and a.reason in r.text
    assert format_money(a.proposed_price, a.currency) in r.text
    assert book.current_price(catalog_product["id"]) is None          # nothing applied


def test_the_session_names_who_applies_and_may_refuse(agent, catalog_product, tmp_path):
    book = _book(agent, tmp_path, NEVER)
    s = _priced(agent, catalog_product["id"])
    s.not_allowed = "signed in as gone (none), who may not apply prices"
    r = agent.reply("apply it", s)
    assert r.intent == "apply" and "may not apply" in r.text and book.approvals("pending") == []
    s.not_allowed, s.actor = None, "merchant:mia"       # what the Chat tab sets when signed in
    agent.reply("apply it", s)
    [a] = book.approvals("pending")
    assert a.requested_by == "merchant:mia"


def test_a_new_product_has_no_price_list_entry(agent, tmp_path):
    book = _book(agent, tmp_path, ALWAYS)
    s = ChatSession()
    agent.reply("what should I charge for a handmade brass diya lamp? my cost is 200", s)
    assert s.suggestion is not None and not s.suggestion.product_id
    r = agent.reply("apply it", s)
    assert "Only catalog products" in r.text and book.approvals(None) == []


def test_the_router_offers_the_tool(agent):
    names = [t.name for t in ToolRouter(object(), agent.handle).tools(ChatSession())]
    assert "apply_price" in names
