"""Understanding: one merchant message (any of five languages) -> an action with slots.

Use::

    from assistant.chat.understanding import Understander, Context
    u = Understander.packaged(is_product_id=catalog_lookup, vocabulary=catalog_words)
    intent = u.understand("B07PR1CL3S price pls, cost 900, im selling at 1499, should i drop it?",
                          Context(has_product=False))
    intent.name, intent.product_id, intent.cost, intent.current_price   # "should_drop", ...

Steps: (1) gloss the message into English words (assistant.chat.lexicon) and correct typos of
the question's own words (never of catalog words); (2) exact rules where a rule is exact: an
empty message, "reset", "apply it" (:func:`assistant.chat.parsing.apply_request`), a pick from a
pending did-you-mean list; (3) the trained classifier
(assistant.chat.intents) ranks the actions; (4) slots by rules (assistant.chat.slots); the
best-ranked action whose required slots are present wins (a what-if needs a price, a price
request needs product words, an id or "it"), so a message that does not describe a product is
never priced as one. Without a classifier, the regex parser (assistant.chat.parsing.parse)
ranks the actions instead (the benchmark's "rules only" ablation).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property

from assistant.chat.intents import IntentClassifier
from assistant.chat.lexicon import gloss
from assistant.chat.parsing import Intent, apply_request, parse
from assistant.chat.slots import CONNECTORS, QUESTION_WORDS, Slots, extract_slots
from assistant.chat.training_data import ACTIONS

# Attempts to instruct the assistant: answered with the redirect, whatever else they say.
_INJECTION = re.compile(r"\bignore\s+(?:all\s+|any\s+|the\s+|your\s+|previous\s+|prior\s+|above\s+)*"
                        r"(?:instructions|rules|prompts?)|system\s+prompt|\bnew\s+instructions\b|developer\s+mode|"
                        r"</?\s*(?:prompt|system|instructions?)\s*>|\bjailbreak|\bsystem\s*(?:override|:)|"
                        r"\b(?:print|reveal|show)\s+(?:me\s+)?your\s+(?:hidden\s+)?(?:instructions|prompt|rules)",
                        re.I)
_COMMON = frozenset("than then unit went want when what with this that have here there many some more less make "
                    "made take give over just only very such each both also same send sent shop good best most "
                    "sold told gone done were they them their your from into upon once pricey pricy".split())
# Chat shorthand, expanded before anything else reads the message.
_SHORTHAND = {"hw": "how", "u": "you", "r": "are", "ur": "your", "pls": "please", "plz": "please", "wat": "what",
              "wht": "what", "y": "why", "abt": "about", "shd": "should", "shld": "should", "cst": "cost",
              "prc": "price", "thx": "thanks", "tnx": "thanks", "ty": "thanks", "k": "ok", "kk": "ok",
              "bcoz": "because", "coz": "because", "wud": "would", "cud": "could", "pcs": "units"}
_SHORTHAND_RE = re.compile(r"(?<![\w.,₹$])(?:" + "|".join(sorted(_SHORTHAND, key=len, reverse=True)) +
                           r")(?![\w.,%])", re.I)
_RESET = re.compile(r"^\s*(?:please\s+)?(?:reset|start over|start again|clear(?: chat| all| everything)?|new chat|"
                    r"restart|begin again|forget everything)\s*(?:please|pls)?\s*[.!]*\s*$", re.I)
_FEEDBACK_KINDS = [
    ("too_low", re.compile(r"\bto{1,2}\s+(?:low|cheap|little|lower)\b|\bway\s+(?:too\s+)?low\b|\bunderpriced\b|"
                           r"\bworth\s+more\b|\bhigher\b|\b(?:charge|get|ask)\s+more\b|\bcheaper\s+than\s+it\b|"
                           r"\braise\b", re.I)),
    ("too_high", re.compile(r"\bto{1,2}\s+(?:high|expensive|much|costly|pricey|steep)\b|\bway\s+(?:too\s+)?high\b|"
                            r"\bwon'?t\s+pay\b|\b(?:nobody|no\s+one|no-one)\s+will\s+pay\b|\boverpriced\b|"
                            r"\bpric(?:e)?y\b|\blower\s+it\b", re.I)),
    ("thanks", re.compile(r"\bthanks?\b|\bthank\s+(?:you|u)\b|\bthx\b|\bty\b|\bappreciate|\bobliged\b|"
                          r"\bcheers\b|\bgrateful\b", re.I)),
    ("reject", re.compile(r"\bwrong\b|\bbad\b|\buseless\b|\bnot\s+convinced\b|\bdon'?t\s+agree\b|\bdisagree\b|"
                          r"\boff\b|\bno\b|\bnope\b|\bnonsense\b|\bsucks?\b", re.I)),
]


@dataclass(frozen=True)
class Context:
    """What the conversation holds, as far as understanding needs it."""

    has_product: bool = False
    candidates: int = 0           # a did-you-mean list of so many products is pending
    candidate_ids: tuple[str, ...] = ()


# The words typos are corrected to: the cues of the actions. Product words are never targets,
# and words the catalog knows are never corrected.
CUE_WORDS = frozenset("""
what should charge price prices pricing much suggest suggestion recommend quote competitors competitor
competition comparables comparable similar margin markup profit explain reason break even breakeven
clear stock units days weeks summary summarise summarize recap reset start over thanks thank help lowest
minimum maximum ceiling ending endings current currently selling sell cost costs drop lower reduce
expensive cheaper undercuts undercut sellers happens about would doing percent rupees please products
items listing which where when many most sells going calculate drives behind justify
options again restart instructions ignore joke hello morning evening night rivals why low high
with right overpriced underpriced how show tell give list
""".split())


def _edits(word: str) -> set[str]:
    """Deletions and adjacent transpositions of `word` (and the word itself)."""
    out = {word[:i] + word[i + 1:] for i in range(len(word))} | {word}
    out |= {word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in range(len(word) - 1)}
    return out


class TypoFixer:
    """Corrects words one slip away (a letter dropped, added, swapped or mistyped) from the
    actions' cue words; catalog words, ids and numbers are left alone. Four-letter words are
    only corrected for a dropped or swapped letter (a mistyped letter too often makes another
    word: "cost" / "most")."""

    def __init__(self, words: Iterable[str] = CUE_WORDS, protected: Iterable[str] = ()) -> None:
        self.words = {w for w in words if len(w) >= 3 and w.isalpha()}
        self.protected = {w.lower() for w in protected}
        self._by_delete: dict[str, str] = {}
        for w in sorted(self.words, key=len):   # shorter words win ties ("cost" over "costs")
            for i in range(len(w)):
                self._by_delete.setdefault(w[:i] + w[i + 1:], w)

    def fix_word(self, word: str) -> str:
        low = word.lower()
        if len(low) < 3 or not low.isalpha() or low in self.words or low in self.protected:
            return word
        for i in range(len(low) - 1):             # two letters swapped: "waht", "pirce"
            cand = low[:i] + low[i + 1] + low[i] + low[i + 2:]
            if cand in self.words:
                return cand
        hit = self._by_delete.get(low)            # a letter dropped: "prce", "shoud"
        if hit is not None:
            return hit
        if len(low) < 4:
            return word
        for i in range(len(low)):                 # a letter added: "pricee", "whyy"
            cand = low[:i] + low[i + 1:]
            if cand in self.words:
                return cand
        if len(low) >= 6:                         # a letter mistyped: "chsrge"
            for i in range(len(low)):
                hit = self._by_delete.get(low[:i] + low[i + 1:])
                if hit is not None and len(hit) == len(low) and sum(a != b for a, b in zip(hit, low)) == 1:
                    return hit
        return word

    def __call__(self, text: str) -> str:
        return re.sub(r"[A-Za-z]{3,}", lambda m: self.fix_word(m.group()), text)


def feedback_kind(text: str) -> str:
    """"too_low", "too_high", "thanks", "reject" or "accept"."""
    for kind, pat in _FEEDBACK_KINDS:
        if pat.search(text):
            return kind
    return "accept"


def _requirements(action: str, s: Slots, ctx: Context) -> bool:
    if action == "what_if":
        return s.price is not None
    if action == "set_policy":
        return bool(s.policy) or s.cost is not None or s.current_price is not None
    if action == "price":
        return bool(s.product_words) or s.product_id is not None or (s.ref and ctx.has_product)
    if action == "choose":
        return ctx.candidates > 0 and (s.choice is not None or s.new_product or s.product_id is not None)
    if action == "target_price":
        return s.margin is not None or s.markup is not None
    return True


class Understander:
    """Message -> Intent. classifier None: the regex parser ranks the actions (ablation)."""

    def __init__(self, classifier: IntentClassifier | None,
                 is_product_id: Callable[[str], str | None] | None = None,
                 vocabulary: Iterable[str] = (), min_confidence: float = 0.3) -> None:
        self.classifier = classifier
        self.is_product_id = is_product_id
        self.vocabulary = {w.lower() for w in vocabulary}
        self.min_confidence = min_confidence

    @classmethod
    def packaged(cls, **kwargs: object) -> Understander:
        return cls(IntentClassifier.packaged(), **kwargs)  # type: ignore[arg-type]

    @cached_property
    def fixer(self) -> TypoFixer:
        # correct English words (the question's own, the catalog's) are never "fixed"
        return TypoFixer(protected=self.vocabulary | QUESTION_WORDS | CONNECTORS | _COMMON)

    def normalize(self, text: str) -> tuple[str, str]:
        """(English words with chat shorthand expanded and the question's typos fixed, language)."""
        g = gloss(text)
        t = _SHORTHAND_RE.sub(lambda m: _SHORTHAND[m.group().lower()], g.text)
        return self.fixer(t), g.language

    def rank(self, text: str) -> list[tuple[str, float]]:
        """Actions, most likely first, with the classifier's probability."""
        if self.classifier is None:
            return [(parse(text).name, 1.0)] + [(a, 0.0) for a in ACTIONS if a != parse(text).name]
        p = self.classifier.predict_proba([text])[0]
        order = p.argsort()[::-1]
        return [(self.classifier.classes_[i], float(p[i])) for i in order]

    def understand(self, text: str, ctx: Context | None = None) -> Intent:
        ctx = ctx or Context()
        raw = text or ""
        norm, lang = self.normalize(raw)
        if not norm.strip(" ?.!"):
            return Intent("unknown", raw, language=lang, gloss=norm)
        s = extract_slots(norm, self.is_product_id, extra_ids=ctx.candidate_ids, vocabulary=self.vocabulary)
        base = dict(language=lang, gloss=norm, cost=s.cost, current_price=s.current_price, price=s.price,
                    currency=s.currency, policy=s.policy, product_id=s.product_id, ref=s.ref,
                    margin=s.margin, markup=s.markup, stock=s.stock, days=s.days,
                    query=s.product_words or None)
        if _RESET.match(norm):
            return Intent("reset", raw, **base)
        wants, price = apply_request(norm)
        if not wants:
            wants, price = apply_request(raw)
        if wants:   # "apply it": a rule (the whole message is the request), never the classifier
            return Intent("apply", raw, **{**base, "price": price, "ref": True})
        if _INJECTION.search(norm) or _INJECTION.search(raw):
            return Intent("unknown", raw, **base)
        if ctx.candidates and (s.choice is not None or s.new_product or
                               (s.product_id in ctx.candidate_ids and not s.product_words)):
            if s.choice is not None or s.new_product or len(norm.split()) <= 3:
                return Intent("choose", raw, choice=s.choice, new_product=s.new_product, **base)
        ranked = self.rank(norm)
        action, conf = ranked[0]
        for a, p in ranked:
            if _requirements(a, s, ctx):
                action, conf = a, p
                break
        if action == "choose" and not ctx.candidates:
            action = "unknown"
        if conf < self.min_confidence:   # unsure: a redirect, never a price
            action = "unknown"
        if action == "price" and conf < 0.5 and s.product_id is None and s.cost is None and s.current_price is None:
            action = "unknown"   # a doubtful price request with nothing but words: ask, don't price
        if action in ("unknown", "what_if") and s.product_id is not None and s.price is None:
            action, conf = "price", max(conf, self.min_confidence)   # "bed1", "what about B07T9FV9YP"
        if action == "set_policy" and s.product_id is not None and not s.policy:
            action = "price"   # "price watches1, my cost is 60": the product, with its cost
        if action == "price" and not (s.product_words or s.product_id) and s.ref and not ctx.has_product:
            action = "unknown"
        if action == "set_policy":   # the rule holds these amounts; they are not prices or targets
            base.update(price=None, margin=None, markup=None)
        extra: dict[str, object] = {}
        if action == "feedback":
            extra["feedback"] = feedback_kind(norm)
        if action == "price":
            extra["explicit"] = True
        return Intent(action, raw, confidence=conf, **base, **extra)  # type: ignore[arg-type]
