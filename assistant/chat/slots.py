"""Slots: the values a merchant's message carries, read by rules that are exact for them.

Use::

    from assistant.chat.slots import extract_slots
    s = extract_slots("B07PR1CL3S price pls, cost 900, im selling at 1499, should i drop it?",
                      is_product_id=lambda tok: tok if tok == "B07PR1CL3S" else None)
    s.product_id, s.cost, s.current_price          # "B07PR1CL3S", 900.0, 1499.0
    extract_slots("handmade brass diya lamp, cost 150 rupees").product_words   # "handmade brass diya lamp"

Works on English words (assistant.chat.lexicon glosses other languages first). Amounts are
assigned by the words around them: a cost cue ("my cost is", "I buy them for"), a current
price cue ("I sell at", "currently"), a percentage next to "margin" or "markup", a count of
units, a number of days; a price left over is the price asked about (a what-if). The product
is a catalog id found anywhere in the message, else the longest run of words that are not the
question's own words (question words, amounts and their cues, rule words), else a reference
to the product in context ("it", "this one").
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from assistant.chat.parsing import find_amounts, parse_amount, policy_slots

# An amount with its currency words on either side ("₹ 1,299", "150 rupees", "1499/-").
_AMT = (r"(?:[-−]\s*)?(?:₹|£|€|r\$|\$|rs\.?|inr|gbp|brl|usd|eur)?\s*[-−]?\d[\d,]*(?:\.\d+)?\s*k?\b"
        r"(?:\s*(?:rupees?|rs\b\.?|inr\b|dollars?|bucks|pounds?|euros?|reais|yuan)\b)?")
_LEAD = r"(?:(?:and|,|also|but)\s*)?"
_COST = re.compile(
    _LEAD + r"(?:(?:my|our|the|its|unit|per\s+unit|a|landed|landing|purchase|buying|wholesale|"
    r"procurement|sourcing)\s+)*cost(?:s|ing)?(?:\s+price)?(?:\s+(?:per|a|each)\s+(?:unit|piece|pc|item))?"
    r"(?:\s+(?:to\s+me|is|was|are|of|me|us|=|around|about|roughly|only|just|at|comes\s+to|like|now|"
    r"went\s+(?:up|down)\s+to|rose\s+to|fell\s+to|increased\s+to|changed\s+to|became|has\s+become))*"
    r"\s*[:=~]?\s*(?P<amt>" + _AMT + r")"
    r"|" + _LEAD + r"(?:(?:(?:i|we|i've|we've)\s+(?:have\s+)?(?:buy|source|purchase|pay)|"
    r"(?:(?:i|we|i've|we've)\s+(?:have\s+)?)?(?:bought|sourced|purchased|paid|made)))"
    r"\s+(?:it|them|these|this|one|each|the\s+\w+)?\s*(?:for|at|@)?\s*"
    r"(?P<amt2>" + _AMT + r")(?:\s+(?:each|per\s+(?:unit|piece)|a\s+piece))?"
    r"|" + _LEAD + r"(?P<amt3>" + _AMT + r")\s+(?:is\s+)?(?:(?:my|our|the)\s+)?(?:unit\s+)?cost\b"
    r"|(?:mark-?\s?up|margin|profit)\s+(?:on|over)\s+(?:a\s+cost\s+of\s+|cost\s+|my\s+cost\s+of\s+)?"
    r"(?P<amt4>" + _AMT + r")", re.I)
_CURRENT = re.compile(
    _LEAD + r"(?:(?:i|we|i'm|im|i\s+am|we're|we\s+are)\s+(?:currently\s+|now\s+|already\s+|right\s+now\s+)?"
    r"(?:sell|selling|sold|charge|charging|list|listed|listing|have\s+it)(?:\s+(?!at\b|@)[\w-]+){0,4}?\s*"
    r"(?:for|at|@)|(?:i'm|im|i\s+am|we're|we\s+are)\s+(?:currently\s+|now\s+)?at|current(?:ly)?\s+(?:selling\s+)?(?:price\s*(?:is|of)?|priced\s+at|at|selling\s+at|"
    r"sells?\s+(?:for|at)|listed\s+at|for)?|(?:my|our)\s+(?:current\s+|selling\s+|listing\s+|list\s+)?"
    r"price\s+(?:is\s+|=\s*|:\s*)?(?:now\s+)?|(?:it\s+)?(?:sells|is\s+selling|is\s+listed|is\s+priced)"
    r"\s+(?:for|at)|selling\s+price(?:\s+is)?|listed\s+at|priced\s+at|(?:it'?s|its)\s+(?:at|for))"
    r"\s*[:=]?\s*(?P<amt>" + _AMT + r")", re.I)
_IF_BEFORE = re.compile(r"\b(?:if|should|could|would|whether)\s+(?:\w+\s+){0,2}$", re.I)
_PCT_MARGIN = re.compile(
    r"(?P<a>\d+(?:\.\d+)?)\s*(?:%|percent\b|per\s?cent\b)\s*(?:\w+\s+){0,2}?(?P<kind>margin|markup|mark-up|"
    r"mark\s+up|profit|over\s+cost|above\s+cost|on\s+cost|on\s+top)"
    r"|(?P<kind2>margin|markup|mark-up|mark\s+up)\s+(?:\w+\s+){0,3}?(?P<b>\d+(?:\.\d+)?)\s*(?:%|percent\b|per\s?cent\b)",
    re.I)
_UNITS = r"(?:units?|pieces?|pcs|items?|nos|qty|pairs?|boxes|packs?)"
_STOCK = re.compile(
    r"(?P<a>\d[\d,]*)\s*(?:" + _UNITS + r")(?:\s+(?:in\s+stock|left|of\s+stock|lying))?"
    r"|(?:stock|inventory)\s+(?:of|is|=|:)?\s*(?P<b>\d[\d,]*)"
    r"|(?P<c>\d[\d,]*)\s+(?:in\s+stock|left\s+in\s+stock|left)"
    r"|(?:clear|liquidate|get\s+rid\s+of)\s+(?:(?:all|the|my|these|those|off)\s+)*(?P<d>\d[\d,]*)\b"
    r"|(?:i|we)\s+(?:still\s+)?have\s+(?P<e>\d[\d,]*)\b", re.I)
_DAYS = re.compile(
    r"(?:(?P<n>\d+)\s*|\b(?P<w>a|an|one|two|three|four)\s+)(?P<u>days?\b|weeks?\b|wks?\b|months?\b|fortnight\b)"
    r"|(?P<this>this|next|end\s+of\s+(?:the\s+)?)\s*(?P<u2>week|month)", re.I)
_WORD_NUM = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4}
_REF = re.compile(r"\b(?:it|this|that|these|those|this\s+one|that\s+one|the\s+same(?:\s+one)?|"
                  r"same\s+(?:one|product|item)|(?:the|this|that)\s+(?:product|item))\b", re.I)
_ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
             "fifth": 5, "5th": 5, "last": -1}
_CHOICE = re.compile(
    r"^\s*(?:(?:ok|okay|yes|yeah|i\s+mean|i\s+meant|take|pick|go\s+with|choose|select|number|option|no\.?|#)"
    r"[\s,:.]*)*(?:the\s+)?(?P<n>[1-9]|first|second|third|fourth|fifth|last|1st|2nd|3rd|4th|5th)"
    r"(?:\s+(?:one|option|product|item))?(?:\s+(?:please|pls|one))?\s*[.!)]*\s*$", re.I)
_NEW = re.compile(r"^\s*(?:no[,.]?\s+)?(?:new|none|none of (?:these|them|those)|it'?s (?:a )?new(?: (?:one|product))?|"
                  r"a new (?:one|product)|new product|neither|no(?:ne)? of (?:these|them)|not (?:in )?(?:the )?list|"
                  r"not (?:any|one) of (?:these|them|those))\s*[.!]*\s*$", re.I)
_ASIN = re.compile(r"\b(?:B0[0-9A-Z]{8}|\d{9}[0-9X])\b")
_TOKEN = re.compile(r"[\w][\w'’&+./-]*[\w]|[\w]", re.UNICODE)

# Words of the question, never of the product. Kept small and generic; typos of these are
# corrected by assistant.chat.understanding before extraction.
QUESTION_WORDS = frozenset("""
a an the my our your me us i we you it its it's this that these those them they he she one ones some any
is are was were be been being am do does did done doing have has had having will would shall should can could
may might must to of for on in at by with from as about into over under per each than then so too very
and or but if also just only please pls plz kindly thanks thank thx ok okay yes yeah no not now currently
right today again still already even really actually maybe approx approximately around roughly about
what whats what's which who whom whose why how when where much many
price prices priced pricing cost costs costing charge charging charged sell selling sold sale sales list listed
listing rate mrp value worth quote quoted suggest suggestion suggested recommend recommendation recommended
give tell show find get need want know set keep make put use go going idea ideal good best fair right correct
optimal optimum proper new product products item items thing stuff unit units piece pieces pcs
margin margins markup mark-up profit profits percent percentage rupees rupee rs inr dollars dollar usd
bucks euro euros eur pounds pound gbp reais yuan currency money budget
should've i'm im i've we're would've let let's lets help
what-if whatif happen happens happened
drop lower reduce cut raise increase higher decrease discount
competitor competitors competition rivals rival comparable comparables similar
break breakeven even
stock inventory clear days day weeks week month months
lowest highest minimum maximum min max least most cheapest cheaper dearest more less enough
first second third fourth fifth last next previous other another option number
gives stop losing lose loss money gone try undercuts undercut sellers seller shops shop stores store compare
compared moves move volume fastest decent sensible earn everything anything anybody anyone someone nobody
customers launch launching thinking like instead actually guess suppose says brand rule rules
i'd i'll we'd we'll you'd expensive cheap high low pricey costly overpriced underpriced
work works working sound sounds look looks fine better worse okay alright enough
hey hi hello bro sir madam dear friend
""".split())
CONNECTORS = frozenset("of for with and & + - / in x by".split())
# Question words that also name products ("a set of 6", "a pack of 2"): kept next to product words.
PRODUCT_NOUNS = frozenset("set sets pack packs kit combo pair pairs box bundle piece pieces".split())


@dataclass
class Slots:
    """What one message carries. Percentages are fractions (0.3 = 30 %)."""

    cost: float | None = None
    current_price: float | None = None
    price: float | None = None            # a price asked about (what-if), not a cost or current price
    prices: list[float] = field(default_factory=list)   # every such price, in order
    currency: str | None = None
    margin: float | None = None           # a margin target, (price − cost) / price
    markup: float | None = None           # a markup target, (price − cost) / cost
    stock: float | None = None            # units to clear
    days: float | None = None             # within so many days
    policy: dict[str, Any] = field(default_factory=dict)
    product_id: str | None = None         # a catalog id named anywhere in the message
    product_words: str = ""               # the words describing a product, question words stripped
    ref: bool = False                     # "it", "this one": the product in context
    choice: int | None = None             # a pick from a list: 1-based, -1 = the last
    new_product: bool = False             # "none of these"
    spans: list[tuple[int, int]] = field(default_factory=list)   # characters the slots used


def tidy(text: str) -> str:
    """Currency glued to numbers ("Rs900", "900rs", "1499/-") spaced out, so amounts are seen."""
    t = re.sub(r"(?i)\b(rs\.?|inr)(?=\d)", r"\1 ", text)
    t = re.sub(r"(?i)(?<=\d)(rs\b\.?|inr\b|rupees?\b|k\b(?=\s*(?:rupees|rs)))", r" \1", t)
    return re.sub(r"(?<=\d)/-", "", t)


def _days(m: re.Match[str]) -> float:
    if m.group("u2"):
        return 7.0 if m.group("u2").lower() == "week" else 30.0
    k = float(m.group("n")) if m.group("n") else float(_WORD_NUM[m.group("w").lower()])
    u = m.group("u").lower()
    if u.startswith("w"):
        return 7 * k
    if u.startswith("m"):
        return 30 * k
    if u.startswith("f"):
        return 14 * k
    return k


def _number(s: str) -> float:
    return float(s.replace(",", ""))


def _free(spans: list[tuple[int, int]], s: int, e: int) -> bool:
    return all(e <= a or s >= b for a, b in spans)


def product_words(text: str, keep: Callable[[str], bool] | None = None) -> str:
    """The longest run of product words in `text` (connectors allowed inside a run).

    keep(word) -> True marks a question word that is a product word here (e.g. "set" in
    "dinner set" when the catalog knows it): only used inside a run, never to start one.
    """
    toks = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]
    runs: list[list[tuple[str, int, int]]] = []
    cur: list[tuple[str, int, int]] = []
    for tok, s, e in toks:
        low = tok.lower()
        content = (low not in QUESTION_WORDS and low not in CONNECTORS and not re.fullmatch(r"[\d.,]+%?", low))
        inner = cur and (low in CONNECTORS or low in PRODUCT_NOUNS or re.fullmatch(r"\d[\d.,]*", low) is not None
                         or (keep is not None and low in QUESTION_WORDS and keep(low)))
        gap = cur and text[cur[-1][2]:s].strip(" -") not in ("",)  # punctuation breaks a run
        if content and not gap:
            cur.append((tok, s, e))
        elif inner and not gap:
            cur.append((tok, s, e))
        else:
            if cur:
                runs.append(cur)
            cur = [(tok, s, e)] if content else []
    if cur:
        runs.append(cur)
    best: list[tuple[str, int, int]] = []
    for run in runs:
        while run and (run[-1][0].lower() in CONNECTORS or
                       (run[-1][0].lower() in QUESTION_WORDS and run[-1][0].lower() not in PRODUCT_NOUNS)):
            run = run[:-1]
        n_content = sum(1 for t, _, _ in run if t.lower() not in CONNECTORS)
        if n_content > sum(1 for t, _, _ in best if t.lower() not in CONNECTORS):
            best = run
    if not best:
        return ""
    # extend to the left over numbers, connectors and product words the catalog knows
    # ("set of 4 terracotta planters"), never over a punctuation break
    pos = [t for t in toks]
    i = pos.index(best[0])
    start = i
    while i > 0:
        tok, s, e = pos[i - 1]
        low = tok.lower()
        if text[e:pos[i][1]].strip(" -"):
            break
        if low in CONNECTORS or re.fullmatch(r"\d[\d.,]*", low) or low in PRODUCT_NOUNS:
            i -= 1
            if not (low in CONNECTORS or low.isdigit()):
                start = i
        else:
            break
    first = pos[start] if start < pos.index(best[0]) else best[0]
    best = text[first[1]:best[-1][2]]
    return best.strip(" ,.-")


def extract_slots(text: str, is_product_id: Callable[[str], str | None] | None = None,
                  extra_ids: Iterable[str] = (), vocabulary: frozenset[str] | set[str] = frozenset()) -> Slots:
    """Every slot of `text` (English words). is_product_id(token) -> the catalog id or None;
    vocabulary: the catalog's words (a question word there may be a product word: "dinner set")."""
    t = tidy(text or "")
    out = Slots()
    spans: list[tuple[int, int]] = []
    amounts = find_amounts(t)
    out.currency = next((a.currency for a in amounts if a.currency), None)

    # a catalog id anywhere ("watches1", "B07PR1CL3S"); checked against the catalog when it can be
    for m in _TOKEN.finditer(t):
        tok = m.group().strip(".,")
        pid = is_product_id(tok) if is_product_id is not None else None
        if pid is None and _ASIN.fullmatch(tok):
            pid = tok
        if pid is None and tok in set(extra_ids):
            pid = tok
        if pid is not None:
            out.product_id = pid
            spans.append((m.start(), m.start() + len(tok)))
            break

    for m in _COST.finditer(t):
        g = next(k for k in ("amt", "amt2", "amt3", "amt4") if m.group(k))
        if not _free(spans, *m.span(g)):
            continue
        out.cost = parse_amount(m.group(g))
        spans.append(m.span())
    for m in _CURRENT.finditer(t):
        if not _free(spans, *m.span("amt")):
            continue
        if _IF_BEFORE.search(t[max(0, m.start() - 24):m.start()]) or re.match(r"\s*if\b", m.group(), re.I):
            continue   # "what if I sell it at 199": the price asked about, not today's price
        out.current_price = parse_amount(m.group("amt"))
        spans.append(m.span())
    out.policy = policy_slots(_strip(t, spans))   # rules may name a margin too: read them first
    for m in _PCT_MARGIN.finditer(t):
        val = m.group("a") or m.group("b")
        if val is None or not _free(spans, *m.span("a" if m.group("a") else "b")):
            continue
        kind = (m.group("kind") or m.group("kind2") or "").lower()
        frac = float(val) / 100 if float(val) >= 1 or "%" in m.group() else float(val)
        if kind.startswith("mark") or "cost" in kind or "top" in kind:
            out.markup = frac
        else:
            out.margin = frac
        spans.append(m.span())
    for m in _DAYS.finditer(t):
        if _free(spans, *m.span()):
            out.days = _days(m)
            spans.append(m.span())
            break
    for m in _STOCK.finditer(t):
        g = next(k for k in "abcde" if m.group(k))
        if _free(spans, *m.span(g)):
            out.stock = _number(m.group(g))
            spans.append(m.span(g))
            break
    for a in amounts:
        if a.percent or not _free(spans, a.start, a.end):
            continue
        if a.currency is None and (_model_number(t, a.start) or _quantity(t, a.start, a.end)):
            continue   # "Rockerz 450", "set of 4 planters": part of the product's name, not a price
        out.prices.append(a.value)
        spans.append((a.start, a.end))
    out.price = out.prices[0] if out.prices else None

    m = _CHOICE.match(t)
    if m:
        n = m.group("n").lower()
        out.choice = int(n) if n.isdigit() else _ORDINALS[n]
    else:
        for w, n in _ORDINALS.items():
            if re.search(rf"\b(?:the\s+)?{w}\s+(?:one|option|product|item|choice)\b", t, re.I):
                out.choice = n
                break
    out.new_product = bool(_NEW.match(t))
    rest = _strip(t, spans)
    out.product_words = product_words(rest, keep=vocabulary.__contains__ if vocabulary else None)
    out.ref = bool(_REF.search(rest)) and not out.product_words
    out.spans = spans
    return out


