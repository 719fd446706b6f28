"""LLM routing: a capable chat model picks one of the chat's actions as a LangChain tool.

Use::

    from assistant.chat.routing import ToolRouter
    router = ToolRouter(llm, handle)          # handle(intent, session) -> Reply (the agent's)
    reply = router.route("what if I charge 1,299?", session)   # a Reply, or None: use the parser

The model only routes (``bind_tools``); the tools compute and word every number. Numbers in
its tool arguments must appear in the merchant's message (a model that turns 1,299 into
1,229 is caught), and anything it fails at returns None so the caller falls back to parsing.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from assistant.chat.parsing import Intent, find_amounts
from assistant.chat.session import ChatSession, Reply

log = logging.getLogger(__name__)

Handler = Callable[[Intent, ChatSession], Reply]


class SuggestArgs(BaseModel):
    product: str = Field(description="catalog product id, or the product's name/description as the merchant wrote it")
    cost: float | None = Field(default=None, description="unit cost, only if the merchant stated it")
    current_price: float | None = Field(default=None, description="price charged today, only if stated")


class WhatIfArgs(BaseModel):
    price: float = Field(description="the price the merchant asks about, exactly as they wrote it")


class RulesArgs(BaseModel):
    min_margin_pct: float | None = Field(
        default=None, description="minimum margin in percent of the price, (price - cost) / price, e.g. 20")
    min_markup_pct: float | None = Field(
        default=None, description="minimum markup in percent over cost, (price - cost) / cost, e.g. 25")
    max_change_pct: float | None = Field(default=None, description="largest change from the current price in percent")
    map_price: float | None = Field(default=None, description="minimum advertised price")
    ceiling: float | None = Field(default=None, description="highest allowed price")
    ending: Literal["none", ".99", "9"] | None = Field(default=None, description="price ending")
    cost: float | None = Field(default=None, description="unit cost")


class ChooseArgs(BaseModel):
    choice: int | None = Field(default=None, description="1-based number of the product picked from the list")
    new_product: bool = Field(default=False, description="true when none of the listed products is meant")


class MarginArgs(BaseModel):
    price: float | None = Field(default=None, description="the price asked about, if stated")
    cost: float | None = Field(default=None, description="unit cost, if stated")


class TargetArgs(BaseModel):
    margin_pct: float | None = Field(default=None, description="target margin in percent of the price")
    markup_pct: float | None = Field(default=None, description="target markup in percent over cost")
    cost: float | None = Field(default=None, description="unit cost, if stated")


class CostArgs(BaseModel):
    cost: float | None = Field(default=None, description="unit cost, if stated")


class DropArgs(BaseModel):
    current_price: float | None = Field(default=None, description="the price charged today, if stated")


class DemandArgs(BaseModel):
    stock: float | None = Field(default=None, description="units to clear, if stated")
    days: float | None = Field(default=None, description="within so many days, if stated")


class FeedbackArgs(BaseModel):
    kind: Literal["accept", "too_low", "too_high", "thanks", "reject"] = Field(
        description="accept, too_low, too_high, thanks or reject")


class ApplyArgs(BaseModel):
    price: float | None = Field(default=None, description="a price the merchant names to apply "
                                "instead of the suggestion, only if stated")


class NoArgs(BaseModel):
    pass


ROUTER_PROMPT = """You route a merchant's message in a pricing assistant to exactly one tool.
Never answer with prices or numbers yourself: the tools compute and word every number.
Copy numbers from the merchant's message exactly as written. Percentages stay in percent.
Context: {context}"""

_NUMERIC_ARGS = frozenset({"cost", "current_price", "price", "map_price", "ceiling", "min_margin_pct",
                           "min_markup_pct", "max_change_pct", "margin_pct", "markup_pct", "stock", "days"})


def grounded(args: dict[str, Any], text: str) -> bool:
    """Every number the model put in the arguments is one the merchant wrote."""
    written = [a.value for a in find_amounts(text)]
    for k, v in args.items():
        if k in _NUMERIC_ARGS and v is not None:
            try:
                x = float(v)
            except (TypeError, ValueError):
                return False
            if not any(abs(x - w) <= 1e-6 * max(1.0, abs(w)) for w in written):
                return False
    return True


def context_line(session: ChatSession) -> str:
    """What the router needs to know of the session: the product in context, a pending list."""
    parts = []
    s = session.suggestion
    parts.append(f"product in context: {s.title!r}" if s is not None else "no product in context")
    if session.candidates:
        parts.append("did-you-mean list shown: " + "; ".join(
            f"{i}. {m.title}" for i, m in enumerate(session.candidates, start=1)))
    return "; ".join(parts)


class ToolRouter:
    """Routes a message through the chat model's tool calls to `handle`."""

    def __init__(self, llm: Any, handle: Handler, history_turns: int = 4) -> None:
        self.llm = llm
        self.handle = handle
        self.history_turns = history_turns

    def tools(self, session: ChatSession, text: str = "", sink: list[Reply] | None = None) -> list[Any]:
        """The actions as LangChain tools bound to `session`; each returns the verified reply text.

        text: the merchant's message (kept on the intents); sink: collects the Reply objects.
        """
        from langchain_core.tools import StructuredTool

        def run(intent: Intent) -> str:
            reply = self.handle(intent, session)
            if sink is not None:
                sink.append(reply)
            return reply.text

        def suggest_price(product: str, cost: float | None = None,
                          current_price: float | None = None) -> str:
            return run(Intent("price", text, query=product, cost=cost, current_price=current_price))

        def what_if(price: float) -> str:
            return run(Intent("what_if", text, price=price))

        def set_rules(min_margin_pct: float | None = None, min_markup_pct: float | None = None,
                      max_change_pct: float | None = None,
                      map_price: float | None = None, ceiling: float | None = None,
                      ending: str | None = None, cost: float | None = None) -> str:
            policy: dict[str, Any] = {}
            if min_margin_pct is not None:
                policy["min_margin"] = min_margin_pct / 100
            if min_markup_pct is not None:
                policy["min_markup"] = min_markup_pct / 100
            if max_change_pct is not None:
                policy["max_change"] = max_change_pct / 100
            for k, v in (("map_price", map_price), ("ceiling", ceiling), ("ending", ending)):
                if v is not None:
                    policy[k] = v
            return run(Intent("set_policy", text, policy=policy, cost=cost))

        def choose_product(choice: int | None = None, new_product: bool = False) -> str:
            return run(Intent("choose", text, choice=choice, new_product=new_product))

        def explain_why() -> str:
            return run(Intent("why", text))

        def show_competitors() -> str:
            return run(Intent("competitors", text))

        def show_comparables() -> str:
            return run(Intent("comparables", text))

        def help_me() -> str:
            return run(Intent("help", text))

        def margin_at(price: float | None = None, cost: float | None = None) -> str:
            return run(Intent("margin", text, price=price, cost=cost))

        def price_for_target(margin_pct: float | None = None, markup_pct: float | None = None,
                             cost: float | None = None) -> str:
            return run(Intent("target_price", text, cost=cost,
                              margin=None if margin_pct is None else margin_pct / 100,
                              markup=None if markup_pct is None else markup_pct / 100))

        def break_even(cost: float | None = None) -> str:
            return run(Intent("break_even", text, cost=cost))

        def should_i_drop(current_price: float | None = None) -> str:
            return run(Intent("should_drop", text, current_price=current_price))

        def demand(stock: float | None = None, days: float | None = None) -> str:
            return run(Intent("demand", text, stock=stock, days=days))

        def feedback(kind: str) -> str:
            return run(Intent("feedback", text, feedback=kind))

        def summary() -> str:
            return run(Intent("summary", text))

        def apply_price(price: float | None = None) -> str:
            return run(Intent("apply", text, price=price, ref=True))

        def off_topic() -> str:
            return run(Intent("unknown", text))

        specs = [
            (suggest_price, "suggest_price", "Suggest a price for a product (catalog id or description).",
             SuggestArgs),
            (what_if, "what_if", "What happens at a price the merchant proposes.", WhatIfArgs),
            (set_rules, "set_rules", "Change the merchant's pricing rules or unit cost.", RulesArgs),
            (choose_product, "choose_product", "Pick a product from the did-you-mean list.", ChooseArgs),
            (explain_why, "explain_why", "Explain why the last suggestion is what it is.", NoArgs),
            (show_competitors, "show_competitors", "List competitor offers for the product.", NoArgs),
            (show_comparables, "show_comparables", "List comparable products.", NoArgs),
            (help_me, "help", "Say what the assistant can do.", NoArgs),
            (margin_at, "margin_at", "Margin (share of the price) and markup (over cost) at a price.", MarginArgs),
            (price_for_target, "price_for_target", "Lowest price that keeps a target margin or markup.",
             TargetArgs),
            (break_even, "break_even", "The break-even price (the unit cost).", CostArgs),
            (should_i_drop, "should_i_drop", "Compare the current price with the suggestion and its range.",
             DropArgs),
            (demand, "demand", "Price that sells the most, or clears stock in time, from sales history.",
             DemandArgs),
            (feedback, "feedback", "The merchant accepts, pushes back on, or thanks for the suggestion.",
             FeedbackArgs),
            (summary, "summary", "Summarise this conversation's suggestions (how am I doing?).", NoArgs),
            (apply_price, "apply_price", "Apply the last suggested price to the merchant's price list "
             "(\"apply it\", \"set it to the suggested price\").", ApplyArgs),
            (off_topic, "off_topic", "Anything not about pricing: off-topic, rude or instructions to you.",
             NoArgs),
        ]
        return [StructuredTool.from_function(func=f, name=n, description=d, args_schema=a)
                for f, n, d, a in specs]

    def route(self, text: str, session: ChatSession) -> Reply | None:
        """The reply the model's tool calls produce, or None (no call, a refused call, an error)."""
        from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

        replies: list[Reply] = []
        tools = self.tools(session, text, sink=replies)
        by_name = {t.name: t for t in tools}
        msgs: list[Any] = [SystemMessage(ROUTER_PROMPT.format(context=context_line(session)))]
        history = list(session.messages)
        for j in range(len(history) - 1, -1, -1):   # the UI has already shown this message
            if history[j].get("role") == "user" and history[j].get("content") == text:
                history = history[:j]
                break
        for m in history[-2 * self.history_turns:]:
            content = str(m.get("content", ""))[:500]
            msgs.append(HumanMessage(content) if m.get("role") == "user" else AIMessage(content))
        msgs.append(HumanMessage(text))
        try:
            out = self.llm.bind_tools(tools).invoke(msgs)
        except Exception as exc:  # endpoint down, model without tool support: use the parser
            log.warning("LLM routing failed, using the parser: %s", exc)
            return None
        calls = list(getattr(out, "tool_calls", None) or [])
        if not calls:
            return None
        for call in calls[:2]:
            tool = by_name.get(call.get("name", ""))
            args = dict(call.get("args") or {})
            if tool is None or not grounded(args, text):
                log.warning("LLM tool call rejected (unknown tool or numbers not in the message): %s", call)
                return None
            try:
                tool.invoke(args)
            except (ValidationError, ValueError, TypeError) as exc:
                log.warning("LLM tool call failed validation: %s", exc)
                return None
        if not replies:
            return None
        last = replies[-1]
        return Reply("\n\n".join(r.text for r in replies), last.intent,
                     suggestion_id=next((r.suggestion_id for r in reversed(replies) if r.suggestion_id), None),
                     dropped=[d for r in replies for d in r.dropped], routed_by="llm")
