"""Parsing: one merchant message -> an intent with slots (no model, no catalog).

Use::

    from assistant.chat.parsing import parse, find_amounts
    parse("what should I charge for boAt Rockerz 450? my cost is 900")   # Intent("price", query=..., cost=900)
    parse("set my minimum margin to 20%").policy                          # {"min_margin": 0.2}
    find_amounts("₹1,29,999 or 20%")                                      # [Amount(129999, ...), Amount(20, percent)]

Amounts (1,299 / ₹1299 / 1,29,999 / 20% / 1.5k) are read by regular expressions, which are
exact for them; the intent patterns below are the parser's rules for the rest.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

IntentName = Literal["price", "choose", "why", "what_if", "competitors", "comparables", "set_policy",
                     "margin", "target_price", "break_even", "should_drop", "demand", "summary", "help",
                     "reset", "smalltalk", "feedback", "apply", "unknown"]

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
    choice: int | None = None         # 1-based pick from a did-you-mean list (-1: the last)
    new_product: bool = False         # "none of these": price it as a new product
    product_id: str | None = None     # a catalog id named anywhere in the message
    ref: bool = False                 # "it", "this one": the product in context
    margin: float | None = None       # a target margin, (price − cost) / price, as a fraction
    markup: float | None = None       # a target markup, (price − cost) / cost, as a fraction
    stock: float | None = None        # units to clear
    days: float | None = None         # within so many days
    feedback: str | None = None       # accept, too_low, too_high, thanks, reject
    language: str = "en"              # the message's language (assistant.chat.lexicon)
    gloss: str = ""                   # the message in English words
    confidence: float = 1.0           # the classifier's probability for `name`


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
# "apply it" / "apply that price" / "set it to the suggested price": apply the last suggestion
# to the price list. A rule, not a classifier action: the whole message must be the request
# ("apply a 20% margin" is a rule change, "does MAP apply here?" a question).
_LEAD = (r"(?:(?:ok(?:ay)?|yes|yeah|yep|great|good|fine|sure|alright|perfect|then|so|now|please|pls|"
         r"go\s+ahead(?:\s+and)?|let'?s)[\s,.!]+)*")
_THE_PRICE = (r"(?:the|your|that|this|its|our)\s+(?:suggested|recommended|suggestion'?s?|proposed|new|same)\s+"
              r"(?:price|one)|(?:the|your|that|this)\s+suggestion|(?:that|this)\s+(?:price|one)|it|that|this")
_APPLY = re.compile(
    r"^\s*" + _LEAD + r"(?:"
    r"apply(?:\s+(?:" + _THE_PRICE + r"))?(?:\s+(?:at|for)\s+(?P<amt>" + _AMT + r"))?"
    r"|(?:set|change|update|move|put)\s+(?:it|the\s+price|my\s+price|its\s+price|the\s+product)\s+to\s+"
    r"(?:" + _THE_PRICE + r")"
    r"|(?:use|accept\s+and\s+apply|take)\s+(?:the|your|that)\s+(?:suggested|recommended)\s+price"
    r")(?:\s+(?:now|please|pls|for\s+me|to\s+my\s+price\s+list|to\s+the\s+price\s+list))*"
    r"[\s.!]*(?:thanks?(?:\s+you)?[\s.!]*)?$", re.I)


def apply_request(text: str) -> tuple[bool, float | None]:
    """Whether ``text`` asks to apply the last suggestion, and the price it names ("apply it
    at 799"), if any."""
    m = _APPLY.match(text or "")
    if m is None:
        return False, None
    amt = find_amounts(m.group("amt")) if m.group("amt") else []
    return True, (amt[0].value if amt else None)
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
    ("min_markup", r"min(?:imum)?\.?\s+mark-?\s?up|mark-?\s?up\s+floor|mark-?\s?up", "pct"),
    ("min_margin", r"min(?:imum)?\.?\s+(?:profit\s+)?margin|margin\s+floor|(?:profit\s+)?margin", "pct"),
    ("max_change", r"max(?:imum)?\.?\s+(?:price\s+)?change|change\s+limit|price\s+change\s+limit|"
                   r"limit\s+(?:the\s+|my\s+)?(?:price\s+)?changes?", "pct"),
    ("map_price", r"\bmap\b|min(?:imum)?\s+advertised\s+price", "money"),
    ("ceiling", r"ceiling|max(?:imum)?\.?\s+price|price\s+cap|\bcap\b|\bgo\s+(?:above|over|higher\s+than)|"
                r"\b(?:never|not)\s+(?:above|over|more\s+than)", "money"),
    ("ending", r"price\s+endings?|endings?|\bend\s+(?:(?:prices|them|it)\s+)?(?:in|with)\b", "ending"),
]
_POLICY_RE = re.compile("|".join(f"(?P<{f}>{p})" for f, p, _ in _POLICY_WORDS), re.I)
_CLEAR = re.compile(r"\b(?:remove|clear|drop|delete|unset|no|without|disable|turn\s+off)\s+"
                    r"(?:the\s+|my\s+|a\s+|any\s+)?$", re.I)
_SET_VERB = re.compile(r"\b(?:set|change|make|use|update|put|keep|want|need|should|must|at\s+least|"
                       r"minimum|min|max|maximum|to|is|of|be)\b|[:=]", re.I)


def policy_slots(text: str) -> dict[str, Any]:
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
        amts = find_amounts(seg)
        if not amts and kind == "pct":   # "at least 20% margin": the percentage comes first
            amts = [a for a in find_amounts(before[-16:]) if a.percent]
        if not amts:
            continue
        a = amts[0]
        if kind == "pct" and not a.percent and abs(a.value) > 100:
            continue   # "margin at 1499": a price, not a percentage
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
    wants, price = apply_request(t)
    if wants:
        return Intent("apply", raw, price=price, ref=True)
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
        policy = policy_slots(rest) if not find_amounts(rest) else {}
        prices = [a for a in find_amounts(rest) if not a.percent]
        if prices:
            return Intent("what_if", raw, price=prices[0].value, currency=currency, cost=cost,
                          current_price=current)
        if policy:
            return Intent("set_policy", raw, policy=policy, cost=cost, currency=currency)
    policy = policy_slots(rest)
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



def product_ids_in(text: str) -> list[str]:
    """Tokens of `text` shaped like catalog ids (ASIN "B07JW9H4J1", ISBN-10), in order."""
    return _ASIN.findall(text or "")
