"""What an explanation may say about one fact sheet: sentence slots, their phrasings, and the
llama.cpp grammar (GBNF) that admits exactly those.

Use:
    from assistant.grammar import plan, to_gbnf, write
    p = plan(sheet, product_words="Electronics > Headphones")
    grammar = to_gbnf(p)                   # for llama_cpp.LlamaGrammar.from_string
    write(p)                               # the first phrasing of each slot (the fallback)
    write(p, random.Random(0))             # a random phrasing of each slot (tuning corpus)

Why a grammar: a 135M-parameter model copies example sentences whatever the facts say, fills
slots with other placeholders and echoes the fact list. Here each sentence is one of a few
phrasings written in code for *this* sheet: the direction words agree with the facts, every
number is a `{fact_id}` placeholder of the sheet (no digits or currency signs anywhere else),
the product is named only by a noun from its title or category, and the rule named is the
rule applied. The model chooses among the phrasings and the optional sentences; the verifier
still checks the result. Slots, in order: the price (required), the change from the current
price (optional), one comparison (required when the sheet has one: category median, cheapest
competitor or comparables), comparables (optional), the strongest driver (required when there
is one), the rule that set the price (demand-aware rule or guardrail step; required when there
is one), and the likely range, with the confidence when it is low (required).
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from assistant.facts import FactSheet
from assistant.verify import LEXICON_STEMS, PRODUCT_LEXICON, noun_stem

_SINGULAR_S = {"lens", "canvas", "bus", "atlas", "cactus", "gas", "chassis", "series"}
NP = "<np>"  # marks where a noun phrase naming the product goes in a phrasing
_PLURAL_ONLY = {"jeans", "trousers", "pants", "shorts", "scissors", "sunglasses", "spectacles", "headphones",
                "earphones", "earbuds", "slippers", "sandals", "sneakers", "shoes", "boots", "socks", "gloves",
                "drums", "knives", "pens", "pencils", "crayons", "toys", "dolls", "books", "puzzles",
                "earrings", "diapers", "plates", "bowls", "heels"}


@dataclass
class Slot:
    """One sentence of an explanation: alternative phrasings with `{fact_id}` placeholders."""

    name: str
    options: list[str]
    required: bool = True


@dataclass
class Plan:
    slots: list[Slot]
    noun_phrases: list[str] = field(default_factory=lambda: ["this product"])


def _lexicon_nouns(text: str) -> list[str]:
    out: list[str] = []
    for raw in re.findall(r"[A-Za-z][A-Za-z-]*", text):
        w = raw.lower()
        if (w in PRODUCT_LEXICON or noun_stem(w) in LEXICON_STEMS) and w not in out:
            out.append(w)
    return out


def noun_phrases(sheet: FactSheet, product_words: str = "") -> list[str]:
    """Ways to name the product: "this kettle" / "these headphones" for nouns of its title or
    category found in the verifier's product lexicon, then "this product" and "this item".

    The title's head noun comes first: the last lexicon noun before the title's first
    preposition or separator ("Tripod Stand for Camera" -> tripod, "Flip Lid Flask, 1 L" -> flask);
    then nouns of the category.
    """
    title = str(sheet["product_title"].value) if "product_title" in sheet else ""
    head = re.split(r"\s(?:for|with|and|compatible|by|in|of)\s|[,|(:–]|\s-\s", title, maxsplit=1)[0]
    lead = _lexicon_nouns(head)[-1:]
    # Nouns after the head ("Remote for Smart LED TV") name what the product goes with, not the
    # product: only the head noun and the category's nouns are offered.
    rest = _lexicon_nouns(" ".join(str(f.value) for f in sheet if f.id == "category_name") + " " + product_words)
    found = list(dict.fromkeys(lead + rest))
    phrases = [("these " if w in _PLURAL_ONLY or (w.endswith("s") and not w.endswith("ss") and w not in _SINGULAR_S)
                else "this ") + w
               for w in found[:3]]
    return phrases + ["this product", "this item"]


def _has(sheet: FactSheet, *ids: str) -> bool:
    return all(i in sheet for i in ids)


def _median_words(sheet: FactSheet) -> str:
    names = sheet["category_median"].names
    if "category median" not in names:
        return "the catalog-wide median"
    return "the {category_name} median" if "category_name" in sheet else "the category median"


def _change(sheet: FactSheet) -> Slot | None:
    if not _has(sheet, "change_pct", "current_price"):
        return None
    d = sheet["change_pct"].direction
    amount = sheet["change_amount"].direction if "change_amount" in sheet else d
    if d == "equal" and amount != "equal":  # under 0.05%: the percentage rounds to 0.0
        opts = [f"That is {{change_amount}} {amount} your current price of {{current_price}}."]
    elif d == "equal":
        opts = ["That is the same as your current price of {current_price}.",
                "It keeps your current price of {current_price}."]
    else:
        more = "less" if d == "below" else "more"
        opts = [f"That is {{change_pct}} {d} your current price of {{current_price}}.",
                f"That is {{change_amount}} {more} than your current price of {{current_price}}.",
                f"Compared with your current price of {{current_price}}, it is {{change_pct}} {d}."]
    return Slot("change", opts, required=False)


def _category(sheet: FactSheet) -> list[str]:
    if not _has(sheet, "vs_category_median_pct", "category_median"):
        return []
    d = sheet["vs_category_median_pct"].direction
    m = _median_words(sheet)
    where = " in the catalog" if m == "the catalog-wide median" else " in the category"
    n = f" across {{category_count}} products{where}" if "category_count" in sheet else ""
    cap = m[0].upper() + m[1:]
    if d == "equal":
        return [f"That matches {m} of {{category_median}}{n}.",
                f"It is the same as {m} of {{category_median}}{n}."]
    return [f"That is {{vs_category_median_pct}} {d} {m} of {{category_median}}.",
            f"It sits {{vs_category_median_pct}} {d} {m} of {{category_median}}{n}.",
            f"{cap} is {{category_median}}{n}, and this price is {{vs_category_median_pct}} {d} it."]


def _competitor(sheet: FactSheet) -> list[str]:
    if not _has(sheet, "vs_cheapest_competitor_pct", "cheapest_competitor"):
        return []
    d = sheet["vs_cheapest_competitor_pct"].direction
    who = " from {cheapest_competitor_name}" if "cheapest_competitor_name" in sheet else ""
    n = sheet["competitor_count"].value if "competitor_count" in sheet else None
    lead = ("The cheapest of {competitor_count} competitor offers is {cheapest_competitor}" + who
            if n is not None and n != 1 else "The only competitor offer is {cheapest_competitor}" + who)
    if d == "equal":
        return [f"It matches the cheapest competitor offer of {{cheapest_competitor}}{who}.",
                lead + ", the same as this price."]
    return [f"It is {{vs_cheapest_competitor_pct}} {d} the cheapest competitor offer of "
            f"{{cheapest_competitor}}{who}.",
            lead + f", and this price is {{vs_cheapest_competitor_pct}} {d} it."]


def _comparables(sheet: FactSheet) -> list[str]:
    n = sheet["comparables_count"].value if "comparables_count" in sheet else 0
    if not n:
        return []
    opts = ["It draws on {comparables_count} comparable products."]
    if "cmp_1_price" in sheet and n > 1:
        opts.insert(0, "The closest of {comparables_count} comparable products sells at {cmp_1_price}.")
    elif "cmp_1_price" in sheet:
        opts.insert(0, "The one comparable product found sells at {cmp_1_price}.")
    return opts


def _driver(sheet: FactSheet) -> Slot | None:
    if not _has(sheet, "driver_1", "driver_1_effect"):
        return None
    d = sheet["driver_1_effect"].direction
    if d == "equal":
        return None
    way = "up" if d == "above" else "down"
    base = " from the baseline of {driver_base}" if "driver_base" in sheet else ""
    opts = [f"The biggest factor was {{driver_1}}, which moved the price {way} by {{driver_1_effect}}{base}.",
            f"The strongest driver was {{driver_1}}, moving the price {way} by {{driver_1_effect}}{base}."]
    if "driver_1_share" in sheet:
        opts.append(f"Most of the movement came from {{driver_1}}, which moved the price {way} by "
                    f"{{driver_1_effect}} ({{driver_1_share}} of the movement{base}).")
    if _has(sheet, "driver_2", "driver_2_effect") and sheet["driver_2_effect"].direction != "equal":
        w2 = "up" if sheet["driver_2_effect"].direction == "above" else "down"
        opts.append(f"The biggest factor was {{driver_1}}, which moved the price {way} by {{driver_1_effect}}, "
                    f"while {{driver_2}} moved it {w2} by {{driver_2_effect}}.")
    return Slot("driver", opts)


def _rule(sheet: FactSheet) -> list[Slot]:
    out = []
    if "pricing_rule" in sheet:
        per = " {profit_period}" if "profit_period" in sheet else ""
        if "expected_profit" in sheet:
            opts = [f"It is the {{pricing_rule}} from your sales history, with an expected profit of "
                    f"{{expected_profit}}{per}.",
                    f"This is the {{pricing_rule}} for your sales history, expected to earn a profit of "
                    f"{{expected_profit}}{per}."]
        else:
            opts = ["It is the {pricing_rule} from your sales history.",
                    "This is the {pricing_rule} for your sales history."]
        out.append(Slot("demand_rule", opts))
    steps = [i for i in range(1, 20) if f"step_{i}_rule" in sheet]
    if steps:
        def size(i: int) -> float:
            return abs(float(sheet[f"step_{i}_after"].value) - float(sheet[f"step_{i}_before"].value))
        # the step that moved the price most; a price ending alone is worth a mention, not a must
        k = max(steps, key=lambda i: (str(sheet[f"step_{i}_rule"].value) != "price ending", size(i)))
        minor = str(sheet[f"step_{k}_rule"].value) == "price ending"
        out.append(Slot("guardrail", [
            f"The {{step_{k}_rule}} rule moved it from {{step_{k}_before}} to {{step_{k}_after}}.",
            f"Your {{step_{k}_rule}} rule set the price, moving it from {{step_{k}_before}} to "
            f"{{step_{k}_after}}."], required=not minor))
    return out


def _interval(sheet: FactSheet) -> Slot | None:
    if not _has(sheet, "interval_low", "interval_high"):
        return None
    level = str(sheet["confidence_level"].value) if "confidence_level" in sheet else None
    if level == "low":
        opts = ["Confidence is low, so treat the likely range of {interval_low} to {interval_high} as a "
                "rough guide.",
                "The likely range is {interval_low} to {interval_high}, and confidence is low."]
    else:
        opts = ["The likely range is {interval_low} to {interval_high}.",
                "Expect a likely range of {interval_low} to {interval_high}."]
        if level is not None:
            opts.append("The likely range is {interval_low} to {interval_high}, with {confidence_level} "
                        "confidence.")
    return Slot("interval", opts)


def plan(sheet: FactSheet, product_words: str = "") -> Plan:
    """The slots an explanation of ``sheet`` fills, in order (see the module docstring)."""
    if "recommended_price" not in sheet:
        raise ValueError("fact sheet has no recommended_price fact")
    nps = noun_phrases(sheet, product_words)
    slots = [Slot("price", [f"We recommend {{recommended_price}} for {NP}.",
                            f"We suggest {{recommended_price}} for {NP}.",
                            f"Our recommended price for {NP} is {{recommended_price}}.",
                            f"For {NP}, we recommend {{recommended_price}}."])]
    change = _change(sheet)
    if change:
        slots.append(change)
    main = _category(sheet) + _competitor(sheet)
    extra = _comparables(sheet)
    if main:
        slots.append(Slot("compare", main))
        if extra:
            slots.append(Slot("comparables", extra, required=False))
    elif extra:
        slots.append(Slot("compare", extra))
    driver = _driver(sheet)
    if driver:
        slots.append(driver)
    slots.extend(_rule(sheet))
    interval = _interval(sheet)
    if interval:
        slots.append(interval)
    return Plan(slots, nps)


def _literal(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _option(text: str) -> str:
    parts = text.split(NP)
    pieces = []
    for j, part in enumerate(parts):
        if part:
            pieces.append(_literal(part))
        if j < len(parts) - 1:
            pieces.append("np")
    return " ".join(pieces)


def to_gbnf(p: Plan) -> str:
    """The GBNF grammar admitting exactly the plan's sentences (one space between them)."""
    rules = [f"np ::= {' | '.join(_literal(n) for n in p.noun_phrases)}"]
    seq = []
    for i, slot in enumerate(p.slots):
        name = f"s{i}-{slot.name.replace('_', '-')}"
        rules.append(f"{name} ::= " + " | ".join(_option(o) for o in slot.options))
        item = name if i == 0 else f'" " {name}'
        seq.append(item if slot.required else f"({item})?")
    return "\n".join([f"root ::= {' '.join(seq)}"] + rules) + "\n"


def write(p: Plan, rng: random.Random | None = None, include_optional: bool | None = None,
          specific_noun: float = 0.5) -> str:
    """One explanation the plan admits: the first phrasing of each slot (rng None) or random
    ones. Optional slots: included when ``include_optional`` is True, left out when False,
    and for rng, included at random when None. specific_noun: for rng, how often the product
    is named by its own noun ("these headphones") rather than "this product"."""
    out = []
    for slot in p.slots:
        if not slot.required:
            keep = include_optional if include_optional is not None else (rng is not None and rng.random() < 0.5)
            if not keep:
                continue
        text = slot.options[0] if rng is None else rng.choice(slot.options)
        np = p.noun_phrases[0] if rng is None else (
            p.noun_phrases[0] if rng.random() < specific_noun else rng.choice(p.noun_phrases[-2:]))
        out.append(text.replace(NP, np))
    return " ".join(out)
