"""The state of one conversation, and a finished reply.

Use::

    from assistant.chat.session import ChatSession, Reply
    session = ChatSession()      # one per browser session (gr.State); never shared
    session.policy, session.cost, session.suggestion, session.candidates

A `Reply` is what every handler returns: verified, rendered text, the intent it answered,
the suggestion it carries (if any) and the lines that failed verification.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from assistant.chat.matching import Match
from assistant.chat.parsing import Intent
from assistant.guardrails import GuardrailPolicy
from assistant.suggestion import Suggestion
from graph.contracts import ProductIn


@dataclass
class ChatSession:
    """One merchant's conversation: their rules, the product in context, the last suggestion.

    Kept per browser session (gr.State); nothing here is shared between sessions.
    """

    session_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    policy: GuardrailPolicy = field(default_factory=GuardrailPolicy)   # cost is kept apart
    cost: float | None = None
    current_price: float | None = None
    currency: str | None = None
    target: str | ProductIn | None = None
    suggestion: Suggestion | None = None         # the last suggestion
    candidates: list[Match] = field(default_factory=list)
    pending: Intent | None = None                # a price request waiting for "did you mean"
    followup: Intent | None = None               # a question to answer once the product is picked
    history: list[dict[str, Any]] = field(default_factory=list)    # suggestions made, with feedback
    messages: list[dict[str, str]] = field(default_factory=list)   # what the chat shows
    suggestion_at: dict[int, str] = field(default_factory=dict)    # message index -> suggestion id
    last_reply: Reply | None = None              # the last reply (for the UI and tests)
    # who is talking, as history rows name them (e.g. "merchant:ann" when signed in to /ui);
    # None: the agent's own actor. A non-empty reason in ``not_allowed`` refuses applying.
    actor: str | None = None
    not_allowed: str | None = None

    def clear_product(self) -> None:
        self.target = None
        self.suggestion = None
        self.cost = None
        self.current_price = None
        self.currency = None
        self.candidates = []
        self.pending = None
        self.followup = None

    def reset(self) -> None:
        """Everything of the conversation's state ("reset", "New chat"): product, rules, history."""
        self.clear_product()
        self.policy = GuardrailPolicy()
        self.history = []

    def record(self, s: Suggestion, price_text: str) -> None:
        """Remember suggestion `s` for the summary (the latest per product)."""
        key = s.product_id or s.title
        self.history = [h for h in self.history if h["key"] != key]
        self.history.append({"key": key, "suggestion_id": s.suggestion_id, "title": s.title,
                             "price_text": price_text, "feedback": None})

    def note_feedback(self, kind: str) -> None:
        if self.suggestion is not None:
            for h in self.history:
                if h["suggestion_id"] == self.suggestion.suggestion_id:
                    h["feedback"] = kind


@dataclass
class Reply:
    """A finished reply: verified, rendered text, and the suggestion it carries (if any)."""

    text: str
    intent: str
    suggestion_id: str | None = None
    dropped: list[str] = field(default_factory=list)   # lines that failed verification
    routed_by: str = "parser"
