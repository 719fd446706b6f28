"""Reply writers: lines with ``{fact_id}`` placeholders over a fact sheet, shown only once verified.

Use::

    from assistant.chat.replies import Say, write_why
    say = Say(suggestion_fact_sheet(s))
    write_why(say, s)                       # adds lines; nothing is rendered yet
    reply = say.reply("why", s.suggestion_id)   # verified text; failing lines in reply.dropped

Every number a reply shows is a fact of the sheet built in code (assistant.facts) and
rendered through assistant.verify: a line that fails verification is dropped and logged,
never shown. Product data that contains digits (titles, ids, category names) enters only as
text facts. The writers take what they need (the suggestion, the rules in force, a demand
callable) and never touch the session or the service.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError

from assistant.chat.matching import Match
from assistant.chat.session import Reply
from assistant.facts import Fact, FactSheet, compare_fact, pct_fact, price_fact, text_fact
from assistant.guardrails import GuardrailConflict, GuardrailPolicy, bounds
from assistant.margins import (
    MARGIN_DEFINITION,
    MARKUP_DEFINITION,
    margin,
    markup,
    price_for_margin,
    price_for_markup,
)
from assistant.suggestion import Suggestion, WhatIfResult, relative_width
from assistant.verify import verify

log = logging.getLogger(__name__)

DemandFn = Callable[[str, float, "float | None"], WhatIfResult]


class Say:
    """Lines with {fact_id} placeholders over one fact sheet, shown only once verified."""

    def __init__(self, sheet: FactSheet) -> None:
        self.sheet = sheet
        self.lines: list[str] = []

    def __call__(self, *lines: str) -> None:
        self.lines.extend(lines)

    def text(self, dropped: list[str]) -> str:
        """The verified lines, rendered; lines that fail verification go to `dropped`."""
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


# ----------------------------------------------------------------------------- words
BOUND_WORDS = {("positive", "lower"): "minimum price", ("floor", "lower"): "cost floor",
               ("map", "lower"): "minimum advertised price (MAP)",
               ("max_change", "lower"): "maximum change down", ("ceiling", "upper"): "price ceiling",
               ("max_change", "upper"): "maximum change up",
               ("max_above_cheapest", "upper"): "competitor cap"}
POLICY_LABELS = {"min_margin": "minimum margin", "min_markup": "minimum markup", "max_change": "maximum price change",
                 "map_price": "minimum advertised price (MAP)", "ceiling": "price ceiling",
                 "ending": "price ending", "cost": "unit cost", "current_price": "current price"}
ENDING_WORDS = {".99": "prices ending in .99", "9": "whole prices ending in 9", "none": "no price ending"}

HINT = "_Ask me: {ex_why} · {ex_whatif} · {ex_competitors} · {ex_comparables} · {ex_margin}_"
_HINT_FACTS = {"ex_why": "why?", "ex_whatif": "what if I charge 1,299?",
               "ex_competitors": "show competitors", "ex_comparables": "show comparables",
               "ex_margin": "set my minimum margin to 20%"}
_BOUND_KEYS = {"le": "at most", "lt": "below", "ge": "at least", "gt": "above"}
_PERCENT_FIELDS = ("min_margin", "min_markup", "max_change")
# One definition each (assistant.margins), said where a reply uses the word.
DEFINITIONS = {"min_margin": MARGIN_DEFINITION, "min_markup": MARKUP_DEFINITION}


def hint(say: Say) -> None:
    """A blank line and the examples of what to ask next."""
    for k, v in _HINT_FACTS.items():
        if k not in say.sheet:
            say.sheet.add(Fact(k, v, "text"))
    say("", HINT)


def error_words(exc: ValidationError) -> str:
    """The first validation error in the merchant's terms: "minimum margin must be at most 1000%"."""
    err = exc.errors()[0]
    field = str(err.get("loc", ("input",))[-1])
    label = POLICY_LABELS.get(field, field.replace("_", " "))
    ctx = err.get("ctx") or {}
    for key, words in _BOUND_KEYS.items():
        if key in ctx and isinstance(ctx[key], (int, float)):
            limit = float(ctx[key])
            shown = f"{limit * 100:g}%" if field in _PERCENT_FIELDS else f"{limit:g}"
            return f"the {label} must be {words} {shown}"
    return f"the {label}: {err.get('msg', 'is not valid')}"


