"""Chat with the pricing assistant: a deterministic intent/slot parser and the conversation logic.

Use::

    from assistant.chat.agent import ChatAgent, ChatSession, parse
    agent = ChatAgent(service)            # or ChatAgent.from_env(service): LangChain tool calling
    session = ChatSession()               #   when PRICING_LLM_BACKEND=openai
    for text in agent.respond("what should I charge for boAt Rockerz 450? my cost is 900", session):
        print(text)                       # the reply so far: replies stream
    agent.reply("what if I charge 1,299?", session).text      # follow-ups use the session
    parse("set my minimum margin to 20%").policy              # {"min_margin": 0.2}

Routing. `parse` is a regex intent + slot parser (amounts such as 1,299 / ₹1299 / 1,29,999 /
20%); it needs no model, so it works with the small offline LLM. When a capable chat model is
configured, `ChatAgent` asks it to pick one of the same actions as LangChain tools
(`bind_tools`); the model only routes. Numbers in its tool arguments must appear in the
merchant's message (a model that turns 1,299 into 1,229 is caught), and anything it fails at
falls back to the parser.

Numbers. Replies are written as lines with ``{fact_id}`` placeholders over a FactSheet built
in code (assistant.facts) and rendered through assistant.verify: a line that fails
verification is dropped and logged, never shown. Product data that contains digits (titles,
ids, category names) enters only as text facts.

Finding the product. An exact catalog id wins; otherwise `CatalogMatcher` scores titles by
TF-IDF character n-grams (how much of the query a title contains, and cosine). A clear
lexical winner is used; otherwise the predictor's catalog embeddings (cosine to the query's
embedding) join in to build a "did you mean" list; no match at all means a new product.
"""
from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, ValidationError

from assistant.facts import (
    Fact,
    FactSheet,
    compare_fact,
    pct_fact,
    price_fact,
    suggestion_fact_sheet,
    text_fact,
)
from assistant.guardrails import GuardrailConflict, GuardrailPolicy, bounds
from assistant.verify import verify
from graph.contracts import ProductIn

log = logging.getLogger(__name__)

IntentName = Literal["price", "choose", "why", "what_if", "competitors", "comparables",
                     "set_policy", "help", "reset", "unknown"]

# ----------------------------------------------------------------------------- amounts
_CURRENCY_WORDS = {"₹": "INR", "rs": "INR", "rs.": "INR", "inr": "INR", "rupee": "INR",
                   "rupees": "INR", "£": "GBP", "gbp": "GBP", "pound": "GBP", "pounds": "GBP",
                   "r$": "BRL", "brl": "BRL", "reais": "BRL", "real": "BRL", "$": "USD",
                   "usd": "USD", "dollar": "USD", "dollars": "USD", "€": "EUR", "eur": "EUR",
                   "euro": "EUR", "euros": "EUR"}
_AMOUNT = re.compile(
    r"(?:(?P<cur>₹|£|€|r\$|\$|(?<![a-z])(?:rs\.?|inr|gbp|brl|usd|eur))\s*)?"
    # Indian (1,29,999) and western (1,299,000) grouping, plain digits, decimals.
    r"(?<![\w.])(?P<num>\d{1,3}(?:,\d{2,3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?P<k>k)?(?![\w]|\.\d)"
    r"(?:\s*(?P<pct>%|percent\b|per\s?cent\b))?"
    r"(?:\s*(?P<cur2>rupees?|pounds?|dollars?|euros?|reais)\b)?", re.I)


@dataclass(frozen=True)
class Amount:
    """A number written in a message: 1,299 / ₹1299 / 20% / 1.5k."""

    value: float
    percent: bool
    currency: str | None
    start: int
    end: int


def find_amounts(text: str) -> list[Amount]:
    """Every amount in `text`, in order. Digits glued to letters (X100, 67mm, B07XYZ) are not amounts."""
    out = []
    for m in _AMOUNT.finditer(text):
        raw = m.group("num").replace(",", "")
        try:
            v = float(raw)
        except ValueError:  # pragma: no cover - the pattern only admits numbers
            continue
        if m.group("k"):
            v *= 1000
        # "-5" / "minus 5" is negative (and then refused by validation); "400-500" is a range
        head = text[max(0, m.start() - 7):m.start()]
        if re.search(r"(?:(?:^|[\s(:=₹£€$])[-−]|\bminus\s)\s*$", head):
            v = -v
        cur = m.group("cur") or m.group("cur2")
        out.append(Amount(v, bool(m.group("pct")), _CURRENCY_WORDS.get(cur.lower()) if cur else None,
                          m.start(), m.end()))
    return out


def parse_amount(text: str) -> float | None:
    """The first amount in `text` ("₹1,299" -> 1299.0), or None."""
    found = find_amounts(text)
    return found[0].value if found else None


# ----------------------------------------------------------------------------- intents
@dataclass
class Intent:
    """What a message asks for, with its slots. Percentages in `policy` are fractions."""

    name: IntentName
    text: str = ""
    query: str | None = None          # product words to look up
    explicit: bool = False            # asked for a price in so many words ("what should I charge")
    cost: float | None = None
    current_price: float | None = None
    price: float | None = None        # the price of a what-if
    currency: str | None = None       # from a currency sign in the message
    policy: dict[str, Any] = field(default_factory=dict)  # GuardrailPolicy field -> value (None clears)
    choice: int | None = None         # 1-based pick from a did-you-mean list
    new_product: bool = False         # "none of these": price it as a new product


_AMT = r"(?:[-−]\s*)?(?:₹|£|€|r\$|\$|rs\.?|inr|gbp|brl|usd|eur)?\s*[-−]?\d[\d,]*(?:\.\d+)?\s*k?\b"
_COST = re.compile(
    r"(?:(?:and|,)\s*)?(?:(?:my|our|the|its|unit|a)\s+)*cost(?:s|\s+price)?"
    r"(?:\s+(?:is|was|are|of|me|us|=|around|about|roughly|only|just))*\s*[:=~]?\s*(?P<amt>" + _AMT + r")"
    r"|(?:(?:and|,)\s*)?(?:i|we)\s+(?:buy|get|source|purchase|pay)\s+(?:it|them|these|this|one)?\s*"
    r"(?:for|at)\s+(?P<amt2>" + _AMT + r")", re.I)
_CURRENT = re.compile(
    r"(?:(?:and|,)\s*)?(?:(?:i|we)\s+(?:currently\s+|now\s+)?(?:sell|charge|list)\s+(?:it|them|this)?\s*"
    r"(?:for|at)|current(?:ly)?\s+(?:selling\s+)?(?:price\s*(?:is|of)?|priced\s+at|at|selling\s+at|"
    r"sells?\s+(?:for|at))|(?:my|our)\s+price\s+is(?:\s+now)?)\s*[:=]?\s*(?P<amt>" + _AMT + r")", re.I)

_RESET = re.compile(r"^\s*(reset|start over|clear( chat| all)?|new chat)\s*[.!]*\s*$", re.I)
_HELP = re.compile(r"^\s*(help|hi|hello|hey|hallo|what can you do\??|how does this work\??|\?)\s*[.!?]*\s*$",
                   re.I)
_CHOICE = re.compile(r"^\s*(?:#|no\.?\s*|number\s+|option\s+|the\s+)?(?P<n>[1-9])(?:st|nd|rd|th)?"
                     r"(?:\s+one)?\s*[.!)]*\s*$", re.I)
