"""Fact sheets: every number an explanation may mention, computed in code.

Use:
    from assistant.facts import build_fact_sheet
    sheet = build_fact_sheet(recommended_price=899, currency="INR", interval=(820, 960),
                             current_price=999, category_median=1024.5, competitor_prices=[949, 1010])
    print(sheet.render_for_prompt())      # "{recommended_price}: ₹899.00" ... one line per fact
    sheet["vs_category_median_pct"].direction   # "below"

The LLM never computes anything: percent differences and their directions ("below",
"above", "equal") are worked out here, and the verifier (assistant.verify) checks the
model's wording against these facts.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from assistant.suggestion import Suggestion

FactKind = Literal["price", "percent", "count", "text"]
Direction = Literal["below", "above", "equal"]

# Symbols for the currencies of the bundled data sets; any other ISO code is written as a
# prefix ("CAD 12.00"). One convention for all (comma thousands, dot decimals) keeps the
# verifier's number parser simple, including for BRL.
CURRENCY_SYMBOLS: dict[str, str] = {"INR": "₹", "GBP": "£", "BRL": "R$", "USD": "$", "EUR": "€"}

_PRODUCT_NOUNS = ("product", "products", "item", "items", "listing", "listings")
_FACT_ID = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Fact:
    """One checked piece of evidence.

    value: a float for price/percent/count facts, a str for text facts. Comparison facts are
    signed (-12.3 means 12.3 % below) and carry `direction`; they are shown as a magnitude
    because the direction is put into words ("12.3% below").
    subject/reference: for comparisons, the fact ids being compared (subject vs reference),
    so the verifier can tell which pair a sentence talks about.
    names: phrases a sentence may use to refer to this fact without its number
    ("category median"), used by the verifier for direction checks.
    nouns: for counts, words one of which must follow the number ("12 comparable products"),
    so a bare count cannot be passed off as something else.
    phrase: a correct way to say the fact with placeholders, shown to the model to copy
    ("{vs_category_median_pct} below the category median of {category_median}").
    """

    id: str
    value: float | str
    kind: FactKind
    currency: str | None = None
    unit: str | None = None
    direction: Direction | None = None
    subject: str | None = None
    reference: str | None = None
    label: str = ""
    names: tuple[str, ...] = ()
    nouns: tuple[str, ...] = ()
    phrase: str = ""

    def __post_init__(self) -> None:
        if not _FACT_ID.match(self.id):
            raise ValueError(f"fact id {self.id!r}: use lower_snake_case")
        if self.kind == "text":
            if not isinstance(self.value, str):
                raise ValueError(f"fact {self.id!r}: text fact needs a str value")
        else:
            if isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
                raise ValueError(f"fact {self.id!r}: {self.kind} fact needs a number, got {self.value!r}")
            if not math.isfinite(float(self.value)):
                raise ValueError(f"fact {self.id!r}: value must be finite, got {self.value!r}")
        if self.direction is not None and self.direction not in ("below", "above", "equal"):
            raise ValueError(f"fact {self.id!r}: direction must be below/above/equal")

    @property
    def number(self) -> float | None:
        """The magnitude a text would write (comparisons are written unsigned)."""
        if self.kind == "text":
            return None
        v = float(self.value)  # type: ignore[arg-type]
        return abs(v) if self.direction is not None else v

    def format(self) -> str:
        """The value as it appears in an explanation: ₹1,299.00, 12.3%, 37, or the text."""
        if self.kind == "text":
            return str(self.value)
        v = self.number
        assert v is not None
        if self.kind == "price":
            return format_money(v, self.currency)
        if self.kind == "percent":
            return f"{v:,.1f}%"
        return f"{v:,.0f}" + (f" {self.unit}" if self.unit else "")


def format_money(value: float, currency: str | None) -> str:
    """₹1,299.00 / R$12.50 / CAD 3.00 / 3.00 (no currency)."""
    sign = "-" if value < 0 else ""
    body = f"{abs(value):,.2f}"
    if not currency:
        return sign + body
    sym = CURRENCY_SYMBOLS.get(currency.upper())
    return f"{sign}{sym}{body}" if sym else f"{sign}{currency.upper()} {body}"


@dataclass
class FactSheet:
    """Ordered facts with unique ids."""

    facts: list[Fact] = field(default_factory=list)
    currency: str | None = None

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for f in self.facts:
            if f.id in seen:
                raise ValueError(f"duplicate fact id {f.id!r}")
            seen.add(f.id)

    def add(self, fact: Fact) -> Fact:
        if fact.id in self:
            raise ValueError(f"duplicate fact id {fact.id!r}")
        self.facts.append(fact)
        return fact

    def get(self, fact_id: str) -> Fact | None:
        for f in self.facts:
            if f.id == fact_id:
                return f
        return None

    def __getitem__(self, fact_id: str) -> Fact:
        f = self.get(fact_id)
        if f is None:
            raise KeyError(f"no fact {fact_id!r}; have {self.ids()}")
        return f

    def __contains__(self, fact_id: object) -> bool:
        return any(f.id == fact_id for f in self.facts)

    def __iter__(self) -> Iterator[Fact]:
        return iter(self.facts)

    def __len__(self) -> int:
        return len(self.facts)

    def ids(self) -> list[str]:
        return [f.id for f in self.facts]

    def render_for_prompt(self, sanitize: Callable[[str], str] | None = None,
                          ids: Sequence[str] | None = None) -> str:
        """One `{fact_id}: value` line per fact, with a phrase to copy or a note in words.

        sanitize: applied to text-fact values (they may come from product data, which is
        untrusted), e.g. prompts.quote_untrusted. ids: which facts, in which order (default all).
        """
        lines = []
        for f in (self.facts if ids is None else [self[i] for i in ids]):
            value = f.format()
            if f.kind == "text" and sanitize is not None:
                value = '"' + sanitize(value) + '"'
            line = f"{{{f.id}}}: {value}"
            note = _describe(f, self)
            if f.phrase:  # the phrase already says it; short prompts suit a small model
                line += f'  say: "{f.phrase}"'
            elif note:
                line += f"  ({note})"
            lines.append(line)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, float | str]:
        return {f.id: f.value for f in self.facts}


def _describe(f: Fact, sheet: FactSheet) -> str:
    if f.direction is not None and f.subject and f.reference:
        subj = _plain(sheet.get(f.subject), f.subject)
        ref = _plain(sheet.get(f.reference), f.reference)
        rel = {"below": "below", "above": "above", "equal": "equal to"}[f.direction]
        return f"{subj} is {rel} {ref}"
    return f.label


def _plain(f: Fact | None, fallback: str) -> str:
    return f.label if f is not None and f.label else fallback.replace("_", " ")


def pct_diff(subject: float, reference: float) -> tuple[float, Direction]:
    """Percent difference of subject vs reference, rounded to 0.1, and its direction.

    The direction is taken from the rounded value so a text can never say "0.0% below".
    """
    if reference == 0:
        raise ValueError("cannot compare against a reference of 0")
    pct = round((subject - reference) / abs(reference) * 100.0, 1)
    if pct == 0:
        return 0.0, "equal"
    return pct, ("below" if pct < 0 else "above")


def _direction(delta: float) -> Direction:
    return "equal" if round(delta, 2) == 0 else ("below" if delta < 0 else "above")


def finite_number(name: str, value: float | None) -> float | None:
    """``value`` as a finite float (None stays None); a clear error naming ``name`` otherwise."""
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    return v


def _count(name: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or int(value) != value or value < 0:
        raise ValueError(f"{name}: expected a non-negative integer, got {value!r}")
    return int(value)


def _competitor_stats(
    prices_in: Iterable[float] | None,
    cheapest: float | None,
    median: float | None,
    count: int | None,
) -> tuple[float | None, float | None, int | None]:
    if prices_in is None:
        lo = finite_number("cheapest_competitor", cheapest)
        md = finite_number("competitor_median", median)
        for name, v in (("cheapest_competitor", lo), ("competitor_median", md)):
            if v is not None and v <= 0:
                raise ValueError(f"{name}: must be > 0, got {v}")
        return lo, md, _count("competitor_count", count)
    if cheapest is not None or median is not None:
        raise ValueError("pass competitor_prices or cheapest_competitor/competitor_median, not both")
    prices = [finite_number(f"competitor_prices[{i}]", p) for i, p in enumerate(prices_in)]
    bad = [p for p in prices if p is None or p <= 0]
    if bad:
        raise ValueError(f"competitor_prices: prices must be numbers > 0, got {bad}")
    if not prices:
        return None, None, 0
    srt = sorted(p for p in prices if p is not None)
    n = len(srt)
    # A median of one or two offers says nothing the cheapest does not.
    md = (srt[n // 2] if n % 2 else (srt[n // 2 - 1] + srt[n // 2]) / 2) if n >= 3 else None
    return srt[0], md, n


def shares_of(effects: Sequence[float]) -> list[float]:
    """Each effect's share of the total movement, in % with one decimal, adding up to exactly
    100.0 (largest remainders get the rounding), so a text can say "62.5% of the movement"."""
    total = sum(abs(e) for e in effects)
    if total == 0:
        return [0.0 for _ in effects]
    raw = [abs(e) / total * 1000 for e in effects]  # in tenths of a percent
    floors = [math.floor(r) for r in raw]
    for j in sorted(range(len(raw)), key=lambda j: floors[j] - raw[j])[: 1000 - sum(floors)]:
        floors[j] += 1
    return [f / 10 for f in floors]


def waterfall(final_price: float, effects_pct: Sequence[float]) -> tuple[float, list[float]]:
    """(base, steps): a waterfall from the model's baseline price to ``final_price``.

    effects_pct: each driver's effect as a % change of the price (Shapley values of the log
    price, so they compound: final = base x prod(1 + e/100)). The steps are applied in order,
    each in currency units on the running price, rounded so that base + sum(steps) equals
    ``final_price`` to the cent: the drivers shown add up.
    """
    logs = [math.log1p(max(float(e), -99.99) / 100.0) for e in effects_pct]
    base = float(final_price) / math.exp(sum(logs))
    running, prev, steps = 0.0, round(base, 2), []
    for j, d in enumerate(logs):
        running += d
        cur = round(final_price, 2) if j == len(logs) - 1 else round(base * math.exp(running), 2)
        steps.append(round(cur - prev, 2))
        prev = cur
    return round(base, 2), steps


def build_fact_sheet(
    *,
    recommended_price: float,
    currency: str | None,
    interval: tuple[float, float] | None = None,
    current_price: float | None = None,
    category_median: float | None = None,
    category_name: str | None = None,
    category_count: int | None = None,
    competitor_prices: Iterable[float] | None = None,
    cheapest_competitor_name: str | None = None,
    cheapest_competitor: float | None = None,
    competitor_median: float | None = None,
    competitor_count: int | None = None,
    comparables_count: int | None = None,
    drivers: Sequence[tuple[str, float]] = (),
    driver_base: float | None = None,
    guardrails: Sequence[str] = (),
    cost: float | None = None,
    product_title: str | None = None,
    category_scope: Literal["category", "all"] = "category",
) -> FactSheet:
    """Build the fact sheet for one suggestion from plain numbers.

    interval: (low, high) of the recommended price. competitor_prices: current competitor
    offers for this product (the cheapest and, from 3 offers, the median become facts); or
    pass cheapest_competitor / competitor_median / competitor_count directly. drivers: (label,
    effect in currency units) for what moved the model most, signed (+ raises the price).
    driver_base: the price the drivers start from (the model's price for an average product);
    given, the drivers are the steps of a waterfall, base + signed effects = model price, and
    each also gets its share of the whole movement (``driver_i_share``, adding up to 100%).
    guardrails: plain-language names of the guardrails that changed the price, in order.
    category_scope: "all" when the category statistics are over all products (the back-off
    found no category with enough prices): the median is then never called a category median.
    Every comparison (percent and direction) is computed here.
    """
    rec = finite_number("recommended_price", recommended_price)
    assert rec is not None
    if rec <= 0:
        raise ValueError(f"recommended_price: must be > 0, got {recommended_price!r}")
    cur = currency.upper() if currency else None
    sheet = FactSheet(currency=cur)

    def price(fid: str, v: float, label: str, names: tuple[str, ...] = ()) -> Fact:
        return sheet.add(Fact(fid, round(v, 2), "price", currency=cur, label=label, names=names))

    def compare(fid: str, subject: str, reference: str, ref_words: str) -> None:
        pct, d = pct_diff(float(sheet[subject].value), float(sheet[reference].value))
        phrase = (f"the same as {ref_words} {{{reference}}}" if d == "equal"
                  else f"{{{fid}}} {d} {ref_words} {{{reference}}}")
        sheet.add(Fact(fid, pct, "percent", direction=d, subject=subject, reference=reference,
                       label=f"{subject} vs {reference}", phrase=phrase))

    price("recommended_price", rec, "recommended price",
          ("recommended price", "suggested price", "recommendation", "our price", "new price"))
    if interval is not None:
        lo = finite_number("interval low", interval[0])
        hi = finite_number("interval high", interval[1])
        assert lo is not None and hi is not None
        if not lo <= hi:
            raise ValueError(f"interval: low {lo} is above high {hi}")
        sheet.add(Fact("interval_low", round(lo, 2), "price", currency=cur,
                       label="low end of the likely price range",
                       phrase="a likely range of {interval_low} to {interval_high}"))
        price("interval_high", hi, "high end of the likely price range")
    cp = finite_number("current_price", current_price)
    if cp is not None and cp > 0:
        price("current_price", cp, "current price", ("current price", "your price", "today's price",
                                                    "existing price", "present price"))
        compare("change_pct", "recommended_price", "current_price", "the current price of")
        delta = round(rec, 2) - round(cp, 2)
        sheet.add(Fact("change_amount", round(abs(delta), 2), "price", currency=cur,
                       direction=_direction(delta), subject="recommended_price",
                       reference="current_price", label="change from the current price",
                       phrase=("" if delta == 0 else f"{{change_amount}} {_direction(delta)} the current "
                               "price of {current_price}")))
    if category_scope not in ("category", "all"):
        raise ValueError(f"category_scope: expected 'category' or 'all', got {category_scope!r}")
    whole = category_scope == "all"
    med = finite_number("category_median", category_median)
    if med is not None and med > 0:
        if whole:  # the median of every priced product: never a "category median"
            price("category_median", med, "median price over all products",
                  ("catalog-wide median", "catalog median", "median of all products", "overall median", "median price",
                   "median", "typical price"))
        else:
            price("category_median", med, "median price in the category",
                  ("category median", "median price", "median", "typical price", "category average"))
        compare("vs_category_median_pct", "recommended_price", "category_median",
                "the catalog-wide median of" if whole else "the category median of")
    if category_name and not whole:
        sheet.add(Fact("category_name", str(category_name), "text", label="category"))
    n_cat = _count("category_count", category_count)
    if n_cat is not None:
        sheet.add(Fact("category_count", n_cat, "count",
                       label="priced products in the catalog" if whole else "products in the category",
                       nouns=_PRODUCT_NOUNS, phrase="{category_count} products in the catalog" if whole
                       else "{category_count} products in the category"))
    cheapest, comp_median, n_offers = _competitor_stats(
        competitor_prices, cheapest_competitor, competitor_median, competitor_count)
    if n_offers is not None:
        sheet.add(Fact("competitor_count", n_offers, "count", label="competitor offers",
                       nouns=("competitor", "competitors", "offer", "offers", "seller", "sellers",
                              "rival", "rivals", "store", "stores", "shop", "shops"),
                       phrase="{competitor_count} competitor offers"))
    if cheapest is not None:
        price("cheapest_competitor", cheapest, "cheapest competitor offer",
              ("cheapest competitor", "lowest competitor", "cheapest offer", "lowest offer",
               "cheapest rival"))
        compare("vs_cheapest_competitor_pct", "recommended_price", "cheapest_competitor",
                "the cheapest competitor offer of")
        if cheapest_competitor_name:
            sheet.add(Fact("cheapest_competitor_name", str(cheapest_competitor_name), "text",
                           label="cheapest competitor"))
    if comp_median is not None:
        price("competitor_median", comp_median, "median competitor offer",
              ("competitor median", "median competitor", "median offer", "typical competitor"))
        compare("vs_competitor_median_pct", "recommended_price", "competitor_median",
                "the median competitor offer of")
    n_comp = _count("comparables_count", comparables_count)
    if n_comp is not None:
        sheet.add(Fact("comparables_count", n_comp, "count", label="comparable products used",
                       nouns=("comparable", "comparables", "similar") + _PRODUCT_NOUNS,
                       phrase="{comparables_count} comparable products"))
    c = finite_number("cost", cost)
    if c is not None and c > 0:
        price("cost", c, "unit cost", ("unit cost", "cost", "cost price"))
        margin = round((rec - c) / rec * 100.0, 1)
        sheet.add(Fact("margin_pct", margin, "percent", label="margin on cost at the recommended price",
                       phrase="a margin of {margin_pct} on the unit cost of {cost}"))
    effects = []
    for i, (label, effect) in enumerate(drivers, start=1):
        e = finite_number(f"drivers[{i - 1}] effect", effect)
        assert e is not None
        if not str(label).strip():
            raise ValueError(f"drivers[{i - 1}]: empty label")
        effects.append(round(e, 2))
        sheet.add(Fact(f"driver_{i}", str(label), "text", label=f"factor #{i} behind the price"))
        sheet.add(Fact(f"driver_{i}_effect", round(abs(e), 2), "price", currency=cur,
                       direction=_direction(e), label=f"how much factor #{i} moved the price "
                       + ("up" if e > 0 else "down" if e < 0 else "(not at all)"),
                       phrase="" if e == 0 else f"{{driver_{i}}} moved the price "
                       f"{'up' if e > 0 else 'down'} by {{driver_{i}_effect}}"))
    base = finite_number("driver_base", driver_base)
    if base is not None and effects:
        if base <= 0:
            raise ValueError(f"driver_base: must be > 0, got {driver_base!r}")
        price("driver_base", base, "the model's price for an average product, where the factors start",
              ("baseline", "base price", "starting price", "average product"))
        for i, share in enumerate(shares_of(effects), start=1):
            sheet.add(Fact(f"driver_{i}_share", share, "percent",
                           label=f"factor #{i}'s share of the whole movement from the baseline",
                           phrase=f"{{driver_{i}_share}} of the movement"))
    for i, g in enumerate(guardrails, start=1):
        if not str(g).strip():
            raise ValueError(f"guardrails[{i - 1}]: empty name")
        sheet.add(Fact(f"guardrail_{i}", str(g), "text", label="guardrail that changed the price"))
    if product_title:
        sheet.add(Fact("product_title", str(product_title), "text", label="product title"))
    return sheet


# ------------------------------------------------------------------ one sheet per suggestion
DRIVER_LABELS = {
    "text": "the product text", "reviews": "the reviews", "category": "the category prices",
    "brand": "the brand's prices", "competitors": "competitor offers",
    "attributes": "rating and rating count",
    "neighbours": "the prices of similar products",
}
RULE_WORDS = {"floor": "cost floor", "map": "minimum advertised price (MAP)", "ceiling": "price ceiling",
              "max_change": "maximum change", "max_above_cheapest": "competitor cap",
              "ending": "price ending", "rounding": "rounding", "positive": "minimum price"}


def text_fact(sheet: FactSheet, fid: str, value: Any) -> str:
    """Add a text fact; return its ``{placeholder}``."""
    sheet.add(Fact(fid, str(value), "text"))
    return "{" + fid + "}"


def price_fact(sheet: FactSheet, fid: str, value: float, label: str = "") -> str:
    """Add a price fact in the sheet's currency; return its ``{placeholder}``."""
    sheet.add(Fact(fid, round(float(value), 2), "price", currency=sheet.currency, label=label))
    return "{" + fid + "}"


def pct_fact(sheet: FactSheet, fid: str, value: float, label: str = "") -> str:
    """Add a percentage fact; return its ``{placeholder}``."""
    sheet.add(Fact(fid, round(float(value), 1), "percent", label=label))
    return "{" + fid + "}"


def compare_fact(sheet: FactSheet, fid: str, subject: str, reference: str) -> str:
    """Add the comparison fact ``subject`` vs ``reference``; return its direction."""
    pct, d = pct_diff(float(sheet[subject].value), float(sheet[reference].value))
    sheet.add(Fact(fid, pct, "percent", direction=d, subject=subject, reference=reference,
                   label=f"{subject} vs {reference}"))
    return d


def suggestion_fact_sheet(s: Suggestion, *, cost: float | None = None,
                          in_catalog: bool | None = None) -> FactSheet:
    """Every number a text about suggestion ``s`` may show, as facts: the one builder that the
    service's explanation, the chat's replies and the explainer share.

    cost: the unit cost the merchant gave (adds cost and margin facts). in_catalog: whether
    ``s`` is for a catalog product (default: it has a product id). Every driver that moved the
    price by at least 1% becomes a fact, strongest first; which of them a prompt shows is the
    explainer's choice (:func:`assistant.explain.prompt_fact_ids`).
    """
    ev = s.evidence
    cheapest = min(ev.competitors, key=lambda c: c.price, default=None)
    # The drivers as a waterfall from the model's baseline to its price: the ones that moved
    # it by 1% or more each get a step, strongest first; the rest together are "other factors".
    drivers: list[tuple[str, float]] = []
    base = None
    if ev.drivers:
        big = [d for d in ev.drivers if abs(d.effect_pct) >= 1]
        small = [d for d in ev.drivers if abs(d.effect_pct) < 1]
        rest = math.expm1(sum(math.log1p(max(d.effect_pct, -99.99) / 100) for d in small)) * 100
        pcts = [d.effect_pct for d in big] + ([rest] if small else [])
        base, steps_ = waterfall(s.model_price, pcts)
        labels = [DRIVER_LABELS.get(d.group, d.group.replace("_", " ")) for d in big] + ["other factors"]
        drivers = [(lab, e) for lab, e in zip(labels, steps_) if round(e, 2) != 0]
        if not drivers:
            base = None
    cat = ev.category
    cat_name = None
    whole = cat is not None and (cat.level == 0 or cat.name == "all products")
    if cat is not None and cat.name and cat.name != "(unknown)" and not whole:
        # the level the statistics come from after back-off, not necessarily the leaf
        cat_name = cat.name.split(" > ")[-1]
    steps = [g for g in s.guardrails if g.rule != "rounding"]
    sheet = build_fact_sheet(
        recommended_price=s.recommended_price, currency=s.currency,
        interval=(s.interval.low, s.interval.high), current_price=s.current_price,
        category_median=cat.median if cat else None, category_name=cat_name,
        category_count=cat.n if cat and cat.median else None,
        competitor_prices=[c.price for c in ev.competitors] or None,
        cheapest_competitor_name=cheapest.competitor if cheapest else None,
        comparables_count=len(ev.comparables), drivers=drivers, driver_base=base,
        guardrails=[RULE_WORDS.get(g.rule, g.rule.replace("_", " ")) for g in steps],
        cost=cost, product_title=s.title, category_scope="all" if whole else "category")
    sheet.add(Fact("interval_coverage", round(s.interval.coverage * 100, 1), "percent",
                   label="nominal coverage of the interval"))
    price_fact(sheet, "model_price", s.model_price, "the model's price before guardrails")
    pct_fact(sheet, "confidence", s.confidence * 100, "confidence")
    if s.relative_width is not None:  # the service's one width (the abstain rule's too)
        pct_fact(sheet, "interval_width", s.relative_width * 100,
                 "width of the likely range as a share of the model's price")
    sheet.add(Fact("confidence_level", confidence_level(s.confidence, s.abstain), "text",
                   label="how sure the suggestion is"))
    demand_facts(sheet, s)
    if in_catalog is None:
        in_catalog = bool(s.product_id)
    text_fact(sheet, "product_ref", f"catalog product {s.product_id}" if s.product_id and in_catalog
              else "new product")
    for i, c in enumerate(ev.comparables, start=1):
        text_fact(sheet, f"cmp_{i}_title", c.title)
        text_fact(sheet, f"cmp_{i}_id", c.product_id)
        price_fact(sheet, f"cmp_{i}_price", c.price)
        pct_fact(sheet, f"cmp_{i}_similarity", c.similarity * 100)
    for i, c in enumerate(sorted(ev.competitors, key=lambda c: c.price), start=1):
        text_fact(sheet, f"comp_{i}_name", c.competitor)
        price_fact(sheet, f"comp_{i}_price", c.price)
        compare_fact(sheet, f"comp_{i}_vs_suggestion", f"comp_{i}_price", "recommended_price")
    for i, g in enumerate(steps, start=1):
        text_fact(sheet, f"step_{i}_rule", RULE_WORDS.get(g.rule, g.rule.replace("_", " ")))
        price_fact(sheet, f"step_{i}_before", g.before)
        price_fact(sheet, f"step_{i}_after", g.after)
    b = ev.brand
    if b is not None and b.median is not None and b.name:
        text_fact(sheet, "brand_name", b.name)
        price_fact(sheet, "brand_median", b.median)
        sheet.add(Fact("brand_count", b.n, "count", nouns=("products", "product", "items")))
    if cat is not None and cat.p25 is not None and cat.p75 is not None and cat.median:
        price_fact(sheet, "category_p25", cat.p25)
        price_fact(sheet, "category_p75", cat.p75)
    return sheet


def confidence_level(confidence: float, abstain: bool = False) -> str:
    """"low" (an abstained suggestion, or under 0.4), "moderate" (under 0.7) or "high"."""
    if abstain or confidence < 0.4:
        return "low"
    return "moderate" if confidence < 0.7 else "high"


DEMAND_RULE_WORDS = {"profit_optimum": "profit optimum", "clearance": "clearance price"}


def demand_facts(sheet: FactSheet, s: Suggestion) -> None:
    """A demand-aware suggestion's rule (profit optimum or clearance price) and its expected
    profit and units per period, from the elasticity evidence."""
    el = s.evidence.elasticity
    if s.mode != "demand-aware" or el is None or el.rule is None:
        return
    text_fact(sheet, "pricing_rule", DEMAND_RULE_WORDS.get(el.rule, el.rule.replace("_", " ")))
    exp = el.expected
    if exp is None:
        return
    days = exp.period_days
    period = ("per month" if 27 <= days <= 32 else "per week" if 6 <= days <= 8 else
              "per day" if days == 1 else "per period")
    text_fact(sheet, "profit_period", period)
    if exp.profit is not None and math.isfinite(exp.profit):
        price_fact(sheet, "expected_profit", exp.profit, f"expected profit {period} at the recommended price")
    if math.isfinite(exp.units):
        sheet.add(Fact("expected_units", round(float(exp.units), 1), "count",
                       label=f"expected units sold {period}", nouns=("units", "unit", "sales", "items")))