# ----------------------------------------------------------------------------- plain replies
def plain(text: str, intent: str, facts: dict[str, str] | None = None,
          template: str | None = None, with_hint: bool = False) -> Reply:
    """A reply without numbers from a suggestion: `template` (or `text`) over text facts."""
    sheet = FactSheet(currency=None)
    for k, v in (facts or {}).items():
        sheet.add(Fact(k, str(v), "text"))
    say = Say(sheet)
    say(*(template or text).split("\n"))
    if with_hint:
        hint(say)
    return say.reply(intent)


def ask_for_product(intent: str) -> Reply:
    """The answer to a follow-up when no product is in context."""
    return plain("", intent, template="Ask me about a product first — describe it or give its catalog id.")


def help_reply() -> Reply:
    facts = {"ex_price": "what should I charge for boAt Rockerz 450 headphones? my cost is 900"}
    return plain("", "help", facts=facts, with_hint=True, template=(
        "I suggest prices you can defend. Tell me about a product, e.g. “{ex_price}”, "
        "or give a catalog product id."))


def unknown_reply() -> Reply:
    return plain("", "unknown", with_hint=True, template=(
        "I didn't catch a product or a question. Describe a product (title, brand) or "
        "give its catalog id."))


def did_you_mean(query: str, matches: Sequence[Match]) -> Reply:
    facts: dict[str, str] = {"query": query}
    lines = ["I found several products like “{query}”. Did you mean:"]
    for i, m in enumerate(matches, start=1):
        facts[f"opt_{i}"] = str(i)
        facts[f"opt_{i}_title"] = m.title
        facts[f"opt_{i}_id"] = m.product_id
        lines.append(f"- **{{opt_{i}}}** {{opt_{i}_title}} ({{opt_{i}_id}})")
    facts["new_word"] = "new"
    lines.append("Reply with the number or the id, or “{new_word}” to price it as a new product.")
    return plain("", "did_you_mean", facts=facts, template="\n".join(lines))


def conflict(exc: GuardrailConflict, currency: str | None, intent: str) -> Reply:
    """The rules that leave no valid price, pair by pair."""
    sheet = FactSheet(currency=currency)
    say = Say(sheet)
    say("Your rules leave no valid price for this product:")
    for i, (lo, up) in enumerate(exc.conflicts, start=1):
        text_fact(sheet, f"c{i}_lo_rule", BOUND_WORDS.get((lo.rule, lo.side), lo.rule))
        text_fact(sheet, f"c{i}_up_rule", BOUND_WORDS.get((up.rule, up.side), up.rule))
        price_fact(sheet, f"c{i}_lo", lo.value)
        price_fact(sheet, f"c{i}_up", up.value)
        say(f"- the {{c{i}_lo_rule}} of {{c{i}_lo}} is above the {{c{i}_up_rule}} of {{c{i}_up}}")
    say("Change one of these rules (e.g. “{ex_fix}”).")
    sheet.add(Fact("ex_fix", "remove my ceiling", "text"))
    return say.reply(intent)


def rule_changes(sheet: FactSheet, updates: dict[str, Any], cost: float | None,
                 current_price: float | None, cost_known: bool) -> list[str]:
    """Lines confirming new rules, unit cost and current price (facts added to `sheet`)."""
    lines: list[str] = []
    if cost is not None:
        lines.append("Unit cost set to " + price_fact(sheet, "new_cost", cost) + ".")
    if current_price is not None:
        lines.append("Current price set to " + price_fact(sheet, "new_current", current_price) + ".")
    for k, v in updates.items():
        label = text_fact(sheet, f"label_{k}", POLICY_LABELS[k])
        if v is None:
            lines.append(f"Removed your {label}.")
        elif k in _PERCENT_FIELDS:
            line = f"Your {label} is now " + pct_fact(sheet, f"new_{k}", v * 100)
            if k in DEFINITIONS:
                line += " (" + text_fact(sheet, f"def_{k}", DEFINITIONS[k]) + ")"
            lines.append(line + ".")
        elif k == "ending":
            lines.append(f"Your {label} is now " + text_fact(sheet, "new_ending", ENDING_WORDS[v]) + ".")
        else:
            lines.append(f"Your {label} is now " + price_fact(sheet, f"new_{k}", v) + ".")
    if (updates.get("min_margin") is not None or updates.get("min_markup") is not None) and not cost_known:
        lines.append("I need your unit cost to apply a margin — tell me “my cost is …”.")
    return lines


