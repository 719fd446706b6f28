"""Chat: the intent/slot parser, catalog matching, the conversation over a real service, and
LLM tool routing with a fake chat model. Budget: parser tests < 1 s; the rest < 20 s
(after the session's `tiny_service` fixture is built)."""
from __future__ import annotations

import re
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from assistant.chat.agent import (
    CatalogMatcher,
    ChatAgent,
    ChatSession,
    Intent,
    _Say,
    find_amounts,
    parse,
    parse_amount,
)
from assistant.facts import Fact, FactSheet, format_money
from assistant.verify import verify
from graph.schema import node_id

# ----------------------------------------------------------------------------- parser


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


# ----------------------------------------------------------------------------- matching


def test_matcher_decisions():
    ids = ["P1", "P2", "P3", "P4"]
    titles = ["boAt Rockerz 450 Bluetooth On Ear Headphones with Mic",
              "boAt Rockerz 450 Pro Bluetooth On Ear Headphones",
              "Prestige Iris 750 Watt Mixer Grinder with 3 Jars",
              "Milton Thermosteel Flip Lid Flask, 1000 ml, Silver"]
    m = CatalogMatcher(ids, titles)
    assert m.match("P3").status == "exact"
    r = m.match("prestige iris mixer grinder")
    assert r.status == "confident" and r.best.product_id == "P3"
    r = m.match("boAt Rockerz 450 headphones")
    assert r.status == "ambiguous" and {x.product_id for x in r.matches} >= {"P1", "P2"}
    assert m.match("handmade walnut chess board").status == "none"


def test_matcher_uses_embeddings_to_rerank():
    titles = ["Stainless steel water bottle 1 litre", "Steel wire rope 10 m"]
    vec = {"flask for drinking water": [1, 0], titles[0]: [0.95, 0.1], titles[1]: [0, 1]}
    m = CatalogMatcher(["a", "b"], titles, embed=lambda texts: [vec[t] for t in texts])
    assert m.search("flask for drinking water", k=1)[0].product_id == "a"


def test_matcher_searches_catalog_vectors():
    # "earbuds" shares no words with the title, but the catalog vectors know they are alike
    titles = ["Wireless in-ear headphones with charging case", "Garden hose 15 m", "Desk lamp LED"]
    vectors = [[1, 0, 0], [0, 1, 0], [0, 0, 0]]          # the lamp has no vector: lexical only
    m = CatalogMatcher(["a", "b", "c"], titles, embed=lambda texts: [[0.9, 0.1, 0]] * len(texts),
                       vectors=vectors, n_candidates=1)
    assert m.search("bluetooth earbuds", k=1)[0].product_id == "a"
    assert m.search("desk lamp led", k=1)[0].product_id == "c"


