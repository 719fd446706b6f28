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
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from assistant.chat import replies
from assistant.chat.intents import IntentClassifier
from assistant.chat.lexicon import LANGUAGE_NAMES
from assistant.chat.matching import CatalogMatcher
from assistant.chat.parsing import Intent, product_ids_in
from assistant.chat.ports import ChatService
from assistant.chat.replies import Say
from assistant.chat.routing import ToolRouter
from assistant.chat.session import ChatSession, Reply
from assistant.chat.understanding import Context, Understander
from assistant.facts import FactSheet, format_money, suggestion_fact_sheet
from assistant.guardrails import GuardrailConflict, GuardrailPolicy
from assistant.suggestion import Suggestion, SuggestOptions
from graph.contracts import ProductIn

if TYPE_CHECKING:
    from assistant.pricebook import PriceBook

Writer = Callable[[Say, Suggestion], None]
# Questions about the product in context: a did-you-mean list pending takes its first choice,
# and a catalog product named in the message is switched to first.
FOLLOWUPS = frozenset({"why", "what_if", "competitors", "comparables", "margin", "break_even", "should_drop",
                       "demand", "target_price", "feedback"})
_PRICE_WORDS = ("price", "charge", "sell", "cost", "worth", "rate", "quote", "mrp", "how much", "value")