# ----------------------------------------------------------------------------- a suggestion
def write_suggestion(say: Say, s: Suggestion, in_catalog: bool, with_hint: bool = True) -> None:
    """The summary of suggestion `s`: price, interval, evidence, guardrails, why."""
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
        write_abstain(say, s)
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
    elif in_catalog:
        say("- Competitors: no competitor offers are linked to this product.")
    if has("cmp_1_title"):
        say("- Comparables: {comparables_count} comparable products; the closest is "
            "“{cmp_1_title}” at {cmp_1_price}.")
    if has("brand_name"):
        say("- Brand {brand_name}: {brand_count} products; their middle price is {brand_median}.")
    i = 1
    while has(f"step_{i}_rule"):
        say(f"- Guardrail: the {{step_{i}_rule}} moved the price from {{step_{i}_before}} "
            f"to {{step_{i}_after}}.")
        i += 1
    say("", explanation_line(s, sh))
    if with_hint:
        hint(say)


def write_abstain(say: Say, s: Suggestion) -> None:
    """The low-confidence line, from the suggestion's own abstention (reason and width are
    computed once by the service: the API shows the same)."""
    a = s.abstention
    reason = a.reason if a is not None else (s.abstain_reason or "").replace(" ", "_")
    if reason.startswith("interval_too_wide"):
        if "interval_width" not in say.sheet:
            width = a.relative_width if a is not None else s.relative_width
            if width is None:  # stored before the width was kept: the same definition
                width = relative_width(s.interval.low, s.interval.high, s.model_price)
            pct_fact(say.sheet, "interval_width", width * 100)
        say("⚠ **Low confidence:** the likely range is wide ({interval_width} of the price); "
            "treat this as a rough guide.")
    elif reason.startswith("thin_evidence"):
        say("⚠ **Low confidence:** few priced products in this category and no close comparables; "
            "treat this as a rough guide.")
    else:
        say("⚠ **Low confidence:** treat this as a rough guide.")


def explanation_line(s: Suggestion, sheet: FactSheet) -> str:
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


def write_why(say: Say, s: Suggestion) -> None:
    """What moved the model's price, and the rules that moved the final price."""
    sheet = say.sheet
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
        write_abstain(say, s)
    say("", explanation_line(s, sheet))


def write_competitors(say: Say, s: Suggestion, in_catalog: bool) -> None:
    sheet = say.sheet
    if "comp_1_name" not in sheet:
        if in_catalog:
            say("No competitor offers are linked to {product_title} in the catalog.")
        else:
            say("{product_title} is a new product, so no competitor offers are linked to it.")
        return
    say("Competitor offers for {product_title} (latest per competitor), against our "
        "suggestion of {recommended_price}:")
    i = 1
    while f"comp_{i}_name" in sheet:
        d = sheet[f"comp_{i}_vs_suggestion"].direction
        say(f"- {{comp_{i}_name}} at {{comp_{i}_price}}: the same as our suggestion" if d == "equal"
            else f"- {{comp_{i}_name}} at {{comp_{i}_price}} is {{comp_{i}_vs_suggestion}} {d} "
                 f"our suggestion of {{recommended_price}}")
        i += 1