_PRICE_CUE = re.compile(r"(?:at|for|to|charge|charging|sell|selling|price|priced|is|of|@|=|:|about|"
                        r"around|instead|try|with|than|not|under|over|below|above|and|or|if|list|set|put|"
                        r"go|pay|costs?|₹|rs\.?|\$|€|£)\s*$", re.I)


def _model_number(text: str, start: int) -> bool:
    """A number right after a product word (not after a price cue): "Rockerz 450", "iPhone 13"."""
    head = text[:start]
    if _PRICE_CUE.search(head):
        return False
    m = re.search(r"([^\W\d_][\w'-]*)\s*$", head)
    return bool(m) and m.group(1).lower() not in QUESTION_WORDS and m.group(1).lower() not in CONNECTORS


def _quantity(text: str, start: int, end: int) -> bool:
    """A count right before a product word: "set of 4 terracotta planters", "a 5 litre cooker";
    or the count of a set: "tea cups set of 6"."""
    if re.search(r"\b(?:set|pack|box|pair|combo|kit|bundle)s?\s+of\s+$", text[:start], re.I):
        return True
    if not re.search(r"(?:^|\b(?:of|a|an|for|with)\s+)$", text[:start], re.I):
        return False
    m = re.match(r"\s*([^\W\d_][\w'-]*)", text[end:])
    return bool(m) and m.group(1).lower() not in QUESTION_WORDS and m.group(1).lower() not in CONNECTORS


def _strip(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with the spans blanked out (same length elsewhere: positions stay valid)."""
    chars = list(text)
    for s, e in spans:
        for i in range(s, min(e, len(chars))):
            chars[i] = " " if chars[i] != "," else ","
        if s < len(chars):
            chars[s] = ","   # a removed slot breaks a run of product words
    return "".join(chars)