class ChatAgent:
    """Conversation logic over a pricing service; one agent serves every session."""

    def __init__(self, service: ChatService, llm: Any | None = None, matcher: CatalogMatcher | None = None,
                 k_comparables: int = 5, explain: bool = True, history_turns: int = 4,
                 understander: Understander | None = None, pricebook: PriceBook | None = None,
                 actor: str = "merchant:chat") -> None:
        self.service = service
        # "apply it" goes through the same PriceBook (policy, approvals, history) as the API;
        # without one the chat says applying is not enabled.
        self.pricebook = pricebook
        self.actor = actor
        self._understander = understander
        self._ids_lower: dict[str, str] | None = None
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

    @property
    def understander(self) -> Understander:
        """The packaged intent classifier over this catalog's ids and words (built once)."""
        with self._matcher_lock:
            if self._understander is None:
                titles = self.service.products["title"].fillna("").astype(str)
                vocab = {w.lower() for t in titles for w in t.split() if w.isalpha()}
                self._understander = Understander(IntentClassifier.packaged(), is_product_id=self.catalog_id,
                                                  vocabulary=vocab)
            return self._understander

    def catalog_id(self, token: str) -> str | None:
        """The catalog id `token` names (exact, else case-insensitive), or None."""
        idx = self.service.products.index
        if token in idx:
            return token
        if self._ids_lower is None:
            self._ids_lower = {str(p).lower(): str(p) for p in idx}
        return self._ids_lower.get(token.lower())

    def warm_up(self) -> None:
        """Build the catalog index and load the classifier now (in a background thread)."""
        def build() -> None:
            self.matcher.search("warm up", k=1, semantic=False)
            self.understander.understand("warm up")
        threading.Thread(target=build, daemon=True, name="chat-warm-up").start()

    def understand(self, text: str, session: ChatSession) -> Intent:
        """The action and slots of `text`, in the context of `session`."""
        ctx = Context(has_product=session.suggestion is not None, candidates=len(session.candidates),
                      candidate_ids=tuple(m.product_id for m in session.candidates))
        return self.understander.understand(text, ctx)

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
        return self.handle(self.understand(text, session), session)

    def handle(self, intent: Intent, session: ChatSession) -> Reply:
        """The reply to an understood message (the understander's or the router's)."""
        try:
            reply = self._dispatch(intent, session)
        except ValidationError as exc:
            reply = replies.plain("", intent.name, facts={"err": replies.error_words(exc)},
                                  template="I couldn't use that: {err}. Your rules are unchanged.")
        if intent.language != "en":  # replies are in English; say so
            name = LANGUAGE_NAMES.get(intent.language, intent.language)
            reply.text = f"_(Understood from {name}; I reply in English.)_\n\n" + reply.text
        return reply

    def _dispatch(self, intent: Intent, session: ChatSession) -> Reply:
        fn = {"price": self._price, "choose": self._choose, "why": self._why,
              "what_if": self._what_if, "competitors": self._competitors,
              "comparables": self._comparables, "set_policy": self._set_policy,
              "margin": self._margin, "target_price": self._target_price, "break_even": self._break_even,
              "should_drop": self._should_drop, "demand": self._demand, "summary": self._summary,
              "feedback": self._feedback, "smalltalk": self._smalltalk,
              "help": self._help, "reset": self._reset,
              "apply": self._apply}.get(intent.name, self._unknown)
        lead: Reply | None = None
        if intent.name in FOLLOWUPS and session.candidates and session.pending is not None:
            # a question after a did-you-mean list implies its first product
            lead = self._choose(Intent("choose", intent.text, choice=1), session)
        elif intent.name in FOLLOWUPS:
            lead = self._switch_product(intent, session)
            if lead is not None and (session.candidates or session.suggestion is None
                                     or lead.suggestion_id is None):
                session.followup = intent if session.candidates else None
                return lead   # a did-you-mean list, or the product could not be priced
        reply = fn(intent, session)
        if lead is None:
            return reply
        return Reply(lead.text + "\n\n" + reply.text, reply.intent,
                     suggestion_id=reply.suggestion_id or lead.suggestion_id,
                     dropped=lead.dropped + reply.dropped)

    def _switch_product(self, intent: Intent, session: ChatSession) -> Reply | None:
        """Price the catalog product a follow-up names, when it is not the one in context."""
        pid = intent.product_id
        if pid is None and intent.query and len(intent.query.split()) >= 2:
            found = self.matcher.match(intent.query)   # only a sure catalog match switches
            if found.status in ("exact", "confident") and found.best is not None:
                pid = found.best.product_id
        current = session.suggestion.product_id if session.suggestion is not None else None
        if pid is None or pid == current:
            return None
        return self._price(Intent("price", intent.text, query=pid, product_id=pid, cost=intent.cost,
                                  current_price=intent.current_price, currency=intent.currency,
                                  explicit=True), session)

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
            if p.min_margin is None and p.min_markup is None:  # as the service: never below cost
                p = p.model_copy(update={"min_markup": 0.0})
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
        session.record(s, format_money(s.recommended_price, s.currency))
        return self._about_suggestion(intent, session,
                                      lambda say, s: replies.write_suggestion(say, s, self._in_catalog(s)))

    # ------------------------------------------------------------ intents
    def _help(self, intent: Intent, session: ChatSession) -> Reply:
        return replies.help_reply()

    def _reset(self, intent: Intent, session: ChatSession) -> Reply:
        session.reset()
        return replies.plain("Cleared: no product in context, default rules.", "reset")

    def _unknown(self, intent: Intent, session: ChatSession) -> Reply:
        return replies.redirect("unknown", "Sorry, I can only help with pricing your products.")

    def _smalltalk(self, intent: Intent, session: ChatSession) -> Reply:
        return replies.redirect("smalltalk", "Hello! I'm your pricing assistant: I suggest prices you can "
                                             "defend, with the evidence behind them.")

    def _summary(self, intent: Intent, session: ChatSession) -> Reply:
        return replies.summary(session.history)

    def _feedback(self, intent: Intent, session: ChatSession) -> Reply:
        kind = intent.feedback or "accept"
        session.note_feedback(kind)
        s = session.suggestion
        return replies.feedback_reply(kind, s, self.sheet(s, session) if s is not None else None)

    def _price(self, intent: Intent, session: ChatSession) -> Reply:
        if intent.product_id is not None:
            pid = self.catalog_id(intent.product_id)
            if pid is None:
                return replies.plain("", "price", facts={"pid": intent.product_id}, template=(
                    "I couldn't find product {pid} in the catalog. Check the id, or describe the product."))
            return self._price_for(pid, intent, session)
        if not intent.query and intent.ref and session.target is not None:
            # "price it again, my cost is 500": the product in context, with the new values
            return self._price_for(session.target if isinstance(session.target, str) else None,
                                   Intent("price", intent.text, query=session.suggestion.title if
                                          session.suggestion is not None else None, cost=intent.cost,
                                          current_price=intent.current_price, currency=intent.currency),
                                   session)
        query = intent.query or ""
        if not query:
            return self._unknown(intent, session)
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
            elif not self._explicit(intent) and len(query.split()) < 2:
                # one stray word is not a product description; do not price it
                return replies.plain("", "price", facts={"query": query}, template=(
                    "I couldn't find “{query}” in the catalog. To price a new product, describe it, "
                    "e.g. “what should I charge for …”."))
        return self._price_for(pid, intent, session)

    @staticmethod
    def _explicit(intent: Intent) -> bool:
        """Asked for a price in so many words, or gave a cost or current price with it."""
        words = (intent.gloss or intent.text).lower()
        return (intent.explicit and not intent.gloss) or intent.cost is not None or \
            intent.current_price is not None or any(w in words for w in _PRICE_WORDS)

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
        followup, session.followup = session.followup, None
        if intent.new_product:
            return self._then(self._price_for(None, pending, session), followup, session)
        choice = intent.choice
        if intent.product_id is not None:
            ids = [m.product_id for m in cands]
            choice = ids.index(intent.product_id) + 1 if intent.product_id in ids else None
            if choice is None:   # another catalog product: price that one
                return self._then(self._price_for(intent.product_id, pending, session), followup, session)
        if choice == -1:
            choice = len(cands)
        if choice is None or not 1 <= choice <= len(cands):
            session.candidates, session.pending, session.followup = cands, pending, followup
            return replies.plain("Please pick one of the listed numbers, or say “new”.", "choose")
        return self._then(self._price_for(cands[choice - 1].product_id, pending, session), followup, session)

    def _then(self, first: Reply, followup: Intent | None, session: ChatSession) -> Reply:
        """`first`, followed by the answer to the question asked while the list was shown."""
        if followup is None or session.suggestion is None:
            return first
        nxt = self._dispatch(followup, session)
        return Reply(first.text + "\n\n" + nxt.text, nxt.intent, suggestion_id=nxt.suggestion_id
                     or first.suggestion_id, dropped=first.dropped + nxt.dropped)

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
        if session.pending is not None:   # a did-you-mean list is shown: keep these for the pick
            if intent.cost is not None:
                session.pending.cost = intent.cost
            if intent.current_price is not None:
                session.pending.current_price = intent.current_price
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
        session.record(s, format_money(s.recommended_price, s.currency))
        body = self._about_suggestion("set_policy", session,
                                      lambda say, s: replies.write_suggestion(say, s, self._in_catalog(s)))
        return Reply(head + "\n\n" + body.text, "set_policy", suggestion_id=s.suggestion_id,
                     dropped=dropped + body.dropped)


    def _apply(self, intent: Intent, session: ChatSession) -> Reply:
        """Apply the last suggestion (or the price named) to the price list, by its policy."""
        from assistant.pricebook import Applied

        book = self.pricebook
        if book is None:
            return replies.plain(replies.NO_BOOK, "apply")
        s = session.suggestion
        if s is None:
            return replies.plain("", "apply", facts={"ex": "what should I charge for B07JW9H4J1?"},
                                 template=replies.NOTHING_TO_APPLY)
        if not self._in_catalog(s):
            return replies.plain("", "apply", facts={"title": s.title}, template=(
                "Only catalog products have a price-list entry, and “{title}” is a new product: "
                "add it to the catalog first, then apply its price."))
        price = intent.price
        if price is not None and (not math.isfinite(price) or price <= 0):
            return replies.plain("A price to apply must be above zero.", "apply")
        if session.not_allowed:
            return replies.plain("", "apply", facts={"err": session.not_allowed},
                                 template="I couldn't apply that: {err}.")
        # the reference a reduction is shown against: the lowest price before this change
        before = book.lowest_price(s.product_id)
        try:
            r = book.apply(s, actor=session.actor or self.actor, price=price)
        except ValueError as exc:
            return replies.plain("", "apply", facts={"err": str(exc)},
                                 template="I couldn't apply that: {err}.")
        if isinstance(r, Applied):
            c = r.change
            p = book.policy
            policy = (f"changes within ±{p.max_auto_change:.0%} at confidence "
                      f"{p.min_confidence:.2f} or more apply at once") \
                if c.rule == "auto-apply policy" else "an approver's decision"
            low = before if before is not None else c.old_price
            return replies.applied_reply(s.title, c.currency or s.currency, c.old_price,
                                         c.new_price, c.rule, c.actor, low, policy, s.suggestion_id)
        a = r.approval
        return replies.queued_reply(s.title, a.currency or s.currency, a.old_price,
                                    a.proposed_price, a.reason, a.approval_id, s.suggestion_id)

    # ------------------------------------------------------------ questions answered by code
    def _currency(self, session: ChatSession, intent: Intent) -> str | None:
        if session.suggestion is not None:
            return session.suggestion.currency
        return session.currency or intent.currency or getattr(self.service, "default_currency", None)

    def _margin(self, intent: Intent, session: ChatSession) -> Reply:
        if intent.cost is not None:
            session.cost = intent.cost
        s = session.suggestion
        price, which = intent.price, "the price asked about"
        if price is None and intent.current_price is not None:
            price, which = intent.current_price, "your current price"
        if price is None and s is not None:
            price, which = s.recommended_price, "our suggestion"
        if price is None:
            return replies.plain("", "margin", facts={"ex": "what is my margin at 1,299 if my cost is 900?"},
                                 template="At which price? e.g. “{ex}”.")
        if session.cost is None:
            return replies.plain("", "margin", facts={"ex": "my cost is 900"}, template=(
                "Tell me your unit cost (“{ex}”) and I'll work out the margin and markup."))
        say = Say(FactSheet(currency=self._currency(session, intent)))
        replies.write_margin(say, float(price), float(session.cost), which)
        return say.reply("margin", s.suggestion_id if s is not None else None)

    def _target_price(self, intent: Intent, session: ChatSession) -> Reply:
        if intent.cost is not None:
            session.cost = intent.cost
        kind, target = ("markup", intent.markup) if intent.markup is not None else ("margin", intent.margin)
        if target is None:
            return replies.plain("", "target_price", facts={"ex": "lowest price for a 30% margin"},
                                 template="Which margin or markup? e.g. “{ex}”.")
        if session.cost is None:
            return replies.plain("", "target_price", facts={"ex": "my cost is 900"}, template=(
                "Tell me your unit cost (“{ex}”) and I'll find the lowest price for it."))
        if kind == "margin" and not 0 <= target < 1:
            return replies.plain("", "target_price", facts={"def": replies.DEFINITIONS["min_margin"]}, template=(
                "A margin is a share of the price ({def}), so it must be below 100%. Did you mean a markup?"))
        s = session.suggestion
        say = Say(FactSheet(currency=self._currency(session, intent)))
        replies.write_target_price(say, float(session.cost), float(target), kind,
                                   s.recommended_price if s is not None else None)
        return say.reply("target_price", s.suggestion_id if s is not None else None)

    def _break_even(self, intent: Intent, session: ChatSession) -> Reply:
        if intent.cost is not None:
            session.cost = intent.cost
        if session.cost is None:
            return replies.plain("", "break_even", facts={"ex": "my cost is 900"}, template=(
                "Your break-even price is your unit cost — tell me what it is (“{ex}”)."))
        s = session.suggestion
        say = Say(FactSheet(currency=self._currency(session, intent)))
        replies.write_break_even(say, float(session.cost), s.recommended_price if s is not None else None)
        return say.reply("break_even", s.suggestion_id if s is not None else None)

    def _should_drop(self, intent: Intent, session: ChatSession) -> Reply:
        if session.suggestion is None:
            return replies.ask_for_product("should_drop")
        if intent.cost is not None:
            session.cost = intent.cost
        if intent.current_price is not None and intent.current_price != session.current_price:
            session.current_price = intent.current_price
            try:   # price again with the current price known (max-change rules need it)
                session.suggestion = self._suggest(session)
            except GuardrailConflict as exc:
                return self.conflict_reply(exc, session, "should_drop")
        s = session.suggestion
        current = session.current_price if session.current_price is not None else s.current_price
        if current is None:
            return replies.plain("", "should_drop", facts={"ex": "I sell it at 1,499"}, template=(
                "What do you charge today? Tell me (“{ex}”) and I'll compare it with the likely range."))
        return self._about_suggestion("should_drop", session,
                                      lambda say, s: replies.write_should_drop(say, s, float(current)))

    def _demand(self, intent: Intent, session: ChatSession) -> Reply:
        s = session.suggestion
        if s is None:
            return replies.plain("", "demand", facts={"ex": "what price sells the most units of watches1?"},
                                 template="Which product? Name it or give its catalog id, e.g. “{ex}”.")
        if intent.cost is not None:
            session.cost = intent.cost
        curve_fn = getattr(self.service, "what_if_curve", None)
        if not s.product_id or not callable(curve_fn):
            return replies.plain("", "demand", template=(
                "I have no sales history for this product, so I can't estimate how many units a price "
                "sells. Try a what-if against competitors and the category instead."))
        try:
            curve = curve_fn(s.product_id, cost=session.cost)
        except (ValueError, KeyError) as exc:
            return replies.plain("", "demand", facts={"why": str(exc).split(": ", 1)[-1]}, template=(
                "I can't estimate sales for this product: {why}."))
        return self._about_suggestion("demand", session,
                                      lambda say, s: replies.write_demand_curve(say, curve, intent.stock, intent.days))


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
