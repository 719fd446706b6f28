"""The chat agent: one message in, one verified reply out; composes parsing, catalog matching,
the session, the reply writers and (with a capable model) LLM tool routing.

Use::

    from assistant.chat import ChatAgent, ChatSession
    agent = ChatAgent(service)            # or ChatAgent.from_env(service): LangChain tool calling
    session = ChatSession()               #   when PRICING_LLM_BACKEND=openai
    for text in agent.respond("what should I charge for boAt Rockerz 450? my cost is 900", session):
        print(text)                       # the reply so far: replies stream
    agent.reply("what if I charge 1,299?", session).text      # follow-ups use the session

Routing. `assistant.chat.parsing.parse` maps a message to an intent with slots without a
model, so it works with the small offline LLM. When a capable chat model is configured, the
`ToolRouter` asks it to pick one of the same actions as LangChain tools; anything it fails at
falls back to the parser. Replies are written by `assistant.chat.replies` over fact sheets
built in code, so every number shown is verified.
"""
from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import ValidationError

from assistant.chat import replies
from assistant.chat.matching import CatalogMatcher
from assistant.chat.parsing import Intent, parse, product_ids_in
from assistant.chat.ports import ChatService
from assistant.chat.replies import Say
from assistant.chat.routing import ToolRouter
from assistant.chat.session import ChatSession, Reply
from assistant.facts import FactSheet, suggestion_fact_sheet
from assistant.guardrails import GuardrailConflict, GuardrailPolicy
from assistant.suggestion import Suggestion, SuggestOptions
from graph.contracts import ProductIn

Writer = Callable[[Say, Suggestion], None]