def write_comparables(say: Say, s: Suggestion) -> None:
    sheet = say.sheet
    if "cmp_1_title" not in sheet:
        say("No comparable products were found for {product_title}.")
        return
    say("The {comparables_count} comparable products behind the suggestion of {recommended_price}:")
    i = 1
    while f"cmp_{i}_title" in sheet:
        say(f"- {{cmp_{i}_title}} ({{cmp_{i}_id}}) at {{cmp_{i}_price}}, similarity {{cmp_{i}_similarity}}")
        i += 1


# ----------------------------------------------------------------------------- what-if
def write_what_if(say: Say, s: Suggestion, price: float, cost: float | None,
                  policy: GuardrailPolicy, demand: DemandFn | None) -> None:
    """`price` against the suggestion, the category, competitors, the unit cost, the rules and
    (with `demand` and a catalog product) the expected units, revenue and profit."""
    sheet = say.sheet
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
    if cost is not None and cost > 0:
        if "cost" not in sheet:
            price_fact(sheet, "cost", cost, "unit cost")
        if price > cost:
            pct_fact(sheet, "whatif_margin", margin(price, cost) * 100)
            pct_fact(sheet, "whatif_markup", markup(price, cost) * 100)
            price_fact(sheet, "whatif_profit", price - cost)
            say("- Margin: {whatif_margin} of the price (markup {whatif_markup} over your unit cost "
                "of {cost}), {whatif_profit} per unit.")
        elif round(price, 2) == round(cost, 2):
            say("- Margin: none — that is exactly your unit cost of {cost}.")
        else:
            price_fact(sheet, "whatif_loss", cost - price)
            say("- Margin: {whatif_price} is below your unit cost of {cost}, a loss of "
                "{whatif_loss} per unit.")
    else:
        say("- Margin: tell me your unit cost (“my cost is …”) to see it.")
    write_checks(say, price, s, policy)
    if demand is not None and s.product_id:
        write_demand(say, price, s.product_id, cost, demand)


def write_checks(say: Say, price: float, s: Suggestion, policy: GuardrailPolicy) -> None:
    """Guardrail check of a what-if price, from the Bound objects (not check()'s strings)."""
    cheapest = min((c.price for c in s.evidence.competitors), default=None)
    try:
        found, _ = bounds(policy, s.current_price, cheapest)
    except ValueError:
        return
    broken = [b for b in found if b.violated_by(price) and b.rule != "positive"]
    if not broken:
        say("- Guardrails: it passes all your rules.")
        return
    say("- Guardrails: it breaks your rules:")
    for i, b in enumerate(broken, start=1):
        text_fact(say.sheet, f"rule_{i}", BOUND_WORDS.get((b.rule, b.side), b.rule))
        price_fact(say.sheet, f"rule_{i}_limit", b.value)
        where = "below" if b.side == "lower" else "above"
        say(f"  - {{whatif_price}} is {where} the {{rule_{i}}} of {{rule_{i}_limit}}")


def write_demand(say: Say, price: float, product_id: str, cost: float | None, demand: DemandFn) -> None:
    """Expected units, revenue and profit at the price with intervals, from the product's
    sales history (``service.what_if``, issue #7); a one-line reason when it has none."""
    try:
        w = demand(product_id, price, cost)
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
        text_fact(sheet, "whatif_elasticity_source", where.get(str(e.get("source")), str(e.get("source"))))
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


# ----------------------------------------------------------------------------- arithmetic answers
def write_margin(say: Say, price: float, cost: float, which: str) -> None:
    """Margin and markup at `price` on `cost`, each with its definition (assistant.margins)."""
    sh = say.sheet
    price_fact(sh, "m_price", price, which)
    price_fact(sh, "m_cost", cost, "unit cost")
    text_fact(sh, "def_margin", MARGIN_DEFINITION)
    text_fact(sh, "def_markup", MARKUP_DEFINITION)
    say("**At {m_price}** ({m_which}), on your unit cost of {m_cost}:")
    text_fact(sh, "m_which", which)
    if round(price, 2) <= round(cost, 2):
        if round(price, 2) == round(cost, 2):
            say("- That is exactly your unit cost: no margin, no loss.")
        else:
            price_fact(sh, "m_loss", cost - price, "loss per unit")
            text_fact(sh, "m_under", "That is less than your unit cost")
            say("- {m_under}: a loss of {m_loss} per unit.")
        return
    pct_fact(sh, "m_margin", margin(price, cost) * 100)
    pct_fact(sh, "m_markup", markup(price, cost) * 100)
    price_fact(sh, "m_profit", price - cost)
    say("- Margin: {m_margin} of the price ({def_margin})",
        "- Markup: {m_markup} over cost ({def_markup})",
        "- Profit: {m_profit} per unit")


