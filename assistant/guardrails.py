"""Guardrails: turn a model's recommended price into one the merchant can accept.

Use:
    from assistant.guardrails import GuardrailPolicy, apply_guardrails, check
    policy = GuardrailPolicy(cost=1000, min_markup=0.15, ceiling=1500, max_change=0.15, ending="9")
    result = apply_guardrails(1083.4, policy, current_price=1200)
    result.final_price   # 1159.0: raised to the floor 1,150.00, then the nearest "9" ending in range
    result.applied       # [AppliedRule("floor", 1083.4, 1150.0, ...), AppliedRule("ending", 1150.0, 1159.0, ...)]
    check(999, policy, current_price=1200)
    # ["floor: 999.00 is below floor 1,150.00 (cost 1,000 × 1.15)",
    #  "max_change: 999.00 is below max_change lower limit 1,020.00 (current 1,200 × (1 − 0.15))"]

Every hard rule is a bound on the price, so the rules are applied as an interval
intersection, never one after another (sequential clamps silently let a later rule undo an
earlier one):

    lower = max(positive 0.01, floor = max(cost × (1 + min_markup), cost / (1 − min_margin)), MAP,
                current × (1 − max_change))

Margin and markup have one definition each (assistant.margins): margin = (price − cost) / price,
markup = (price − cost) / cost. A minimum margin m needs price ≥ cost / (1 − m); a minimum
markup k needs price ≥ cost × (1 + k).
    upper = min(ceiling, current × (1 + max_change), cheapest × (1 + max_above_cheapest))

The price is rounded to whole minor units (cents/paise), clamped into [lower, upper], and
the optional price ending (".99" or whole units ending in "9") is applied last, only if an
ending-conforming price lies inside the same interval. If lower > upper the policy is
inconsistent for this product and `GuardrailConflict` names the rules that disagree — a
conflict is never resolved silently, because either choice breaks a promise the merchant made.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Rule names, as they appear in AppliedRule.rule, Bound.rule, check() messages and `active`.
POSITIVE = "positive"
FLOOR = "floor"
MAP = "map"
CEILING = "ceiling"
MAX_CHANGE = "max_change"
COMPETITOR = "max_above_cheapest"
ENDING = "ending"
ROUNDING = "rounding"

MIN_PRICE_CENTS = 1  # "never zero or negative": the smallest sellable price is one minor unit
# Larger amounts are input errors (and would overflow the integer minor-unit arithmetic).
MAX_MONEY = 1e12


class GuardrailPolicy(BaseModel):
    """A merchant's pricing rules; every field is optional and an unset field is no rule.

    Fractions are fractions (0.15 means 15 %), money is in the product's currency.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The floor needs a cost and a minimum margin or markup (either means nothing without a cost).
    cost: float | None = Field(default=None, ge=0, le=MAX_MONEY, allow_inf_nan=False)
    # Margin = (price − cost) / price, so below 1: floor = cost / (1 − min_margin).
    min_margin: float | None = Field(default=None, ge=0, lt=1, allow_inf_nan=False)
    # Markup = (price − cost) / cost: floor = cost × (1 + min_markup). Upper limit 10 (1000 %)
    # catches percent-vs-fraction mistakes such as 15 for 0.15 × 100.
    min_markup: float | None = Field(default=None, ge=0, le=10, allow_inf_nan=False)
    # Minimum advertised price agreed with the brand: the final price may not go below it.
    map_price: float | None = Field(default=None, gt=0, le=MAX_MONEY, allow_inf_nan=False)
    ceiling: float | None = Field(default=None, gt=0, le=MAX_MONEY, allow_inf_nan=False)
    # Largest relative move from the current price in one step; 1 would allow doubling.
    max_change: float | None = Field(default=None, gt=0, le=1, allow_inf_nan=False)
    # final ≤ cheapest competitor × (1 + x); a negative x (> −1) means "undercut by |x|".
    max_above_cheapest: float | None = Field(default=None, gt=-1, le=10, allow_inf_nan=False)
    ending: Literal["none", ".99", "9"] = "none"


@dataclass(frozen=True)
class Bound:
    """One hard rule seen as a limit on the price (side "lower" or "upper")."""

    rule: str
    side: Literal["lower", "upper"]
    value: float
    detail: str  # how the value was computed, e.g. "cost 1,000 × 1.15"

    @property
    def cents(self) -> int:
        """The bound in whole minor units, rounded inwards so any price in range obeys it."""
        scaled = self.value * 100
        tol = 100 * _tol(self.value)
        return math.ceil(scaled - tol) if self.side == "lower" else math.floor(scaled + tol)

    def describe(self) -> str:
        label = _LABELS[(self.rule, self.side)]
        text = f"{label} {_money(self.value)}"
        return f"{text} ({self.detail})" if self.detail else text

    def violated_by(self, price: float) -> bool:
        if self.side == "lower":
            return price < self.value - _tol(self.value)
        return price > self.value + _tol(self.value)