class ChatAgent:
    """Conversation logic over a pricing service; one agent serves every session."""

    def __init__(self, service: ChatService, llm: Any | None = None, matcher: CatalogMatcher | None = None,
                 k_comparables: int = 5, explain: bool = True, history_turns: int = 4) -> None:
        self.service = service
        self.llm = llm
        self.k_comparables = k_comparables
        self.explain = explain
        self.router = ToolRouter(llm, self.handle, history_turns) if llm is not None else None
        self._matcher = matcher
        self._matcher_lock = threading.Lock()

    @classmethod
    def from_env(cls, service: ChatService, **kwargs: Any) -> ChatAgent:
        """Tool-calling routing when PRICING_LLM_BACKEND=openai (a capable endpoint); else the parser."""
        llm = None
        if os.environ.get("PRICING_LLM_BACKEND", "").strip().lower() == "openai":
            from assistant.llm import LLMConfig, make_llm

            llm = make_llm(LLMConfig.from_env())
        return cls(service, llm=llm, **kwargs)

    @property
    def matcher(self) -> CatalogMatcher:
        with self._matcher_lock:
            if self._matcher is None:
                self._matcher = CatalogMatcher.from_service(self.service)
            return self._matcher

    def warm_up(self) -> None:
        """Build the catalog index now (in a background thread), not on the first question."""
        threading.Thread(target=lambda: self.matcher, daemon=True, name="catalog-matcher").start()

    # ------------------------------------------------------------ entry points
    def respond(self, text: str, session: ChatSession) -> Iterator[str]:
        """Stream the reply to `text`: growing partial texts, the last one complete."""
        yield "_Working on it…_"
        reply = self.reply(text, session)
        session.last_reply = reply
        shown: list[str] = []
        for part in reply.text.split("\n"):
            shown.append(part)
            yield "\n".join(shown)

    def reply(self, text: str, session: ChatSession) -> Reply:
        """The complete reply to `text` (updates `session`)."""
        if self.router is not None:
            routed = self.router.route(text, session)
            if routed is not None:
                return routed
        return self.handle(parse(text), session)

    def handle(self, intent: Intent, session: ChatSession) -> Reply:
        """The reply to an understood message (the parser's or the router's)."""
        fn = {"price": self._price, "choose": self._choose, "why": self._why,
              "what_if": self._what_if, "competitors": self._competitors,
              "comparables": self._comparables, "set_policy": self._set_policy,
              "help": self._help, "reset": self._reset}.get(intent.name, self._unknown)
        try:
            return fn(intent, session)
        except ValidationError as exc:
            return replies.plain("", intent.name, facts={"err": replies.error_words(exc)},
                                 template="I couldn't use that: {err}. Your rules are unchanged.")

    # ------------------------------------------------------------ fact sheets and summaries
    def sheet(self, s: Suggestion, session: ChatSession | None = None) -> FactSheet:
        """Every number a reply about suggestion `s` may show, as facts (the shared builder)."""
        return suggestion_fact_sheet(s, cost=session.cost if session is not None else None,
                                     in_catalog=self._in_catalog(s))

    def describe(self, s: Suggestion, cost: float | None = None, hint: bool = False) -> Reply:
        """The verified summary of suggestion `s` (price, interval, evidence, guardrails, why)."""
        say = Say(self.sheet(s, ChatSession(cost=cost)))
        replies.write_suggestion(say, s, self._in_catalog(s), with_hint=hint)
        return say.reply("describe", s.suggestion_id)

    def conflict_reply(self, exc: GuardrailConflict, session: ChatSession, intent: str) -> Reply:
        """The rules of `session` that leave no valid price, in the merchant's words."""
        cur = session.suggestion.currency if session.suggestion is not None else session.currency
        return replies.conflict(exc, cur or getattr(self.service, "default_currency", None), intent)

    _conflict_reply = conflict_reply  # the Workspace tab's name for it (assistant/web/app.py)

    # ------------------------------------------------------------ helpers
    def _in_catalog(self, s: Suggestion) -> bool:
        return bool(s.product_id) and s.product_id in self.service.products.index

    def _about_suggestion(self, intent: str, session: ChatSession, write: Writer) -> Reply:
        """The preamble every follow-up shares: a product must be in context; `write` then adds
        lines over the suggestion's fact sheet, and the verified reply carries its id."""
        s = session.suggestion
        if s is None:
            return replies.ask_for_product(intent)
        say = Say(self.sheet(s, session))
        write(say, s)
        return say.reply(intent, s.suggestion_id)

    def _policy_for(self, session: ChatSession) -> GuardrailPolicy:
        p = session.policy
        if session.cost is not None:
            p = p.model_copy(update={"cost": session.cost})
            if p.min_margin is None:  # as the service does: never below cost by default
                p = p.model_copy(update={"min_margin": 0.0})
        return p

    def _resolve_id(self, query: str) -> str | None:
        idx = self.service.products.index
        q = query.strip()
        for cand in (q, q.upper()):
            if cand in idx:
                return cand
        for tok in product_ids_in(q):
            if tok in idx:
                return tok
        return None

    def _suggest(self, session: ChatSession) -> Suggestion:
        opts = SuggestOptions(explain=self.explain, k_comparables=self.k_comparables,
                              policy=self._policy_for(session))
        target = session.target
        if isinstance(target, str) and session.current_price is not None:
            row = self.service.product(target)
            target = ProductIn(product_id=target, title=row["title"], price=session.current_price)
        elif isinstance(target, ProductIn):
            target = target.model_copy(update={"price": session.current_price, "cost": session.cost,
                                               "currency": session.currency or target.currency})
        if target is None:
            raise ValueError("a suggestion needs a product in context")
        return self.service.suggest(target, opts)

    def _suggest_reply(self, session: ChatSession, intent: str) -> Reply:
        try:
            s = self._suggest(session)
        except GuardrailConflict as exc:
            return self.conflict_reply(exc, session, intent)
        session.suggestion = s
        return self._about_suggestion(intent, session,
                                      lambda say, s: replies.write_suggestion(say, s, self._in_catalog(s)))

    # ------------------------------------------------------------ intents
    def _help(self, intent: Intent, session: ChatSession) -> Reply:
        return replies.help_reply()

    def _reset(self, intent: Intent, session: ChatSession) -> Reply:
        session.clear_product()
        session.policy = GuardrailPolicy()
        return replies.plain("Cleared: no product in context, default rules.", "reset")

    def _unknown(self, intent: Intent, session: ChatSession) -> Reply:
        return replies.unknown_reply()

    def _price(self, intent: Intent, session: ChatSession) -> Reply:
        query = intent.query or ""
        if intent.cost is not None and intent.cost < 0:
            return replies.plain("", "price", template="I couldn't use that: the unit cost cannot be negative.")
        if intent.current_price is not None and intent.current_price <= 0:
            return replies.plain("", "price",
                                 template="I couldn't use that: the current price must be above zero.")
        pid = self._resolve_id(query)
        if pid is None:
            result = self.matcher.match(query)
            if result.status in ("exact", "confident") and result.best is not None:
                pid = result.best.product_id
            elif result.status == "ambiguous":
                session.candidates = result.matches
                session.pending = intent
                return replies.did_you_mean(query, result.matches)
            elif not intent.explicit and len(query.split()) < 2:
                # one stray word is not a product description; do not price it
                return replies.plain("", "price", facts={"query": query}, template=(
                    "I couldn't find “{query}” in the catalog. To price a new product, describe it, "
                    "e.g. “what should I charge for …”."))
        return self._price_for(pid, intent, session)

    def _price_for(self, pid: str | None, intent: Intent, session: ChatSession) -> Reply:
        session.clear_product()
        session.cost = intent.cost
        session.current_price = intent.current_price
        session.currency = intent.currency
        if pid is not None:
            session.target = pid
        else:
            session.target = ProductIn(title=(intent.query or "").strip(), currency=intent.currency)
        return self._suggest_reply(session, "price")

    def _choose(self, intent: Intent, session: ChatSession) -> Reply:
        pending = session.pending
        if pending is None or not session.candidates:
            if intent.choice is not None:  # a bare number with nothing to pick from
                return self._unknown(intent, session)
            return replies.plain("Which product? Describe it or give its catalog id.", "choose")
        cands, session.candidates, session.pending = session.candidates, [], None
        if intent.new_product:
            return self._price_for(None, pending, session)
        if intent.choice is None or not 1 <= intent.choice <= len(cands):
            session.candidates, session.pending = cands, pending
            return replies.plain("Please pick one of the listed numbers, or say “new”.", "choose")
        return self._price_for(cands[intent.choice - 1].product_id, pending, session)

    def _why(self, intent: Intent, session: ChatSession) -> Reply:
        return self._about_suggestion("why", session, replies.write_why)

    def _competitors(self, intent: Intent, session: ChatSession) -> Reply:
        return self._about_suggestion(
            "competitors", session, lambda say, s: replies.write_competitors(say, s, self._in_catalog(s)))

    def _comparables(self, intent: Intent, session: ChatSession) -> Reply:
        return self._about_suggestion("comparables", session, replies.write_comparables)

    def _what_if(self, intent: Intent, session: ChatSession) -> Reply:
        if session.suggestion is None:
            return replies.ask_for_product("what_if")
        if intent.cost is not None:
            session.cost = intent.cost
        price = float(intent.price or 0)
        if not math.isfinite(price) or price <= 0:
            return replies.plain("A what-if needs a price above zero.", "what_if")
        demand = getattr(self.service, "what_if", None)
        return self._about_suggestion("what_if", session, lambda say, s: replies.write_what_if(
            say, s, price, session.cost, self._policy_for(session), demand if callable(demand) else None))

    def _set_policy(self, intent: Intent, session: ChatSession) -> Reply:
        old = (session.policy, session.cost, session.current_price)
        updates = dict(intent.policy)
        sheet = FactSheet(currency=(session.suggestion.currency if session.suggestion is not None
                                    else session.currency or intent.currency))
        if updates:  # validated before it replaces the session's rules (model_copy does not check)
            session.policy = GuardrailPolicy.model_validate({**session.policy.model_dump(), **updates})
        if intent.cost is not None:
            if intent.cost < 0:
                return replies.plain("", "set_policy", template="A unit cost cannot be negative.")
            session.cost = intent.cost
        if intent.current_price is not None:
            session.current_price = intent.current_price
        say = Say(sheet)
        say(*replies.rule_changes(sheet, updates, intent.cost, intent.current_price,
                                  cost_known=session.cost is not None))
        dropped: list[str] = []
        head = say.text(dropped)
        if session.target is None:
            return Reply(head + "\n\nAsk me about a product and I'll apply your rules.", "set_policy",
                         dropped=dropped)
        try:
            s = self._suggest(session)
        except GuardrailConflict as exc:
            session.policy, session.cost, session.current_price = old
            r = self.conflict_reply(exc, session, "set_policy")
            return Reply(head + "\n\n" + r.text + "\nI kept your previous rules.", "set_policy",
                         dropped=dropped + r.dropped)
        session.suggestion = s
        body = self._about_suggestion("set_policy", session,
                                      lambda say, s: replies.write_suggestion(say, s, self._in_catalog(s)))
        return Reply(head + "\n\n" + body.text, "set_policy", suggestion_id=s.suggestion_id,
                     dropped=dropped + body.dropped)


def timed_first_reply(agent: ChatAgent, text: str, session: ChatSession | None = None) -> tuple[float, float]:
    """(seconds to the first streamed text, seconds to the complete reply), for benchmarks."""
    session = session or ChatSession()
    t0 = time.perf_counter()
    first = None
    for _ in agent.respond(text, session):
        if first is None:
            first = time.perf_counter() - t0
    return first or 0.0, time.perf_counter() - t0


__all__ = ["ChatAgent", "ChatSession", "Reply", "timed_first_reply"]