def write_target_price(say: Say, cost: float, target: float, kind: str, suggested: float | None) -> None:
    """The lowest price that keeps a margin (kind "margin") or a markup ("markup") of `target`."""
    sh = say.sheet
    price = price_for_margin(cost, target) if kind == "margin" else price_for_markup(cost, target)
    price_fact(sh, "t_price", price, f"lowest price for the target {kind}")
    price_fact(sh, "t_cost", cost, "unit cost")
    pct_fact(sh, "t_target", target * 100)
    text_fact(sh, "t_def", MARGIN_DEFINITION if kind == "margin" else MARKUP_DEFINITION)
    say(f"To keep a {kind} of {{t_target}} on your unit cost of {{t_cost}}, charge at least "
        "**{t_price}** ({t_def}).")
    if suggested is not None:
        price_fact(sh, "t_suggested", suggested, "our suggestion")
        d = compare_fact(sh, "t_vs_suggested", "t_suggested", "t_price")
        say("Our suggestion of {t_suggested} is the same as that." if d == "equal" else
            f"Our suggestion of {{t_suggested}} is {{t_vs_suggested}} {d} that price of {{t_price}}.")


def write_break_even(say: Say, cost: float, suggested: float | None) -> None:
    sh = say.sheet
    price_fact(sh, "be_cost", cost, "unit cost")
    text_fact(sh, "be_rule", "every unit sold for less loses money (profit per unit = price − cost)")
    say("Your break-even price is your unit cost, **{be_cost}**: {be_rule}.")
    if suggested is not None:
        price_fact(sh, "be_suggested", suggested, "our suggestion")
        d = compare_fact(sh, "be_vs_suggested", "be_suggested", "be_cost")
        say("Our suggestion of {be_suggested} is the same as your unit cost of {be_cost}: no profit."
            if d == "equal" else
            f"Our suggestion of {{be_suggested}} is {{be_vs_suggested}} {d} your unit cost of {{be_cost}}.")


def write_should_drop(say: Say, s: Suggestion, current: float) -> None:
    """The current price against the suggestion and its likely range. The verdict is a text
    fact (its words are advice, not a comparison of two numbers); the comparison is checked."""
    sh = say.sheet
    cur = sh.get("current_price")
    fid = "current_price" if cur is None or abs(float(cur.value) - current) < 0.005 else "sd_current"
    if sh.get(fid) is None:
        price_fact(sh, fid, current, "your current price")
    d = compare_fact(sh, "sd_vs_suggestion", fid, "recommended_price")
    if current > s.interval.high:
        verdict = "Yes, consider dropping it: your price is over the likely range."
    elif current < s.interval.low:
        verdict = "No — if anything, raise it: your price is under the likely range."
    else:
        verdict = "No need to drop it: your price is inside the likely range."
    text_fact(sh, "sd_verdict", verdict)
    lead = "Your price of" if fid == "current_price" else "A price of"
    say("**{sd_verdict}**",
        f"{lead} {{{fid}}} is the same as our suggestion of {{recommended_price}}." if d == "equal" else
        f"{lead} {{{fid}}} is {{sd_vs_suggestion}} {d} our suggestion of {{recommended_price}}.",
        "The likely range for {product_title} is {interval_low} to {interval_high}.")