_LABELS = {
    (POSITIVE, "lower"): "minimum price",
    (FLOOR, "lower"): "floor",
    (MAP, "lower"): "MAP",
    (MAX_CHANGE, "lower"): "max_change lower limit",
    (CEILING, "upper"): "ceiling",
    (MAX_CHANGE, "upper"): "max_change upper limit",
    (COMPETITOR, "upper"): "competitor cap",
}


@dataclass(frozen=True)
class AppliedRule:
    """A rule that changed the price, with the price before and after it."""

    rule: str
    before: float
    after: float
    detail: str


@dataclass
class GuardrailResult:
    """The accepted price and the trail of what the guardrails did to get there."""

    final_price: float
    recommended_price: float
    applied: list[AppliedRule] = field(default_factory=list)
    active: list[str] = field(default_factory=list)  # hard rules in force (+ "ending")
    skipped: list[str] = field(default_factory=list)  # configured but missing an input
    notes: list[str] = field(default_factory=list)  # e.g. an ending that could not be applied
    lower: float = 0.01  # the allowed range actually used, in whole minor units
    upper: float | None = None

    @property
    def changed(self) -> bool:
        return self.final_price != self.recommended_price


class GuardrailConflict(ValueError):
    """The policy's rules leave no acceptable price; `conflicts` holds the disagreeing pairs."""

    def __init__(self, conflicts: list[tuple[Bound, Bound]]):
        self.conflicts = conflicts
        reasons = [_conflict_reason(lo, up) for lo, up in conflicts]
        super().__init__("inconsistent guardrails: " + "; ".join(reasons))


def bounds(
    policy: GuardrailPolicy | Mapping[str, Any] | None,
    current_price: float | None = None,
    cheapest_competitor: float | None = None,
) -> tuple[list[Bound], list[str]]:
    """Every active hard rule as a Bound, plus notes on configured rules that lack an input."""
    policy = _as_policy(policy)
    current = _positive_or_none("current_price", current_price)
    cheapest = _positive_or_none("cheapest_competitor", cheapest_competitor)
    out = [Bound(POSITIVE, "lower", MIN_PRICE_CENTS / 100, "")]
    skipped: list[str] = []
    rules = [r for r in ("min_markup", "min_margin") if getattr(policy, r) is not None]
    if policy.cost is not None and rules:
        floors = []
        if policy.min_markup is not None:
            factor = 1 + policy.min_markup
            floors.append((policy.cost * factor, f"cost {_num(policy.cost)} × {_num(factor)}"))
        if policy.min_margin is not None:
            keep = 1 - policy.min_margin
            floors.append((policy.cost / keep, f"cost {_num(policy.cost)} / {_num(keep)}"))
        value, detail = max(floors)
        out.append(Bound(FLOOR, "lower", value, detail))
    elif rules:
        skipped.append(f"floor: {' and '.join(rules)} {'is' if len(rules) == 1 else 'are'} set but no cost is known")
    elif policy.cost is not None:
        skipped.append("floor: cost is set but no min_margin or min_markup")
    if policy.map_price is not None:
        out.append(Bound(MAP, "lower", policy.map_price, ""))
    if policy.ceiling is not None:
        out.append(Bound(CEILING, "upper", policy.ceiling, ""))
    if policy.max_change is not None:
        if current is None:
            skipped.append("max_change: no current_price given")
        else:
            mc, cur = _num(policy.max_change), _num(current)
            out.append(Bound(MAX_CHANGE, "lower", current * (1 - policy.max_change),
                             f"current {cur} × (1 − {mc})"))
            out.append(Bound(MAX_CHANGE, "upper", current * (1 + policy.max_change),
                             f"current {cur} × (1 + {mc})"))
    if policy.max_above_cheapest is not None:
        if cheapest is None:
            skipped.append("max_above_cheapest: no cheapest_competitor given")
        else:
            factor = 1 + policy.max_above_cheapest
            out.append(Bound(COMPETITOR, "upper", cheapest * factor,
                             f"cheapest competitor {_num(cheapest)} × {_num(factor)}"))
    return out, skipped


def check(
    price: float,
    policy: GuardrailPolicy | Mapping[str, Any] | None,
    current_price: float | None = None,
    cheapest_competitor: float | None = None,
) -> list[str]:
    """Hard rules that `price` breaks, as "rule: explanation" lines; [] means it is acceptable.

    The price ending is a preference, not a hard rule, so it is never reported here.
    """
    price = _finite("price", price)
    found, _ = bounds(policy, current_price, cheapest_competitor)
    out = []
    for b in found:
        if b.violated_by(price):
            where = "below" if b.side == "lower" else "above"
            out.append(f"{b.rule}: {_money(price)} is {where} {b.describe()}")
    return out