_ORDINAL = re.compile(r"^\s*(?:the\s+)?(?P<w>first|second|third|fourth|fifth)(?:\s+one)?\s*[.!]*\s*$",
                      re.I)
_NEW = re.compile(r"^\s*(new|none|none of (?:these|them|those)|it'?s new|a new (?:one|product)|"
                  r"new product|neither|no(?:ne)? of (?:these|them))\s*[.!]*\s*$", re.I)
_WHAT_IF = re.compile(r"\bwhat\s+(?:if|about)\b|\bhow\s+about\b|\bif\s+(?:i|we)\s+(?:charge|sell|price|set|ask|"
                      r"list|go\s+(?:to|with))\b|\b(?:try|at)\s+(?=(?:₹|£|€|r\$|\$|rs\.?|inr)?\s*\d)|"
                      r"\bwhat\s+happens\b|\bwould\s+\S+\s+(?:work|be ok|be fine)\b", re.I)
_WHY = re.compile(r"^\s*(?:but\s+|and\s+|ok\s*,?\s*)?(?:why\b|how\s+come\b|explain\b|reason\b|how\s+did\s+you\b|"
                  r"what\s+(?:drives|drove|moved|explains)\b|justify\b|what'?s\s+behind\b)", re.I)
_COMPETITORS = re.compile(r"\bcompetit|\brivals?\b|\bundercut|\bother\s+sellers\b|\bwho\s+(?:else\s+)?sells\b|"
                          r"\bcheaper\s+(?:sellers|offers|shops)\b", re.I)
_COMPARABLES = re.compile(r"\bcomparab|\bsimilar\s+(?:products|items|listings|ones)\b|\bneighbou?rs?\b|"
                          r"\blike\s+this\b|\bcomps\b", re.I)
_PRICE_TRIGGERS = [re.compile(p, re.I) for p in (
    r"what\s+(?:should|shall|could|would|do|can)\s+(?:i|we)\s+(?:charge|ask|sell(?:\s+(?:it|this|them))?|"
    r"price(?:\s+(?:it|this|them))?|list(?:\s+(?:it|this))?|set)(?:\s+(?:for|at|as))?",
    r"how\s+much\s+(?:should|shall|can|could|do)\s+(?:i|we)\s+(?:charge|ask|sell|get|list)"
    r"(?:\s+(?:it|this|them))?(?:\s+for)?",
    r"how\s+(?:should|do)\s+(?:i|we)\s+price",
    r"(?:what(?:'s|\s+is)|give\s+me|suggest|recommend|find|need|get)\s+(?:me\s+)?(?:a\s+|the\s+)?"
    r"(?:good\s+|right\s+|best\s+|fair\s+|new\s+)?price\s+(?:for|of|on)",
    r"(?:please\s+)?(?:suggest|recommend|quote)\s+(?:a\s+)?(?:price\s+)?(?:for)?",
    r"\bprice\s+(?:for|of)\b",
    r"^\s*(?:please\s+)?price\b",
    r"\bpricing\s+(?:for|of)\b",
)]
_FILLERS = re.compile(r"^(?:(?:please|a|an|the|my|our|this|for|of|on|me|it|product|item|"
                      r"pls|some|new)\b[\s,]*)+|(?:[\s,]+(?:please|pls|thanks|thank you|then|now|"
                      r"and|for me|with))+$", re.I)
_ASIN = re.compile(r"\b(?:B0[0-9A-Z]{8}|\d{9}[0-9X])\b")

# Policy keywords: (field, pattern, kind). Order matters: "max price change" before "max price".
_POLICY_WORDS: list[tuple[str, str, str]] = [
    ("min_margin", r"min(?:imum)?\.?\s+(?:profit\s+)?margin|margin\s+floor|(?:profit\s+)?margin", "pct"),
    ("max_change", r"max(?:imum)?\.?\s+(?:price\s+)?change|change\s+limit|price\s+change\s+limit", "pct"),
    ("map_price", r"\bmap\b|min(?:imum)?\s+advertised\s+price", "money"),
    ("ceiling", r"ceiling|max(?:imum)?\.?\s+price|price\s+cap|\bcap\b", "money"),
    ("ending", r"price\s+endings?|endings?|\bend\s+(?:(?:prices|them|it)\s+)?(?:in|with)\b", "ending"),
]
_POLICY_RE = re.compile("|".join(f"(?P<{f}>{p})" for f, p, _ in _POLICY_WORDS), re.I)
_CLEAR = re.compile(r"\b(?:remove|clear|drop|delete|unset|no|without|disable|turn\s+off)\s+"
                    r"(?:the\s+|my\s+|a\s+|any\s+)?$", re.I)
_SET_VERB = re.compile(r"\b(?:set|change|make|use|update|put|keep|want|need|should|must|at\s+least|"
                       r"minimum|min|max|maximum|to|is|of|be)\b|[:=]", re.I)


def _policy_slots(text: str) -> dict[str, Any]:
    """GuardrailPolicy updates named in `text` ("set my minimum margin to 20%" -> {"min_margin": 0.2})."""
    hits = list(_POLICY_RE.finditer(text))
    out: dict[str, Any] = {}
    for i, m in enumerate(hits):
        name = m.lastgroup or ""
        kind = next(k for f, _, k in _POLICY_WORDS if f == name)
        seg_end = hits[i + 1].start() if i + 1 < len(hits) else len(text)
        seg = text[m.end():seg_end]
        before = text[max(0, m.start() - 30):m.start()]
        if _CLEAR.search(before):
            out[name] = None if kind != "ending" else "none"
            continue
        if kind == "ending":
            around = text[max(0, m.start() - 20):seg_end]
            if re.search(r"\.99\b", around):
                out[name] = ".99"
            elif re.search(r"(?<![\d.])9\b", around):
                out[name] = "9"
            elif re.search(r"\b(?:none|no|off|remove|without)\b", around, re.I):
                out[name] = "none"
            continue
        amts = [a for a in find_amounts(seg)]
        if not amts:
            continue
        a = amts[0]
        if kind == "pct":
            # "20%" and "20" both mean 20 %; "0.2" is a fraction already.
            out[name] = a.value / 100 if (a.percent or abs(a.value) >= 1) else a.value
        else:
            out[name] = a.value
    return out


def _strip_spans(text: str, spans: Sequence[tuple[int, int]]) -> str:
    for s, e in sorted(spans, reverse=True):
        text = text[:s] + " " + text[e:]
    return text


def _clean_query(text: str) -> tuple[str, bool]:
    """The product words of a price request, and whether a price trigger phrase was found."""
    q = text
    found = False
    for p in _PRICE_TRIGGERS:
        m = p.search(q)
        if m:
            # "I sell it for 1,499. Price for Samsung S23": the product follows the trigger
            found = True
            tail = q[m.end():]
            tail = re.split(r"(?<=[.!?])\s", tail, maxsplit=1)[0]
            q = tail if re.search(r"[^\W\d_]", tail) else q[:m.start()] + " " + q[m.end():]
            break
    q = re.sub(r"[?!;]+", " ", q)
    q = re.sub(r"\s+", " ", q).strip(" ,.:-")
    prev = None
    while prev != q:
        prev = q
        q = _FILLERS.sub("", q).strip(" ,.:-")
    return q, found