def write_demand_curve(say: Say, curve: Any, stock: float | None, days: float | None) -> None:
    """The price that sells the most units, the revenue and profit optima, and (with stock and
    days) the highest price expected to clear the stock in time — all on the product's demand
    curve (assistant.service.PricingService.what_if_curve)."""
    sh = say.sheet
    pts = [p for p in curve.points if p.units is not None]
    if not pts:
        say("I couldn't estimate demand for this product.")
        return
    period = getattr(pts[0], "period_days", None) or 30.0
    text_fact(sh, "d_period", "month" if 27 <= period <= 31 else f"{period:g} days")
    most = max(pts, key=lambda p: (p.units, -p.price))
    price_fact(sh, "d_most_price", most.price)
    sh.add(Fact("d_most_units", round(float(most.units)), "count", nouns=("units", "unit")))
    lo, hi = min(p.price for p in pts), max(p.price for p in pts)
    price_fact(sh, "d_lo", lo)
    price_fact(sh, "d_hi", hi)
    say("From this product's sales history (prices from {d_lo} to {d_hi}; figures per {d_period}):",
        "- Most units: at {d_most_price}, about {d_most_units} units.")
    rev = max((p for p in pts if p.revenue is not None), key=lambda p: p.revenue, default=None)
    if rev is not None:
        price_fact(sh, "d_rev_price", rev.price)
        price_fact(sh, "d_rev", rev.revenue)
        say("- Most revenue: at {d_rev_price}, about {d_rev}.")
    prof = max((p for p in pts if p.profit is not None), key=lambda p: p.profit, default=None)
    if prof is not None:
        price_fact(sh, "d_prof_price", prof.price)
        price_fact(sh, "d_prof", prof.profit)
        say("- Most profit: at {d_prof_price}, about {d_prof}.")
    else:
        say("- Profit: tell me your unit cost (“my cost is …”) to see the most profitable price.")
    if stock and days:
        need = stock / days * period
        sh.add(Fact("d_stock", round(stock), "count", nouns=("units", "unit")))
        sh.add(Fact("d_days", round(days), "count", nouns=("days", "day")))
        ok = [p for p in pts if p.units >= need]
        if ok:
            best = max(ok, key=lambda p: p.price)
            price_fact(sh, "d_clear_price", best.price)
            say("- To clear {d_stock} units in {d_days} days: charge at most **{d_clear_price}**.")
        else:
            text_fact(sh, "d_short", "the expected sales fall short at every price it sold at; consider a "
                                     "promotion or a longer period")
            say("- To clear {d_stock} units in {d_days} days: {d_short}.")
    if any(p.extrapolated for p in pts):
        say("⚠ Prices outside those it sold at are extrapolated; treat them with care.")


# ----------------------------------------------------------------------------- conversation
EXAMPLES = {"ex_a": "what should I charge for boAt Rockerz 450 headphones? my cost is 900",
            "ex_b": "what if I charge 1,299?"}


def redirect(intent: str, lead: str) -> Reply:
    """A short, polite redirect with two examples; never a price."""
    return plain("", intent, facts=EXAMPLES, template=lead + " Try “{ex_a}” or “{ex_b}”.")


def summary(history: Sequence[dict[str, Any]]) -> Reply:
    """This session's suggestions and what the merchant said about them."""
    if not history:
        return plain("", "summary", facts=EXAMPLES, template=(
            "Nothing priced yet in this chat. I suggest prices you can defend, answer “why?”, "
            "what-ifs, competitors, margins and break-even. Try “{ex_a}” or “{ex_b}”."))
    sheet = FactSheet(currency=None)
    say = Say(sheet)
    sheet.add(Fact("n_suggestions", len(history), "count", nouns=("suggestions", "suggestion", "products")))
    say("In this chat: {n_suggestions} suggestions.")
    words = {"accept": "you went with it", "too_low": "you found it too low", "too_high": "you found it too high",
             "thanks": "you thanked me", "reject": "you disagreed"}
    for i, h in enumerate(history, start=1):
        text_fact(sheet, f"h{i}_title", h["title"])
        text_fact(sheet, f"h{i}_price", h["price_text"])
        line = f"- {{h{i}_title}}: {{h{i}_price}}"
        if h.get("feedback"):
            text_fact(sheet, f"h{i}_fb", words.get(h["feedback"], h["feedback"]))
            line += f" ({{h{i}_fb}})"
        say(line)
    return say.reply("summary")