def test_matcher_on_catalog_titles(agent):
    """Calibration check: 4-word title prefixes find their own product when the matcher is sure."""
    t = agent.service.products
    rows = t[t["title"].str.split().str.len() >= 6].sort_index().iloc[::max(1, len(t) // 60)]
    hits = confident = right = 0
    for pid, title in zip(rows["product_id"], rows["title"]):
        r = agent.matcher.match(" ".join(title.split()[:4]).lower(), k=3)
        hits += any(m.product_id == pid for m in r.matches)
        if r.status == "confident":
            confident += 1
            right += r.best.product_id == pid
    assert hits / len(rows) >= 0.8
    assert confident >= len(rows) // 3 and right / confident >= 0.95


# ----------------------------------------------------------------------------- conversation


@pytest.fixture(scope="module")
def agent(tiny_service) -> ChatAgent:
    return ChatAgent(tiny_service)


@pytest.fixture(scope="module")
def product(tiny_service) -> dict[str, Any]:
    """A priced catalog product whose title is unique and at least five words long."""
    t = tiny_service.products
    t = t[t["price"].notna() & (t["title"].str.split().str.len() >= 5)]
    t = t[~t["title"].duplicated(keep=False)].sort_index()
    row = t.iloc[len(t) // 2]
    return {"id": row["product_id"], "title": row["title"], "currency": row["currency"]}


def test_price_by_id_then_followups(agent, product):
    s = ChatSession()
    r = agent.reply(f"what should I charge for {product['id']}? my cost is 100", s)
    sug = s.suggestion
    assert r.intent == "price" and r.suggestion_id == sug.suggestion_id and r.dropped == []
    cur = sug.currency
    assert f"I suggest **{format_money(sug.recommended_price, cur)}**" in r.text
    assert format_money(sug.interval.low, cur) in r.text and format_money(sug.interval.high, cur) in r.text
    assert product["title"] in r.text and "**Why:**" in r.text
    assert agent.service.store.get_suggestion(sug.suggestion_id).recommended_price == sug.recommended_price

    why = agent.reply("why?", s)
    assert why.intent == "why" and why.dropped == [] and format_money(sug.model_price, cur) in why.text

    wi = agent.reply("what if I charge 1,299?", s)
    assert wi.dropped == [] and format_money(1299, cur) in wi.text
    margin = round((1299 - 100) / 1299 * 100, 1)
    assert f"{margin:,.1f}%" in wi.text and format_money(1199, cur) in wi.text
    d = "above" if 1299 > sug.recommended_price else "below"
    assert re.search(rf"is [\d.,]+% {d} our suggestion", wi.text) or "That is our suggestion" in wi.text

    low = agent.reply("what if I charge 50", s)
    assert "below your unit cost" in low.text and "cost floor" in low.text   # cost floor = cost × 1.0
    assert format_money(50, cur) in low.text and format_money(100, cur) in low.text

    comp = agent.reply("show comparables", s)
    assert comp.dropped == [] and sug.evidence.comparables[0].title in comp.text


def test_min_margin_resuggests_with_a_floor(agent, product):
    s = ChatSession()
    agent.reply(f"price {product['id']}", s)
    first = s.suggestion
    cost = round(first.model_price) + 1          # above the model's price: the floor must bind
    r = agent.reply(f"my cost is {cost}", s)
    assert s.cost == cost and "Unit cost set to" in r.text and r.dropped == []
    r = agent.reply("set my minimum margin to 20%", s)
    assert s.policy.min_margin == pytest.approx(0.2) and r.dropped == []
    assert "Your minimum margin is now 20.0%." in r.text
    assert s.suggestion.suggestion_id != first.suggestion_id
    assert s.suggestion.recommended_price >= round(cost * 1.2, 2) - 0.01
    assert any(g.rule == "floor" for g in s.suggestion.guardrails) and "cost floor" in r.text
    # a contradicting rule is refused and the previous rules stay
    r = agent.reply(f"set a ceiling of {cost}", s)
    assert "no valid price" in r.text and "I kept your previous rules" in r.text
    assert s.policy.ceiling is None and s.policy.min_margin == pytest.approx(0.2)


def test_title_lookup_and_new_product(agent, product):
    s = ChatSession()
    r = agent.reply(f"what should I charge for {product['title']}?", s)
    assert s.suggestion is not None and s.suggestion.product_id == product["id"], r.text
    r = agent.reply("what should I charge for a handmade walnut chess board with brass inlays", s)
    assert s.suggestion.product_id is None and "(new product)" in r.text and r.dropped == []
    r = agent.reply("show competitors", s)
    assert "new product" in r.text and "no competitor offers" in r.text
    assert agent.reply("blah", ChatSession()).suggestion_id is None       # one stray word is not priced


def test_did_you_mean_then_choice(tiny_service, product):
    t = tiny_service.products
    other = t[(t["product_id"] != product["id"]) & t["price"].notna()].iloc[0]
    ids = [product["id"], other["product_id"]]
    m = CatalogMatcher(ids, ["Acme Widget Pro 450 Blue", "Acme Widget Pro 450 Red"])
    agent = ChatAgent(tiny_service, matcher=m)
    s = ChatSession()
    r = agent.reply("what should I charge for an acme widget pro 450? my cost is 10", s)
    assert r.intent == "did_you_mean" and "Did you mean" in r.text and s.suggestion is None
    assert "Acme Widget Pro 450 Blue" in r.text and ids[1] in r.text
    n = [m.product_id for m in s.candidates].index(ids[1]) + 1
    assert re.search(rf"\*\*{n}\*\* Acme Widget Pro 450 \w+ \({ids[1]}\)", r.text)
    r = agent.reply(str(n), s)
    assert s.suggestion.product_id == ids[1] and s.cost == 10.0 and s.candidates == []
    s2 = ChatSession()
    agent.reply("what should I charge for an acme widget pro 450?", s2)
    agent.reply("none of these", s2)
    assert s2.suggestion.product_id is None and s2.suggestion.title == "acme widget pro 450"


def test_competitor_offers_are_listed(agent):
    svc = agent.service
    offered = {v for _, v, d in svc.graph.edges(data=True) if d.get("type") == "offers"}
    pid = next((p for p in svc.products.index if node_id("product", p) in offered and svc.competitors(p)),
               None)
    if pid is None:
        pytest.skip("no product with competitor offers in this catalog")
    s = ChatSession()
    agent.reply(pid, s)
    r = agent.reply("who undercuts me?", s)
    assert r.intent == "competitors" and r.dropped == []
    for c in s.suggestion.evidence.competitors:
        assert c.competitor in r.text and format_money(c.price, s.suggestion.currency) in r.text
        if c.price < s.suggestion.recommended_price:
            assert re.search(rf"{re.escape(c.competitor)} at [^\n]* below our suggestion", r.text)


def test_sessions_are_independent(agent, product):
    a, b = ChatSession(), ChatSession()
    agent.reply("set my minimum margin to 30%", a)
    agent.reply(f"price {product['id']}, my cost is 10", a)
    assert b.policy.min_margin is None and b.suggestion is None
    assert agent.reply("why?", b).text.startswith("Ask me about a product first")
    agent.reply(product["id"], b)
    assert not any(g.rule == "floor" for g in b.suggestion.guardrails)
    assert a.suggestion.suggestion_id != b.suggestion.suggestion_id


def test_bad_rules_are_refused_in_merchant_terms(agent):
    s = ChatSession()
    assert "minimum margin must be at most 1000%" in agent.reply("set my minimum margin to 2000%", s).text
    assert "must be above 0" in agent.reply("set MAP to -5", s).text
    assert agent.reply("my cost is -900", s).text == "A unit cost cannot be negative."
    assert s.policy.min_margin is None and s.policy.map_price is None and s.cost is None
    r = agent.reply("what should I charge for a steel kettle, my cost is -900", s)
    assert "unit cost cannot be negative" in r.text and s.suggestion is None


def test_follow_up_without_product_asks_for_one(agent):
    for text in ("why?", "what if I charge 10", "show competitors", "show comparables"):
        assert "Ask me about a product first" in agent.reply(text, ChatSession()).text


def test_replies_stream(agent, product):
    s = ChatSession()
    parts = list(agent.respond(product["id"], s))
    assert len(parts) >= 3 and parts[0] == "_Working on it…_"
    assert parts[-1] == s.last_reply.text and all(parts[-1].startswith(p) for p in parts[1:])


def test_unverified_line_is_never_shown():
    sheet = FactSheet(facts=[Fact("recommended_price", 899.0, "price", currency="INR")], currency="INR")
    say = _Say(sheet)
    say("I suggest {recommended_price}.", "Competitors charge ₹1,050.00 on average.",
        "That is 12% below the median.")
    dropped: list[str] = []
    text = say.text(dropped)
    assert text == "I suggest ₹899.00." and len(dropped) == 2
    assert verify(text, sheet).ok


@pytest.fixture(scope="module")
def demand_agent(tiny_service, demo_dir, tmp_path_factory) -> ChatAgent:
    """A chat over a service with the demo's retail sales history (demand what-ifs)."""
    from assistant.demand_advisor import DemandAdvisor
    from assistant.service import PricingService
    from assistant.suggestion_store import SuggestionStore
    from graph.adapters import load_path

    cat = load_path(demo_dir / "retail_price")
    svc = PricingService(tiny_service.graph, tiny_service.predictor,
                         SuggestionStore(tmp_path_factory.mktemp("chat_demand") / "s.sqlite"),
                         demand=DemandAdvisor().fit(cat.sales, cat.products, cat.offers))
    return ChatAgent(svc, matcher=CatalogMatcher(list(svc.products.index), ["x"] * len(svc.products)))


def test_what_if_shows_verified_demand_with_intervals(demand_agent):
    svc = demand_agent.service
    est = svc.demand.model_.estimates_
    pid = sorted(p for p, e in est.items() if p in svc.products.index
                 and e.source == "product" and e.high < -1)[0]
    price = round(est[pid].ref_price, 2)
    cost = round(price / 2, 2)
    s = ChatSession()
    demand_agent.reply(f"price {pid}, my cost is {cost}", s)
    r = demand_agent.reply(f"what if I charge {price}?", s)
    w = svc.what_if(pid, price, cost=cost)
    assert r.intent == "what_if" and not w.extrapolated
    assert not [d for d in r.dropped if "whatif_" in d and "cheap" not in d], r.dropped
    money = lambda v: format_money(round(v, 2), "BRL")  # noqa: E731
    assert "Demand, from this product's sales history (per month, 90% intervals):" in r.text
    assert (f"Units: about {round(w.units):,} units ({round(w.units_low):,} to "
            f"{round(w.units_high):,} units)") in r.text
    assert f"Revenue: {money(w.revenue)} ({money(w.revenue_low)} to {money(w.revenue_high)})" in r.text
    assert f"Profit: {money(w.profit)} ({money(w.profit_low)} to {money(w.profit_high)})" in r.text
    assert f"Price elasticity: {w.elasticity['beta']:+.2f}" in r.text and "extrapolated" not in r.text

    far = demand_agent.reply("what if I charge 1,299?", s)
    assert format_money(1299, "BRL") in far.text and "Demand, from this product" in far.text
    assert "outside the prices it sold at" in far.text and "extrapolated" in far.text
    assert format_money(est[pid].price_range[1], "BRL") in far.text
    assert not [d for d in far.dropped if "whatif_" in d and "cheap" not in d], far.dropped

    no_sales = next(p for p in svc.products.index if not svc.demand.has_sales(p))
    s2 = ChatSession()
    demand_agent.reply(f"price {no_sales}", s2)
    r = demand_agent.reply("what if I charge 10", s2)
    assert "Demand: not estimated — no sales history for this product." in r.text


# ----------------------------------------------------------------------------- LLM tool routing


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


def test_llm_routes_through_tools(tiny_service, product):
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


def test_llm_numbers_must_come_from_the_message(tiny_service, product):
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