def parse(text: str) -> Intent:
    """The intent and slots of one merchant message (no model, no catalog)."""
    raw = text or ""
    t = raw.strip()
    if not t:
        return Intent("unknown", raw)
    if _RESET.match(t):
        return Intent("reset", raw)
    if _HELP.match(t):
        return Intent("help", raw)
    m = _CHOICE.match(t)
    if m:
        return Intent("choose", raw, choice=int(m.group("n")))
    m = _ORDINAL.match(t)
    if m:
        n = ["first", "second", "third", "fourth", "fifth"].index(m.group("w").lower()) + 1
        return Intent("choose", raw, choice=n)
    if _NEW.match(t):
        return Intent("choose", raw, new_product=True)

    amounts = find_amounts(t)
    currency = next((a.currency for a in amounts if a.currency), None)
    spans: list[tuple[int, int]] = []
    cost = current = None
    for mm in _COST.finditer(t):
        g = "amt" if mm.group("amt") else "amt2"
        cost = parse_amount(mm.group(g))
        spans.append(mm.span())
    for mm in _CURRENT.finditer(t):
        current = parse_amount(mm.group("amt"))
        spans.append(mm.span())
    rest = _strip_spans(t, spans)

    if _WHAT_IF.search(t):
        policy = _policy_slots(rest) if not find_amounts(rest) else {}
        prices = [a for a in find_amounts(rest) if not a.percent]
        if prices:
            return Intent("what_if", raw, price=prices[0].value, currency=currency, cost=cost,
                          current_price=current)
        if policy:
            return Intent("set_policy", raw, policy=policy, cost=cost, currency=currency)
    policy = _policy_slots(rest)
    if policy:
        return Intent("set_policy", raw, policy=policy, cost=cost, current_price=current,
                      currency=currency)
    if _WHY.search(t):
        return Intent("why", raw)
    if _COMPETITORS.search(t):
        return Intent("competitors", raw)
    if _COMPARABLES.search(t):
        return Intent("comparables", raw)
    query, explicit = _clean_query(rest)
    explicit = explicit or cost is not None or current is not None
    if query and re.search(r"[^\W\d_]", query) and len(query) >= 2:
        return Intent("price", raw, query=query, cost=cost, current_price=current, currency=currency,
                      explicit=explicit)
    if cost is not None or current is not None:
        # "my cost is 900" on its own: a slot for the product in context
        return Intent("set_policy", raw, cost=cost, current_price=current, currency=currency)
    if query and _ASIN.search(query):
        return Intent("price", raw, query=query, cost=cost, current_price=current, currency=currency)
    return Intent("unknown", raw)


# ----------------------------------------------------------------------------- catalog matching
@dataclass
class Match:
    product_id: str
    title: str
    score: float


@dataclass
class MatchResult:
    status: Literal["exact", "confident", "ambiguous", "none"]
    matches: list[Match]

    @property
    def best(self) -> Match | None:
        return self.matches[0] if self.matches else None