def feedback_reply(kind: str, s: Suggestion | None, sheet: FactSheet | None) -> Reply:
    """An answer to acceptance, pushback, thanks or disagreement."""
    if s is None or sheet is None:
        if kind == "thanks":
            return plain("You're welcome! Ask me about a product whenever you like.", "feedback")
        return redirect("feedback", "Noted. Ask me about a product and I'll suggest a price.")
    say = Say(sheet)
    tips = {"too_low": "Ask “what if I charge …” with the price you have in mind to see what changes, or "
                       "set a floor with your cost and a minimum margin.",
            "too_high": "Ask “what if I charge …” with the price you have in mind, or “show competitors” "
                        "to see who is cheaper.",
            "thanks": "Ask “why?” or try a what-if any time.",
            "reject": "Tell me what's off — your cost, your current price or a rule (e.g. a minimum "
                      "margin) — and I'll price it again."}
    if kind in tips:
        text_fact(sheet, "fb_tip", tips[kind])
    if kind == "accept":
        say("Noted: you'll go with {recommended_price} for {product_title}. I've recorded it.")
    elif kind == "too_low":
        say("Noted. The likely range for {product_title} reaches {interval_high}.", "{fb_tip}")
    elif kind == "too_high":
        say("Noted. The likely range for {product_title} starts at {interval_low}.", "{fb_tip}")
    elif kind == "thanks":
        say("You're welcome!", "{fb_tip}")
    else:
        say("Sorry it doesn't fit.", "{fb_tip}")
    return say.reply("feedback", s.suggestion_id)


# ----------------------------------------------------------------------------- apply it
NO_BOOK = ("Applying prices is not enabled here: this assistant has no price list configured "
           "(start the server with a price book, PRICING_PRICEBOOK_DB). The suggestion stays a "
           "suggestion.")
NOTHING_TO_APPLY = ("There is no priced product to apply yet. Ask me for a price first, e.g. "
                    "“{ex}”, then say “apply it”.")


def applied_reply(title: str, currency: str | None, old: float | None, new: float, rule: str,
                  actor: str, lowest_30d: float | None, policy: str, suggestion_id: str) -> Reply:
    """The price list took the change: the numbers are the book's."""
    sheet = FactSheet(currency=currency)
    text_fact(sheet, "product_title", title)
    text_fact(sheet, "rule", rule)
    text_fact(sheet, "actor", actor)
    text_fact(sheet, "policy", policy)
    price_fact(sheet, "new_price", new, "applied price")
    say = Say(sheet)
    if old is not None:
        price_fact(sheet, "old_price", old, "price before")
        say("Applied: {product_title} is now {new_price} in your price list (it was {old_price}).")
    else:
        say("Applied: {product_title} is now {new_price} in your price list.")
    say("Set by the {rule} ({policy}), recorded as {actor} with the suggestion in the price history.")
    if lowest_30d is not None and old is not None and new < old:
        price_fact(sheet, "lowest_30d", lowest_30d, "lowest price of the last 30 days")
        text_fact(sheet, "window", "the last 30 days")
        say("For a price reduction notice: the lowest price over {window} was {lowest_30d}.")
    return say.reply("apply", suggestion_id)


def queued_reply(title: str, currency: str | None, old: float | None, proposed: float, reason: str,
                 approval_id: int, suggestion_id: str) -> Reply:
    """The change waits for an approver: why, and where it is."""
    sheet = FactSheet(currency=currency)
    text_fact(sheet, "product_title", title)
    text_fact(sheet, "reason", reason)
    text_fact(sheet, "approval", f"#{approval_id}")
    price_fact(sheet, "proposed_price", proposed, "proposed price")
    say = Say(sheet)
    if old is not None:
        price_fact(sheet, "old_price", old, "current price")
        say("Queued for approval: {product_title} from {old_price} to {proposed_price} is not applied yet.")
    else:
        say("Queued for approval: {product_title} at {proposed_price} is not applied yet.")
    say("Why: {reason}. An approver decides on request {approval} in the Approvals tab; "
        "your current price stays until then.")
    return say.reply("apply", suggestion_id)
