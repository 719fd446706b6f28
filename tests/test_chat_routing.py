"""assistant.chat.routing: LLM tool routing with a fake chat model over the real agent; numbers
in tool arguments must come from the message. Budget < 5 s after `tiny_service` is built."""
from __future__ import annotations

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from assistant.chat import ChatAgent, ChatSession, Intent
from assistant.chat.routing import grounded
from assistant.facts import format_money


def test_grounded_numbers():
    assert grounded({"price": 1299}, "what if I charge 1,299?")
    assert not grounded({"price": 1229}, "what if I charge 1,299?")
    assert grounded({"product": "B07"}, "price B07")


class FakeToolModel(BaseChatModel):
    """Emits scripted tool calls; records the tools bound and the messages received."""

    script: list[list[dict]] = []
    bound: list[str] = []
    received: list[list] = []

    @property
    def _llm_type(self) -> str:
        return "fake-tools"

    def bind_tools(self, tools, **kwargs):
        self.bound[:] = [t.name for t in tools]
        return self

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        self.received.append(list(messages))
        calls = self.script.pop(0) if self.script else []
        msg = AIMessage(content="" if calls else "Sure!",
                        tool_calls=[{"name": c["name"], "args": c["args"], "id": f"call{i}"}
                                    for i, c in enumerate(calls)])
        return ChatResult(generations=[ChatGeneration(message=msg)])


def test_llm_routes_through_tools(tiny_service, catalog_product):
    product = catalog_product
    llm = FakeToolModel(script=[
        [{"name": "suggest_price", "args": {"product": product["id"], "cost": 100}}],
        [{"name": "what_if", "args": {"price": 1299}}],
        [{"name": "set_rules", "args": {"min_margin_pct": 20}}],
    ], bound=[], received=[])
    agent = ChatAgent(tiny_service, llm=llm)
    s = ChatSession()
    r = agent.reply(f"what should I charge for {product['id']}? my cost is 100", s)
    assert r.routed_by == "llm" and s.suggestion.product_id == product["id"] and s.cost == 100
    assert {"suggest_price", "what_if", "set_rules", "explain_why", "show_competitors"} <= set(llm.bound)
    r = agent.reply("and what if I charge 1,299?", s)
    assert r.routed_by == "llm" and r.intent == "what_if"
    assert format_money(1299, s.suggestion.currency) in r.text and r.dropped == []
    r = agent.reply("make my margin at least 20%", s)
    assert r.routed_by == "llm" and s.policy.min_margin == pytest.approx(0.2)
    assert "product in context" in llm.received[-1][0].content       # context reaches the router


def test_llm_numbers_must_come_from_the_message(tiny_service, catalog_product):
    product = catalog_product
    # The model misreads 1,299 as 1,229: the call is refused and the parser answers instead.
    llm = FakeToolModel(script=[[{"name": "what_if", "args": {"price": 1229}}], []],
                        bound=[], received=[])
    agent = ChatAgent(tiny_service, llm=llm)
    s = ChatSession()
    agent.handle(Intent("price", query=product["id"]), s)
    r = agent.reply("what if I charge 1,299?", s)
    assert r.routed_by == "parser" and format_money(1299, s.suggestion.currency) in r.text
    assert format_money(1229, s.suggestion.currency) not in r.text
    r = agent.reply("why?", s)           # no tool call: the parser routes
    assert r.routed_by == "parser" and r.intent == "why"