class CatalogMatcher:
    """Find catalog products from the words a merchant types.

    Lexical score: the share of the query's character 3-4-grams (idf-weighted) that a title
    contains, blended with their TF-IDF cosine; long catalog titles then do not dilute a short,
    exact query ("boAt Rockerz 450"). Semantic score, with `embed` (texts -> vectors): cosine
    of the query's embedding to the catalog's (`vectors`, rows aligned with `product_ids`, e.g.
    the predictor's cached catalog embeddings; without them the top lexical candidates' titles
    are embedded and cached). Candidates are the best `n_candidates` of each score; the final
    score blends both. `match` decides on the lexical score and uses the blend for the
    did-you-mean list. Thresholds were set on data/demo titles (tests/test_chat.py checks them).
    """

    def __init__(self, product_ids: Sequence[str], titles: Sequence[str],
                 embed: Callable[[list[str]], Any] | None = None, vectors: np.ndarray | None = None,
                 confident: float = 0.8, ambiguous: float = 0.55, gap: float = 0.06,
                 n_candidates: int = 12, semantic_weight: float = 0.35) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        if len(product_ids) != len(titles):
            raise ValueError("product_ids and titles must have the same length")
        if vectors is not None and len(vectors) != len(product_ids):
            raise ValueError("vectors must have one row per product")
        self.product_ids = [str(p) for p in product_ids]
        self.titles = [str(t or "") for t in titles]
        self.embed = embed
        self.confident, self.ambiguous, self.gap = confident, ambiguous, gap
        self.n_candidates = n_candidates
        self.semantic_weight = semantic_weight
        self._vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 4), lowercase=True,
                                    sublinear_tf=True, dtype=np.float32)
        self._X = self._vec.fit_transform(self.titles).tocsr()        # l2-normalised rows
        self._B = self._X.copy()
        self._B.data[:] = 1.0                                          # which n-grams a title has
        self._idf = self._vec.idf_.astype(np.float32)
        self._pos = {p: i for i, p in enumerate(self.product_ids)}
        self._V = None
        self._has_vec = None
        if vectors is not None:
            V = np.nan_to_num(np.asarray(vectors, dtype=np.float32))
            norms = np.linalg.norm(V, axis=1, keepdims=True)
            self._has_vec = norms[:, 0] > 0
            self._V = V / np.maximum(norms, 1e-9)
        self._emb_cache: dict[int, np.ndarray] = {}   # title row -> unit vector
        self._emb_lock = threading.Lock()

    @classmethod
    def from_service(cls, service: Any, use_embeddings: bool = True, **kwargs: Any) -> CatalogMatcher:
        """Over the service's catalog; reuses the predictor's catalog embeddings when it has them."""
        t = service.products
        ids = [str(p) for p in t["product_id"]]
        embed = vectors = None
        pred = getattr(service, "predictor", None)
        if use_embeddings and pred is not None and callable(getattr(pred, "embed", None)):
            embed = pred.embed
            E = getattr(pred, "catalog_embeddings_", None)
            cat = getattr(pred, "catalog_", None)
            if isinstance(E, np.ndarray) and cat is not None and len(cat) == len(E):
                row = {str(p): i for i, p in enumerate(cat["product_id"])}
                vectors = np.zeros((len(ids), E.shape[1]), dtype=np.float32)
                for i, p in enumerate(ids):
                    j = row.get(p)
                    if j is not None:
                        vectors[i] = E[j]
        return cls(ids, list(t["title"].fillna("")), embed=embed, vectors=vectors, **kwargs)

    def _lexical(self, query: str) -> np.ndarray:
        q = self._vec.transform([query])
        cos = (self._X @ q.T).toarray().ravel()
        qb = q.copy()
        qb.data = self._idf[qb.indices]
        total = float(qb.data.sum())
        cover = (self._B @ qb.T).toarray().ravel() / total if total > 0 else np.zeros(len(self.titles))
        return 0.7 * cover + 0.3 * cos

    def _unit(self, texts: list[str]) -> np.ndarray:
        v = np.asarray(self.embed(texts), dtype=np.float32)  # type: ignore[misc]
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)

    def _title_cosines(self, q: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Cosine of the query vector to each title row; title vectors are cached."""
        with self._emb_lock:
            todo = [int(i) for i in rows if int(i) not in self._emb_cache]
        if todo:
            vecs = self._unit([self.titles[i] for i in todo])
            with self._emb_lock:
                for i, v in zip(todo, vecs):
                    self._emb_cache[i] = v
        with self._emb_lock:
            T = np.stack([self._emb_cache[int(i)] for i in rows])
        return T @ q

    @staticmethod
    def _top(score: np.ndarray, n: int) -> np.ndarray:
        n = min(len(score), n)
        top = np.argpartition(-score, n - 1)[:n]
        return top[np.argsort(-score[top], kind="stable")]

    def search(self, query: str, k: int = 5, semantic: bool = True) -> list[Match]:
        """The k best titles for `query`, best first, with a score in [0, 1].

        semantic=False: the lexical score alone (no embedding call).
        """
        query = (query or "").strip()
        if not query or not self.titles:
            return []
        lex = self._lexical(query)
        n = max(k, self.n_candidates)
        cand = self._top(lex, n)
        score = lex[cand]
        if semantic and self.embed is not None:
            try:
                q = self._unit([query])[0]
                w = self.semantic_weight
                if self._V is not None:
                    sem_all = self._V @ q
                    cand = np.unique(np.concatenate([cand, self._top(sem_all, n)]))
                    sem = np.clip(sem_all[cand], 0.0, 1.0)
                    blend = (1 - w) * lex[cand] + w * sem
                    score = np.where(self._has_vec[cand], blend, lex[cand])
                else:
                    score = (1 - w) * score + w * np.clip(self._title_cosines(q, cand), 0.0, 1.0)
            except Exception as exc:  # an embedding failure must not block a lexical answer
                log.warning("catalog embedding failed, using lexical scores: %s", exc)
                score = lex[cand]
        order = np.argsort(-score, kind="stable")[:k]
        return [Match(self.product_ids[cand[i]], self.titles[cand[i]], round(float(score[i]), 4))
                for i in order]

    def match(self, query: str, k: int = 3) -> MatchResult:
        """A decision: one clear product, a did-you-mean list, or no product (a new one)."""
        query = (query or "").strip()
        if query in self._pos:
            i = self._pos[query]
            return MatchResult("exact", [Match(query, self.titles[i], 1.0)])
        # Taking a product without asking rests on the lexical score: on 200 four-word title
        # prefixes (tiny demo catalog) it was confident for 89% and never wrong; blending in
        # the price-tuned embeddings made it confident for only 52%, with no fewer mistakes.
        # The embeddings then order the did-you-mean list (right product listed for 77% of
        # the uncertain queries vs 68% lexically) and are only computed for those.
        lexical = self.search(query, k=max(k, 2), semantic=False)
        if not lexical:
            return MatchResult("none", [])
        second = lexical[1].score if len(lexical) > 1 else 0.0
        if lexical[0].score >= self.confident and lexical[0].score - second >= self.gap:
            return MatchResult("confident", lexical[:1])
        w = self.semantic_weight
        # a blend can add at most w (a perfect cosine): skip the embedding when even that
        # could not reach a did-you-mean
        useful = self.embed is not None and (1 - w) * lexical[0].score + w >= self.ambiguous
        found = self.search(query, k=k) if useful else lexical[:k]
        if max(found[0].score, lexical[0].score) < self.ambiguous:
            return MatchResult("none", found[:k])
        return MatchResult("ambiguous", [m for m in found[:k] if m.score >= self.ambiguous] or found[:1])


# ----------------------------------------------------------------------------- session
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
    suggestion: Any = None                       # the last Suggestion
    candidates: list[Match] = field(default_factory=list)
    pending: Intent | None = None                # a price request waiting for "did you mean"
    messages: list[dict[str, str]] = field(default_factory=list)   # what the chat shows
    suggestion_at: dict[int, str] = field(default_factory=dict)    # message index -> suggestion id
    last_reply: Any = None                       # the last Reply (for the UI and tests)

    def clear_product(self) -> None:
        self.target = None
        self.suggestion = None
        self.cost = None
        self.current_price = None
        self.currency = None
        self.candidates = []
        self.pending = None


@dataclass
class Reply:
    """A finished reply: verified, rendered text, and the suggestion it carries (if any)."""

    text: str
    intent: str
    suggestion_id: str | None = None
    dropped: list[str] = field(default_factory=list)   # lines that failed verification
    routed_by: str = "parser"


class _Say:
    """Lines with {fact_id} placeholders over one fact sheet, shown only once verified."""

    def __init__(self, sheet: FactSheet) -> None:
        self.sheet = sheet
        self.lines: list[str] = []

    def __call__(self, *lines: str) -> None:
        self.lines.extend(lines)

    def text(self, dropped: list[str]) -> str:
        out = []
        for line in self.lines:
            if not line.strip():
                out.append("")
                continue
            v = verify(line, self.sheet)
            if v.ok:
                out.append(v.rendered)
            else:
                log.warning("chat line dropped, failed verification: %r %s", line, v.problems)
                dropped.append(line)
        return "\n".join(out).strip()

    def reply(self, intent: str, suggestion_id: str | None = None) -> Reply:
        """The verified lines as a chat reply, listing the lines that failed verification."""
        dropped: list[str] = []
        return Reply(self.text(dropped), intent, suggestion_id=suggestion_id, dropped=dropped)


_BOUND_WORDS = {("positive", "lower"): "minimum price", ("floor", "lower"): "cost floor",
                ("map", "lower"): "minimum advertised price (MAP)",
                ("max_change", "lower"): "maximum change down", ("ceiling", "upper"): "price ceiling",
                ("max_change", "upper"): "maximum change up",
                ("max_above_cheapest", "upper"): "competitor cap"}
_POLICY_LABELS = {"min_margin": "minimum margin", "max_change": "maximum price change",
                  "map_price": "minimum advertised price (MAP)", "ceiling": "price ceiling",
                  "ending": "price ending", "cost": "unit cost", "current_price": "current price"}
_ENDING_WORDS = {".99": "prices ending in .99", "9": "whole prices ending in 9", "none": "no price ending"}

HINT = ("_Ask me: {ex_why} · {ex_whatif} · {ex_competitors} · {ex_comparables} · {ex_margin}_")
_HINT_FACTS = {"ex_why": "why?", "ex_whatif": "what if I charge 1,299?",
               "ex_competitors": "show competitors", "ex_comparables": "show comparables",
               "ex_margin": "set my minimum margin to 20%"}


def _hint(say: _Say) -> None:
    for k, v in _HINT_FACTS.items():
        if k not in say.sheet:
            say.sheet.add(Fact(k, v, "text"))
    say("", HINT)


_BOUND_KEYS = {"le": "at most", "lt": "below", "ge": "at least", "gt": "above"}


def _error_words(exc: ValidationError) -> str:
    """The first validation error in the merchant's terms: "minimum margin must be at most 1000%"."""
    err = exc.errors()[0]
    field = str(err.get("loc", ("input",))[-1])
    label = _POLICY_LABELS.get(field, field.replace("_", " "))
    ctx = err.get("ctx") or {}
    for key, words in _BOUND_KEYS.items():
        if key in ctx and isinstance(ctx[key], (int, float)):
            limit = float(ctx[key])
            shown = f"{limit * 100:g}%" if field in ("min_margin", "max_change") else f"{limit:g}"
            return f"the {label} must be {words} {shown}"
    return f"the {label}: {err.get('msg', 'is not valid')}"


# ----------------------------------------------------------------------------- tools (LLM routing)
class SuggestArgs(BaseModel):
    product: str = Field(description="catalog product id, or the product's name/description as the merchant wrote it")
    cost: float | None = Field(default=None, description="unit cost, only if the merchant stated it")
    current_price: float | None = Field(default=None, description="price charged today, only if stated")


class WhatIfArgs(BaseModel):
    price: float = Field(description="the price the merchant asks about, exactly as they wrote it")


class RulesArgs(BaseModel):
    min_margin_pct: float | None = Field(default=None, description="minimum margin over cost in percent, e.g. 20")
    max_change_pct: float | None = Field(default=None, description="largest change from the current price in percent")
    map_price: float | None = Field(default=None, description="minimum advertised price")
    ceiling: float | None = Field(default=None, description="highest allowed price")
    ending: Literal["none", ".99", "9"] | None = Field(default=None, description="price ending")
    cost: float | None = Field(default=None, description="unit cost")


class ChooseArgs(BaseModel):
    choice: int | None = Field(default=None, description="1-based number of the product picked from the list")
    new_product: bool = Field(default=False, description="true when none of the listed products is meant")


class NoArgs(BaseModel):
    pass


ROUTER_PROMPT = """You route a merchant's message in a pricing assistant to exactly one tool.
Never answer with prices or numbers yourself: the tools compute and word every number.
Copy numbers from the merchant's message exactly as written. Percentages stay in percent.
Context: {context}"""


# ----------------------------------------------------------------------------- the agent
class ChatAgent:
    """Conversation logic over a PricingService; one agent serves every session."""

    def __init__(self, service: Any, llm: Any | None = None, matcher: CatalogMatcher | None = None,
                 k_comparables: int = 5, explain: bool = True, history_turns: int = 4) -> None:
        self.service = service
        self.llm = llm
        self.k_comparables = k_comparables
        self.explain = explain
        self.history_turns = history_turns
        self._matcher = matcher
        self._matcher_lock = threading.Lock()

    @classmethod
    def from_env(cls, service: Any, **kwargs: Any) -> ChatAgent:
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
        parts = reply.text.split("\n")
        shown: list[str] = []
        for part in parts:
            shown.append(part)
            yield "\n".join(shown)

    def reply(self, text: str, session: ChatSession) -> Reply:
        """The complete reply to `text` (updates `session`)."""
        if self.llm is not None:
            routed = self._route_with_llm(text, session)
            if routed is not None:
                return routed
        return self.handle(parse(text), session)

    def handle(self, intent: Intent, session: ChatSession) -> Reply:
        fn = {"price": self._price, "choose": self._choose, "why": self._why,
              "what_if": self._what_if, "competitors": self._competitors,
              "comparables": self._comparables, "set_policy": self._set_policy,
              "help": self._help, "reset": self._reset}.get(intent.name, self._unknown)
        try:
            return fn(intent, session)
        except ValidationError as exc:
            return self._plain("", intent.name, facts={"err": _error_words(exc)},
                               template="I couldn't use that: {err}. Your rules are unchanged.")

    # ------------------------------------------------------------ helpers
    def _plain(self, text: str, intent: str, facts: dict[str, str] | None = None,
               template: str | None = None, hint: bool = False) -> Reply:
        sheet = FactSheet(currency=None)
        for k, v in (facts or {}).items():
            sheet.add(Fact(k, str(v), "text"))
        say = _Say(sheet)
        say(*(template or text).split("\n"))
        if hint:
            _hint(say)
        return say.reply(intent)

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
        for tok in _ASIN.findall(q):
            if tok in idx:
                return tok
        return None

    def _suggest(self, session: ChatSession) -> Any:
        from assistant.suggestion import SuggestOptions

        opts = SuggestOptions(explain=self.explain, k_comparables=self.k_comparables,
                              policy=self._policy_for(session))
        target = session.target
        if isinstance(target, str) and session.current_price is not None:
            row = self.service.product(target)
            target = ProductIn(product_id=target, title=row["title"], price=session.current_price)
        elif isinstance(target, ProductIn):
            target = target.model_copy(update={"price": session.current_price, "cost": session.cost,
                                               "currency": session.currency or target.currency})
        return self.service.suggest(target, opts)

    def _suggest_reply(self, session: ChatSession, intent: str, lead: list[str] | None = None,
                       lead_facts: dict[str, Any] | None = None) -> Reply:
        try:
            s = self._suggest(session)
        except GuardrailConflict as exc:
            return self._conflict_reply(exc, session, intent)
        session.suggestion = s
        sheet = self.sheet(s, session)
        for k, v in (lead_facts or {}).items():
            if k not in sheet:
                sheet.add(v if isinstance(v, Fact) else Fact(k, str(v), "text"))
        say = _Say(sheet)
        if lead:
            say(*lead, "")
        self._say_suggestion(say, s, session)
        return say.reply(intent, s.suggestion_id)

    # ------------------------------------------------------------ fact sheets
    def sheet(self, s: Any, session: ChatSession | None = None) -> FactSheet:
        """Every number a reply about suggestion `s` may show, as facts (the shared builder)."""
        return suggestion_fact_sheet(
            s, cost=session.cost if session is not None else None,
            in_catalog=bool(s.product_id) and s.product_id in self.service.products.index)

    def describe(self, s: Any, cost: float | None = None, hint: bool = False) -> Reply:
        """The verified summary of suggestion `s` (price, interval, evidence, guardrails, why)."""
        session = ChatSession(cost=cost)
        say = _Say(self.sheet(s, session))
        self._say_suggestion(say, s, session, hint=hint)
        return say.reply("describe", s.suggestion_id)

    def _say_suggestion(self, say: _Say, s: Any, session: ChatSession, hint: bool = True) -> None:
        sh = say.sheet
        has = sh.__contains__
        say("**{product_title}** ({product_ref})",
            "I suggest **{recommended_price}**, with a likely range of {interval_low} to {interval_high} "
            "({interval_coverage} interval).")
        if has("change_pct"):
            d = sh["change_pct"].direction
            say("That is the same as your current price of {current_price}." if d == "equal" else
                f"That is {{change_pct}} {d} your current price of {{current_price}}.")
        if s.abstain:
            self._say_abstain(say, s)
        say("", "**Key evidence**")
        if has("vs_category_median_pct"):
            d = sh["vs_category_median_pct"].direction
            where = "the {category_name} median" if has("category_name") else "the catalog median"
            n = " across {category_count} products" if has("category_count") else ""
            say(f"- Category: {where} is {{category_median}}{n}; the suggestion is the same as it." if d == "equal"
                else f"- Category: the suggestion is {{vs_category_median_pct}} {d} {where} of "
                     f"{{category_median}}{n}.")
        if has("cheapest_competitor"):
            d = sh["vs_cheapest_competitor_pct"].direction
            who = " ({cheapest_competitor_name})" if has("cheapest_competitor_name") else ""
            lead = ("- Competitors: the cheapest of {competitor_count} competitor offers is "
                    "{cheapest_competitor}" + who)
            say(lead + (", the same as the suggestion." if d == "equal" else
                        f", so the suggestion is {{vs_cheapest_competitor_pct}} {d} it."))
        elif s.product_id and s.product_id in self.service.products.index:
            say("- Competitors: no competitor offers are linked to this product.")
        if has("cmp_1_title"):
            say("- Comparables: {comparables_count} comparable products; the closest is "
                "“{cmp_1_title}” at {cmp_1_price}.")
        if has("brand_name"):
            say("- Brand {brand_name}: median {brand_median} across {brand_count} products.")
        i = 1
        while has(f"step_{i}_rule"):
            say(f"- Guardrail: the {{step_{i}_rule}} moved the price from {{step_{i}_before}} "
                f"to {{step_{i}_after}}.")
            i += 1
        say("", self._explanation_line(s, sh))
        if hint:
            _hint(say)

    def _say_abstain(self, say: _Say, s: Any) -> None:
        reason = s.abstain_reason or ""
        if reason.startswith("interval too wide"):
            width = (s.interval.high - s.interval.low) / max(s.recommended_price, 1e-9) * 100
            if "interval_width" not in say.sheet:
                pct_fact(say.sheet, "interval_width", width)
            say("⚠ **Low confidence:** the likely range is wide ({interval_width} of the price); "
                "treat this as a rough guide.")
        elif reason.startswith("thin evidence"):
            say("⚠ **Low confidence:** few priced products in this category and no close comparables; "
                "treat this as a rough guide.")
        else:
            say("⚠ **Low confidence:** treat this as a rough guide.")

    def _explanation_line(self, s: Any, sheet: FactSheet) -> str:
        """The service's verified explanation, re-checked against this sheet, as one line."""
        from assistant.explain import fallback_text

        e = s.explanation
        text = e.text if e is not None and e.status != "not_requested" else ""
        if text and verify(text, sheet).ok:
            fid = "explanation"
            if fid not in sheet:
                sheet.add(Fact(fid, text, "text"))
            return "**Why:** {explanation}"
        return "**Why:** " + fallback_text(sheet)

    # ------------------------------------------------------------ intents
    def _help(self, intent: Intent, session: ChatSession) -> Reply:
        facts = {"ex_price": "what should I charge for boAt Rockerz 450 headphones? my cost is 900"}
        return self._plain("", "help", facts=facts, hint=True, template=(
            "I suggest prices you can defend. Tell me about a product, e.g. “{ex_price}”, "
            "or give a catalog product id."))

    def _reset(self, intent: Intent, session: ChatSession) -> Reply:
        session.clear_product()
        session.policy = GuardrailPolicy()
        return self._plain("Cleared: no product in context, default rules.", "reset")

    def _unknown(self, intent: Intent, session: ChatSession) -> Reply:
        return self._plain("", "unknown", hint=True, template=(
            "I didn't catch a product or a question. Describe a product (title, brand) or "
            "give its catalog id."))

    def _price(self, intent: Intent, session: ChatSession) -> Reply:
        query = intent.query or ""
        if intent.cost is not None and intent.cost < 0:
            return self._plain("", "price", template="I couldn't use that: the unit cost cannot be negative.")
        if intent.current_price is not None and intent.current_price <= 0:
            return self._plain("", "price", template="I couldn't use that: the current price must be above zero.")
        pid = self._resolve_id(query)
        if pid is None:
            result = self.matcher.match(query)
            if result.status in ("exact", "confident"):
                pid = result.best.product_id  # type: ignore[union-attr]
            elif result.status == "ambiguous":
                session.candidates = result.matches
                session.pending = intent
                return self._did_you_mean(query, result.matches)
            elif not intent.explicit and len(query.split()) < 2:
                # one stray word is not a product description; do not price it
                return self._plain("", "price", facts={"query": query}, template=(
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
            title = (intent.query or "").strip()
            session.target = ProductIn(title=title, currency=intent.currency)
        return self._suggest_reply(session, "price")

    def _did_you_mean(self, query: str, matches: list[Match]) -> Reply:
        facts: dict[str, str] = {"query": query}
        lines = ["I found several products like “{query}”. Did you mean:"]
        for i, m in enumerate(matches, start=1):
            facts[f"opt_{i}"] = str(i)
            facts[f"opt_{i}_title"] = m.title
            facts[f"opt_{i}_id"] = m.product_id
            lines.append(f"- **{{opt_{i}}}** {{opt_{i}_title}} ({{opt_{i}_id}})")
        facts["new_word"] = "new"
        lines.append("Reply with the number or the id, or “{new_word}” to price it as a new product.")
        return self._plain("", "did_you_mean", facts=facts, template="\n".join(lines))

    def _choose(self, intent: Intent, session: ChatSession) -> Reply:
        pending = session.pending
        if pending is None or not session.candidates:
            if intent.choice is not None:  # a bare number with nothing to pick from
                return self._unknown(intent, session)
            return self._plain("Which product? Describe it or give its catalog id.", "choose")
        cands, session.candidates, session.pending = session.candidates, [], None
        if intent.new_product:
            return self._price_for(None, pending, session)
        if intent.choice is None or not 1 <= intent.choice <= len(cands):
            session.candidates, session.pending = cands, pending
            return self._plain("Please pick one of the listed numbers, or say “new”.", "choose")
        return self._price_for(cands[intent.choice - 1].product_id, pending, session)

    def _need_suggestion(self, session: ChatSession, intent: str) -> Reply | None:
        if session.suggestion is None:
            return self._plain("", intent, hint=False, template=(
                "Ask me about a product first — describe it or give its catalog id."))
        return None

    def _why(self, intent: Intent, session: ChatSession) -> Reply:
        missing = self._need_suggestion(session, "why")
        if missing:
            return missing
        s = session.suggestion
        sheet = self.sheet(s, session)
        say = _Say(sheet)
        say("**Why {recommended_price} for {product_title}**")
        if sheet.get("driver_1") is not None:
            say("What moved the model's price of {model_price} most:")
            i = 1
            while f"driver_{i}" in sheet:
                d = sheet[f"driver_{i}_effect"].direction
                verb = {"above": "up", "below": "down"}.get(d or "", "")
                say(f"- {{driver_{i}}} moved it {verb} by {{driver_{i}_effect}}" if verb else
                    f"- {{driver_{i}}} did not move it")
                i += 1
        else:
            say("The model's price was {model_price}; no single factor moved it noticeably.")
        i = 1
        while f"step_{i}_rule" in sheet:
            say(f"- Your {{step_{i}_rule}} moved the price from {{step_{i}_before}} to {{step_{i}_after}}.")
            i += 1
        if s.abstain:
            self._say_abstain(say, s)
        say("", self._explanation_line(s, sheet))
        return say.reply("why", s.suggestion_id)

    def _competitors(self, intent: Intent, session: ChatSession) -> Reply:
        missing = self._need_suggestion(session, "competitors")
        if missing:
            return missing
        s = session.suggestion
        sheet = self.sheet(s, session)
        say = _Say(sheet)
        if "comp_1_name" not in sheet:
            if s.product_id and s.product_id in self.service.products.index:
                say("No competitor offers are linked to {product_title} in the catalog.")
            else:
                say("{product_title} is a new product, so no competitor offers are linked to it.")
        else:
            say("Competitor offers for {product_title} (latest per competitor), against our "
                "suggestion of {recommended_price}:")
            i = 1
            while f"comp_{i}_name" in sheet:
                d = sheet[f"comp_{i}_vs_suggestion"].direction
                say(f"- {{comp_{i}_name}} at {{comp_{i}_price}}: the same as our suggestion" if d == "equal"
                    else f"- {{comp_{i}_name}} at {{comp_{i}_price}} is {{comp_{i}_vs_suggestion}} {d} "
                         f"our suggestion of {{recommended_price}}")
                i += 1
        return say.reply("competitors", s.suggestion_id)

    def _comparables(self, intent: Intent, session: ChatSession) -> Reply:
        missing = self._need_suggestion(session, "comparables")
        if missing:
            return missing
        s = session.suggestion
        sheet = self.sheet(s, session)
        say = _Say(sheet)
        if "cmp_1_title" not in sheet:
            say("No comparable products were found for {product_title}.")
        else:
            say("The {comparables_count} comparable products behind the suggestion of {recommended_price}:")
            i = 1
            while f"cmp_{i}_title" in sheet:
                say(f"- {{cmp_{i}_title}} ({{cmp_{i}_id}}) at {{cmp_{i}_price}}, similarity {{cmp_{i}_similarity}}")
                i += 1
        return say.reply("comparables", s.suggestion_id)

    def _what_if(self, intent: Intent, session: ChatSession) -> Reply:
        missing = self._need_suggestion(session, "what_if")
        if missing:
            return missing
        if intent.cost is not None:
            session.cost = intent.cost
        s = session.suggestion
        price = float(intent.price or 0)
        if not math.isfinite(price) or price <= 0:
            return self._plain("A what-if needs a price above zero.", "what_if")
        sheet = self.sheet(s, session)
        say = _Say(sheet)
        has = sheet.__contains__
        price_fact(sheet, "whatif_price", price, "the price asked about")
        say("**At {whatif_price}** for {product_title}:")
        d = compare_fact(sheet, "whatif_vs_suggestion", "whatif_price", "recommended_price")
        say("- That is our suggestion of {recommended_price}." if d == "equal" else
            f"- That is {{whatif_vs_suggestion}} {d} our suggestion of {{recommended_price}}.")
        if has("category_median"):
            d = compare_fact(sheet, "whatif_vs_category", "whatif_price", "category_median")
            where = "the {category_name} median" if has("category_name") else "the catalog median"
            say(f"- It equals {where} of {{category_median}}." if d == "equal" else
                f"- It is {{whatif_vs_category}} {d} {where} of {{category_median}}.")
        comps = sorted(s.evidence.competitors, key=lambda c: c.price)
        if comps:
            n_cheaper = sum(1 for c in comps if round(c.price, 2) < round(price, 2))
            sheet.add(Fact("whatif_cheaper_count", n_cheaper, "count",
                           nouns=("of", "competitor", "competitors", "offers")))
            d = compare_fact(sheet, "whatif_vs_cheapest", "whatif_price", "cheapest_competitor")
            say("- Competitors: {whatif_cheaper_count} of {competitor_count} competitor offers are "
                "cheaper than that; " + ("it matches the cheapest competitor offer of {cheapest_competitor}."
                                         if d == "equal" else
                                         f"it is {{whatif_vs_cheapest}} {d} the cheapest competitor "
                                         "offer of {cheapest_competitor}."))
        if session.cost is not None and session.cost > 0:
            if "cost" not in sheet:
                price_fact(sheet, "cost", session.cost, "unit cost")
            if price > session.cost:
                pct_fact(sheet, "whatif_margin", (price - session.cost) / price * 100)
                price_fact(sheet, "whatif_profit", price - session.cost)
                say("- Margin: {whatif_margin} of the price, {whatif_profit} per unit on your unit cost "
                    "of {cost}.")
            elif round(price, 2) == round(session.cost, 2):
                say("- Margin: none — that is exactly your unit cost of {cost}.")
            else:
                price_fact(sheet, "whatif_loss", session.cost - price)
                say("- Margin: {whatif_price} is below your unit cost of {cost}, a loss of "
                    "{whatif_loss} per unit.")
        else:
            say("- Margin: tell me your unit cost (“my cost is …”) to see it.")
        self._say_checks(say, price, s, session)
        self._say_demand(say, price, s, session)
        return say.reply("what_if", s.suggestion_id)

    def _say_checks(self, say: _Say, price: float, s: Any, session: ChatSession) -> None:
        """Guardrail check of a what-if price, from the Bound objects (not check()'s strings)."""
        cheapest = min((c.price for c in s.evidence.competitors), default=None)
        try:
            found, _ = bounds(self._policy_for(session), s.current_price, cheapest)
        except ValueError:
            return
        broken = [b for b in found if b.violated_by(price) and b.rule != "positive"]
        if not broken:
            say("- Guardrails: it passes all your rules.")
            return
        say("- Guardrails: it breaks your rules:")
        for i, b in enumerate(broken, start=1):
            text_fact(say.sheet, f"rule_{i}", _BOUND_WORDS.get((b.rule, b.side), b.rule))
            price_fact(say.sheet, f"rule_{i}_limit", b.value)
            where = "below" if b.side == "lower" else "above"
            say(f"  - {{whatif_price}} is {where} the {{rule_{i}}} of {{rule_{i}_limit}}")

    def _say_demand(self, say: _Say, price: float, s: Any, session: ChatSession) -> None:
        """Expected units, revenue and profit at the price with intervals, from the product's
        sales history (``service.what_if``, issue #7); a one-line reason when it has none."""
        fn = getattr(self.service, "what_if", None)
        if not callable(fn) or not s.product_id:
            return
        try:
            w = fn(s.product_id, price, cost=session.cost)
        except ValueError as exc:  # NoSalesHistory: no demand model, or no usable history
            log.info("demand what-if unavailable: %s", exc)
            text_fact(say.sheet, "whatif_no_demand", re.sub(r"^product '[^']*': ", "", str(exc)))
            say("- Demand: not estimated — {whatif_no_demand}.")
            return
        except Exception as exc:  # e.g. a product id the catalog does not hold
            log.info("demand what-if unavailable: %s", exc)
            return
        if w is None or getattr(w, "units", None) is None:
            return
        sheet = say.sheet
        period = getattr(w, "period_days", None)
        text_fact(sheet, "whatif_period", "month" if period and 27 <= period <= 31 else
                   (f"{period:g} days" if period else "period"))
        text_fact(sheet, "whatif_level", f"{getattr(w, 'level', 0.9):.0%}")
        say("- Demand, from this product's sales history (per {whatif_period}, "
            "{whatif_level} intervals):")
        units = ("whatif_units", "whatif_units_low", "whatif_units_high")
        for fid, v in zip(units, (w.units, w.units_low, w.units_high)):
            sheet.add(Fact(fid, round(float(v), 0), "count", nouns=("units", "unit")))
        if round(float(w.units)) >= 1:
            say("  - Units: about {whatif_units} units ({whatif_units_low} to {whatif_units_high} "
                "units)")
        elif round(float(w.units_high)) >= 1:  # "about 0 units" would read as a certainty
            say("  - Units: almost none — fewer than one unit expected (at most "
                "{whatif_units_high} units)")
        else:
            say("  - Units: almost none — fewer than one unit expected")
        if w.revenue is not None:
            for fid, v in zip(("whatif_revenue", "whatif_revenue_low", "whatif_revenue_high"),
                              (w.revenue, w.revenue_low, w.revenue_high)):
                price_fact(sheet, fid, v)
            say("  - Revenue: {whatif_revenue} ({whatif_revenue_low} to {whatif_revenue_high})")
        if getattr(w, "profit", None) is not None:
            for fid, v in zip(("whatif_period_profit", "whatif_profit_low", "whatif_profit_high"),
                              (w.profit, w.profit_low, w.profit_high)):
                price_fact(sheet, fid, v)
            say("  - Profit: {whatif_period_profit} ({whatif_profit_low} to {whatif_profit_high})")
        else:
            say("  - Profit: tell me your unit cost (“my cost is …”) to see it.")
        e = getattr(w, "elasticity", None) or {}
        if e.get("beta") is not None:
            where = {"product": "its own sales", "pooled": "its own sales, pooled with its category",
                     "category": "its category's sales", "global": "all products' sales"}
            text = f"{e['beta']:+.2f}"
            if e.get("low") is not None and e.get("high") is not None:
                text += f" ({e.get('level', 0.9):.0%} interval {e['low']:+.2f} to {e['high']:+.2f})"
            text_fact(sheet, "whatif_elasticity", text)
            text_fact(sheet, "whatif_elasticity_source",
                       where.get(str(e.get("source")), str(e.get("source"))))
            say("  - Price elasticity: {whatif_elasticity}, from {whatif_elasticity_source}")
        if getattr(w, "extrapolated", False):
            if e.get("observed_low") is not None and e.get("observed_high") is not None:
                price_fact(sheet, "whatif_sold_low", e["observed_low"])
                price_fact(sheet, "whatif_sold_high", e["observed_high"])
                say("  - ⚠ {whatif_price} is outside the prices it sold at ({whatif_sold_low} to "
                    "{whatif_sold_high}): these figures are extrapolated, treat them with care.")
            else:
                say("  - ⚠ {whatif_price} is outside the prices it sold at: these figures are "
                    "extrapolated, treat them with care.")

    def _set_policy(self, intent: Intent, session: ChatSession) -> Reply:
        old = (session.policy, session.cost, session.current_price)
        updates = {k: v for k, v in intent.policy.items()}
        sheet = FactSheet(currency=(session.suggestion.currency if session.suggestion is not None
                                    else session.currency or intent.currency))
        lines: list[str] = []
        if updates:  # validated before it replaces the session's rules (model_copy does not check)
            session.policy = GuardrailPolicy.model_validate({**session.policy.model_dump(), **updates})
        if intent.cost is not None:
            if intent.cost < 0:
                return self._plain("", "set_policy", template="A unit cost cannot be negative.")
            session.cost = intent.cost
            lines.append("Unit cost set to " + price_fact(sheet, "new_cost", intent.cost) + ".")
        if intent.current_price is not None:
            session.current_price = intent.current_price
            lines.append("Current price set to " + price_fact(sheet, "new_current", intent.current_price) + ".")
        for k, v in updates.items():
            label = text_fact(sheet, f"label_{k}", _POLICY_LABELS[k])
            if v is None:
                lines.append(f"Removed your {label}.")
            elif k in ("min_margin", "max_change"):
                lines.append(f"Your {label} is now " + pct_fact(sheet, f"new_{k}", v * 100) + ".")
            elif k == "ending":
                lines.append(f"Your {label} is now " + text_fact(sheet, "new_ending", _ENDING_WORDS[v]) + ".")
            else:
                lines.append(f"Your {label} is now " + price_fact(sheet, f"new_{k}", v) + ".")
        if updates.get("min_margin") is not None and session.cost is None:
            lines.append("I need your unit cost to apply a margin — tell me “my cost is …”.")
        say = _Say(sheet)
        say(*lines)
        dropped: list[str] = []
        head = say.text(dropped)
        if session.target is None:
            return Reply(head + "\n\nAsk me about a product and I'll apply your rules.", "set_policy",
                         dropped=dropped)
        try:
            s = self._suggest(session)
        except GuardrailConflict as exc:
            session.policy, session.cost, session.current_price = old
            r = self._conflict_reply(exc, session, "set_policy")
            return Reply(head + "\n\n" + r.text + "\nI kept your previous rules.", "set_policy",
                         dropped=dropped + r.dropped)
        session.suggestion = s
        full = self.sheet(s, session)
        say2 = _Say(full)
        self._say_suggestion(say2, s, session)
        body = say2.text(dropped)
        return Reply(head + "\n\n" + body, "set_policy", suggestion_id=s.suggestion_id, dropped=dropped)

    def _conflict_reply(self, exc: GuardrailConflict, session: ChatSession, intent: str) -> Reply:
        cur = session.suggestion.currency if session.suggestion is not None else session.currency
        sheet = FactSheet(currency=cur or getattr(self.service, "default_currency", None))
        say = _Say(sheet)
        say("Your rules leave no valid price for this product:")
        for i, (lo, up) in enumerate(exc.conflicts, start=1):
            text_fact(sheet, f"c{i}_lo_rule", _BOUND_WORDS.get((lo.rule, lo.side), lo.rule))
            text_fact(sheet, f"c{i}_up_rule", _BOUND_WORDS.get((up.rule, up.side), up.rule))
            price_fact(sheet, f"c{i}_lo", lo.value)
            price_fact(sheet, f"c{i}_up", up.value)
            say(f"- the {{c{i}_lo_rule}} of {{c{i}_lo}} is above the {{c{i}_up_rule}} of {{c{i}_up}}")
        say("Change one of these rules (e.g. “{ex_fix}”).")
        sheet.add(Fact("ex_fix", "remove my ceiling", "text"))
        return say.reply(intent)

    # ------------------------------------------------------------ LLM routing (tool calling)
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

        def set_rules(min_margin_pct: float | None = None, max_change_pct: float | None = None,
                      map_price: float | None = None, ceiling: float | None = None,
                      ending: str | None = None, cost: float | None = None) -> str:
            policy: dict[str, Any] = {}
            if min_margin_pct is not None:
                policy["min_margin"] = min_margin_pct / 100
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
        ]
        return [StructuredTool.from_function(func=f, name=n, description=d, args_schema=a)
                for f, n, d, a in specs]

    _NUMERIC_ARGS = {"cost": 1.0, "current_price": 1.0, "price": 1.0, "map_price": 1.0, "ceiling": 1.0,
                     "min_margin_pct": 1.0, "max_change_pct": 1.0}

    def _grounded(self, args: dict[str, Any], text: str) -> bool:
        """Every number the model put in the arguments is one the merchant wrote."""
        written = [a.value for a in find_amounts(text)]
        for k, v in args.items():
            if k in self._NUMERIC_ARGS and v is not None:
                try:
                    x = float(v)
                except (TypeError, ValueError):
                    return False
                if not any(abs(x - w) <= 1e-6 * max(1.0, abs(w)) for w in written):
                    return False
        return True

    def _context_line(self, session: ChatSession) -> str:
        parts = []
        s = session.suggestion
        parts.append(f"product in context: {s.title!r}" if s is not None else "no product in context")
        if session.candidates:
            parts.append("did-you-mean list shown: " + "; ".join(
                f"{i}. {m.title}" for i, m in enumerate(session.candidates, start=1)))
        return "; ".join(parts)

    def _route_with_llm(self, text: str, session: ChatSession) -> Reply | None:
        from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

        replies: list[Reply] = []
        tools = self.tools(session, text, sink=replies)
        by_name = {t.name: t for t in tools}
        msgs: list[Any] = [SystemMessage(ROUTER_PROMPT.format(context=self._context_line(session)))]
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
            if tool is None or not self._grounded(args, text):
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


def timed_first_reply(agent: ChatAgent, text: str, session: ChatSession | None = None) -> tuple[float, float]:
    """(seconds to the first streamed text, seconds to the complete reply), for benchmarks."""
    session = session or ChatSession()
    t0 = time.perf_counter()
    first = None
    for _ in agent.respond(text, session):
        if first is None:
            first = time.perf_counter() - t0
    return first or 0.0, time.perf_counter() - t0