def apply_guardrails(
    price: float,
    policy: GuardrailPolicy | Mapping[str, Any] | None,
    current_price: float | None = None,
    cheapest_competitor: float | None = None,
) -> GuardrailResult:
    """Clamp `price` into the policy's allowed range, then apply the ending if one fits.

    Raises GuardrailConflict when the rules leave no price in whole minor units, and
    ValueError when price/current_price/cheapest_competitor is not a finite (positive) number.
    """
    price = _finite("price", price)
    policy = _as_policy(policy)
    found, skipped = bounds(policy, current_price, cheapest_competitor)
    lowers = [b for b in found if b.side == "lower"]
    uppers = [b for b in found if b.side == "upper"]
    # The first bound in rule order wins ties, so the reported rule is stable.
    lo = max(lowers, key=lambda b: b.cents)
    up = min(uppers, key=lambda b: b.cents) if uppers else None
    if up is not None and lo.cents > up.cents:
        pairs = [(a, b) for a in lowers for b in uppers if a.cents > b.cents]
        raise GuardrailConflict(pairs)

    result = GuardrailResult(
        final_price=price,
        recommended_price=price,
        active=list(dict.fromkeys(b.rule for b in found)),
        skipped=skipped,
        lower=lo.cents / 100,
        upper=None if up is None else up.cents / 100,
    )
    cents = _to_cents(price)
    _record(result, ROUNDING, price, cents, "rounded to whole minor units")
    if cents < lo.cents:
        before, cents = cents, lo.cents
        _record(result, lo.rule, before / 100, cents, f"raised to {lo.describe()}")
    elif up is not None and cents > up.cents:
        before, cents = cents, up.cents
        _record(result, up.rule, before / 100, cents, f"lowered to {up.describe()}")

    if policy.ending != "none":
        result.active.append(ENDING)
        ended, note = _apply_ending(cents, policy.ending, lo.cents, None if up is None else up.cents)
        if note:
            result.notes.append(note)
        _record(result, ENDING, cents / 100, ended, f"moved to the nearest '{policy.ending}' ending")
        cents = ended
    result.final_price = cents / 100
    return result


def _apply_ending(cents: int, ending: str, lo: int, up: int | None) -> tuple[int, str]:
    """Nearest ending-conforming price inside [lo, up]; ties and equal distances go downward.

    The allowed range is an interval, so only the nearest ending below and the nearest above
    can be the answer: if one falls outside, every ending further out on that side does too.
    """
    step, rest = (100, 99) if ending == ".99" else (1000, 900)
    if cents % step == rest:
        return cents, ""
    down = cents - (cents - rest) % step
    up_c = down + step
    candidates = sorted((c for c in (down, up_c) if c >= MIN_PRICE_CENTS),
                        key=lambda c: (abs(c - cents), c))
    for c in candidates:
        if c >= lo and (up is None or c <= up):
            return c, ""
    shown = " and ".join(_money(c / 100) for c in sorted(candidates))
    upper = "no limit" if up is None else _money(up / 100)
    return cents, (f"ending '{ending}' not applied: the nearest endings ({shown}) are outside "
                   f"the allowed range {_money(lo / 100)} – {upper}")


def _record(result: GuardrailResult, rule: str, before: float, after_cents: int, detail: str) -> None:
    after = after_cents / 100
    if after != before:
        result.applied.append(AppliedRule(rule, before, after, detail))


def _conflict_reason(lo: Bound, up: Bound) -> str:
    if lo.value > up.value + _tol(up.value):
        return f"{lo.describe()} is above {up.describe()}"
    # Both bounds fall between the same two whole minor units.
    return (f"{lo.describe()} and {up.describe()} leave no price in whole minor units "
            f"(between {lo.value:.6g} and {up.value:.6g})")


def _as_policy(policy: GuardrailPolicy | Mapping[str, Any] | None) -> GuardrailPolicy:
    if policy is None:
        return GuardrailPolicy()
    if isinstance(policy, GuardrailPolicy):
        return policy
    return GuardrailPolicy.model_validate(policy)


def _finite(name: str, value: float) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(out) or abs(out) > MAX_MONEY:
        raise ValueError(f"{name} must be a finite number within ±{MAX_MONEY:,.0f}, got {value!r}")
    return out


def _positive_or_none(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    out = _finite(name, value)
    if out <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return out


def _to_cents(price: float) -> int:
    # round() on the scaled float is exact enough for prices below 1e13 minor units.
    return int(round(price * 100))


def _tol(value: float) -> float:
    # Float noise such as 1000 × 1.15 = 1149.9999999999998 must not cost a minor unit.
    return 1e-9 * max(1.0, abs(value))


def _money(value: float) -> str:
    return f"{value:,.2f}"


def _num(value: float) -> str:
    return f"{value:,.10g}"
