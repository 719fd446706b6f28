"""Tests for assistant/guardrails.py: each rule, conflicts, endings, and property tests.

Run: .venv/bin/pytest tests/test_guardrails.py -q   (budget < 20 s)
"""
from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from assistant.guardrails import (
    AppliedRule,
    GuardrailConflict,
    GuardrailPolicy,
    apply_guardrails,
    bounds,
    check,
)


def rules(result):
    return [a.rule for a in result.applied]


# --- each rule -----------------------------------------------------------------------------


def test_floor_raises_price_to_cost_plus_margin():
    r = apply_guardrails(900, GuardrailPolicy(cost=1000, min_markup=0.15))
    assert r.final_price == 1150.0
    assert r.applied == [
        AppliedRule("floor", 900.0, 1150.0, "raised to floor 1,150.00 (cost 1,000 × 1.15)")
    ]
    assert "floor" in r.active


def test_floor_needs_both_cost_and_margin():
    r = apply_guardrails(10, GuardrailPolicy(min_markup=0.2))
    assert r.final_price == 10.0 and "floor" not in r.active
    assert r.skipped == ["floor: min_markup is set but no cost is known"]
    r = apply_guardrails(10, GuardrailPolicy(cost=50))
    assert r.final_price == 10.0 and r.skipped == ["floor: cost is set but no min_margin or min_markup"]


def test_float_noise_in_floor_does_not_cost_a_minor_unit():
    # 1000 × 1.15 is 1149.9999999999998 in floats; the floor must still be 1,150.00.
    r = apply_guardrails(1000, GuardrailPolicy(cost=1000, min_markup=0.15))
    assert r.final_price == 1150.0
    assert check(1150.0, GuardrailPolicy(cost=1000, min_markup=0.15)) == []
    assert check(1149.99, GuardrailPolicy(cost=1000, min_markup=0.15)) != []
    # 100 × 1.1 is 110.00000000000001: rounding it up naively would give 110.01.
    assert apply_guardrails(100, GuardrailPolicy(cost=100, min_markup=0.1)).final_price == 110.0


def test_map_is_a_lower_bound():
    r = apply_guardrails(79.5, GuardrailPolicy(map_price=89.99))
    assert r.final_price == 89.99 and rules(r) == ["map"]
    assert apply_guardrails(95, GuardrailPolicy(map_price=89.99)).final_price == 95.0


def test_ceiling_is_an_upper_bound():
    r = apply_guardrails(1250, GuardrailPolicy(ceiling=1100))
    assert r.final_price == 1100.0 and rules(r) == ["ceiling"]
    assert r.applied[0].detail == "lowered to ceiling 1,100.00"


@pytest.mark.parametrize(
    ("price", "expected", "detail"),
    [
        (1500, 1150.0, "lowered to max_change upper limit 1,150.00 (current 1,000 × (1 + 0.15))"),
        (500, 850.0, "raised to max_change lower limit 850.00 (current 1,000 × (1 − 0.15))"),
    ],
)
def test_max_change_limits_both_directions(price, expected, detail):
    r = apply_guardrails(price, GuardrailPolicy(max_change=0.15), current_price=1000)
    assert r.final_price == expected
    assert r.applied == [AppliedRule("max_change", float(price), expected, detail)]


def test_max_change_is_skipped_without_current_price():
    r = apply_guardrails(1500, GuardrailPolicy(max_change=0.15))
    assert r.final_price == 1500.0
    assert r.skipped == ["max_change: no current_price given"]
    assert "max_change" not in r.active


def test_competitor_cap_and_undercut():
    p = GuardrailPolicy(max_above_cheapest=0.05)
    r = apply_guardrails(120, p, cheapest_competitor=100)
    assert r.final_price == 105.0 and rules(r) == ["max_above_cheapest"]
    # A negative value means "at least 10 % below the cheapest competitor".
    r = apply_guardrails(100, GuardrailPolicy(max_above_cheapest=-0.10), cheapest_competitor=100)
    assert r.final_price == 90.0
    r = apply_guardrails(120, p)
    assert r.final_price == 120.0
    assert r.skipped == ["max_above_cheapest: no cheapest_competitor given"]


def test_price_is_never_zero_or_negative():
    r = apply_guardrails(-3.2, None)
    assert r.final_price == 0.01 and rules(r) == ["positive"]
    assert apply_guardrails(0, {}).final_price == 0.01


def test_price_is_rounded_to_minor_units():
    r = apply_guardrails(12.3456, None)
    assert r.final_price == 12.35
    assert r.applied == [AppliedRule("rounding", 12.3456, 12.35, "rounded to whole minor units")]


def test_all_rules_together_use_the_interval_intersection():
    policy = GuardrailPolicy(cost=80, min_markup=0.25, map_price=95, ceiling=140, max_change=0.2,
                             max_above_cheapest=0.1)
    # lower = max(100 floor, 95 MAP, 96 max_change) = 100; upper = min(140, 144, 132) = 132
    r = apply_guardrails(150, policy, current_price=120, cheapest_competitor=120)
    assert (r.lower, r.upper) == (100.0, 132.0)
    assert r.final_price == 132.0 and rules(r) == ["max_above_cheapest"]
    r = apply_guardrails(50, policy, current_price=120, cheapest_competitor=120)
    assert r.final_price == 100.0 and rules(r) == ["floor"]
    assert r.active == ["positive", "floor", "map", "ceiling", "max_change", "max_above_cheapest"]


def test_policy_can_be_a_mapping():
    r = apply_guardrails(10, {"ceiling": 8, "ending": ".99"})
    assert r.final_price == 7.99


# --- conflicts -----------------------------------------------------------------------------


def test_conflict_names_the_rules_and_their_values():
    policy = GuardrailPolicy(cost=1000, min_markup=0.15, ceiling=1100)
    with pytest.raises(GuardrailConflict) as err:
        apply_guardrails(1050, policy)
    assert str(err.value) == (
        "inconsistent guardrails: floor 1,150.00 (cost 1,000 × 1.15) is above ceiling 1,100.00"
    )
    assert isinstance(err.value, ValueError)
    (lo, up), = err.value.conflicts
    assert (lo.rule, up.rule) == ("floor", "ceiling")


def test_conflict_lists_every_disagreeing_pair():
    policy = GuardrailPolicy(map_price=1300, ceiling=1200, max_change=0.1)
    with pytest.raises(GuardrailConflict) as err:
        apply_guardrails(1000, policy, current_price=1000)
    msg = str(err.value)
    assert "MAP 1,300.00 is above ceiling 1,200.00" in msg
    assert "MAP 1,300.00 is above max_change upper limit 1,100.00 (current 1,000 × (1 + 0.1))" in msg
    assert len(err.value.conflicts) == 2


def test_conflict_when_no_whole_minor_unit_fits():
    policy = GuardrailPolicy(map_price=10.001, ceiling=10.004)
    with pytest.raises(GuardrailConflict, match="leave no price in whole minor units"):
        apply_guardrails(10, policy)


# --- policy and input validation -----------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"cost": -1},
        {"min_markup": -0.1}, {"min_margin": 1.0},
        {"min_markup": 15},
        {"max_change": 0},
        {"max_change": 1.5},
        {"ceiling": 0},
        {"ceiling": -5},
        {"map_price": float("nan")},
        {"max_above_cheapest": -1},
        {"ending": ".95"},
    ],
)
def test_invalid_policy_names_the_field(bad):
    with pytest.raises(ValidationError) as err:
        GuardrailPolicy(**bad)
    assert err.value.errors()[0]["loc"] == (next(iter(bad)),)


def test_unknown_policy_field_is_rejected():
    with pytest.raises(ValidationError, match="max_chnage"):
        apply_guardrails(10, {"max_chnage": 0.1})


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"price": float("nan")}, "price"),
        ({"price": "cheap"}, "price"),
        ({"price": 10, "current_price": 0}, "current_price"),
        ({"price": 10, "cheapest_competitor": -4}, "cheapest_competitor"),
        ({"price": 10, "current_price": float("inf")}, "current_price"),
    ],
)
def test_bad_inputs_raise_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name} must"):
        apply_guardrails(policy=GuardrailPolicy(max_change=0.1, max_above_cheapest=0.1), **kwargs)


# --- check ---------------------------------------------------------------------------------


def test_check_lists_each_violated_rule():
    policy = GuardrailPolicy(cost=100, min_markup=0.2, ceiling=200, max_change=0.1, ending=".99")
    assert check(150, policy, current_price=150) == []
    out = check(110, policy, current_price=150)
    assert out == [
        "floor: 110.00 is below floor 120.00 (cost 100 × 1.2)",
        "max_change: 110.00 is below max_change lower limit 135.00 (current 150 × (1 − 0.1))",
    ]
    assert [line.split(":")[0] for line in check(250, policy)] == ["ceiling"]
    assert check(0, None) == ["positive: 0.00 is below minimum price 0.01"]


# --- price endings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "ending", "expected"),
    [
        (12.50, ".99", 12.99),  # 0.49 up beats 0.51 down
        (12.30, ".99", 11.99),
        (12.99, ".99", 12.99),  # already conforming: untouched
        (1299.5, ".99", 1299.99),
        (500, "9", 499.0),
        (1305, "9", 1309.0),
        (1304, "9", 1299.0),  # equal distance: downward wins
        (499.5, "9", 499.0),
        (5, "9", 9.0),  # nothing below 9 ends in 9
        (0.4, ".99", 0.99),
    ],
)
def test_ending_moves_to_the_nearest_conforming_price(price, ending, expected):
    r = apply_guardrails(price, GuardrailPolicy(ending=ending))
    assert r.final_price == expected
    assert r.notes == []


def test_ending_searches_upward_when_downward_breaks_a_rule():
    r = apply_guardrails(500, GuardrailPolicy(map_price=500, ending="9"))
    assert r.final_price == 509.0
    assert rules(r) == ["ending"] and check(509, GuardrailPolicy(map_price=500)) == []
    r = apply_guardrails(13.2, GuardrailPolicy(ceiling=13.5, ending=".99"))
    assert r.final_price == 12.99  # 13.99 would break the ceiling


def test_ending_is_applied_after_clamping():
    r = apply_guardrails(2000, GuardrailPolicy(ceiling=1300, ending="9"))
    assert r.final_price == 1299.0
    assert rules(r) == ["ceiling", "ending"]


def test_ending_not_applied_when_no_conforming_price_fits():
    policy = GuardrailPolicy(map_price=500, ceiling=505, ending="9")
    r = apply_guardrails(502.37, policy)
    assert r.final_price == 502.37
    assert r.notes == [
        "ending '9' not applied: the nearest endings (499.00 and 509.00) are outside "
        "the allowed range 500.00 – 505.00"
    ]
    assert check(r.final_price, policy) == []


# --- properties ----------------------------------------------------------------------------

money = st.floats(min_value=0.01, max_value=20_000, allow_nan=False)
policies = st.builds(
    GuardrailPolicy,
    cost=st.none() | st.floats(min_value=0, max_value=10_000),
    min_markup=st.none() | st.floats(min_value=0, max_value=2),
    map_price=st.none() | money,
    ceiling=st.none() | money,
    max_change=st.none() | st.floats(min_value=0.001, max_value=1),
    max_above_cheapest=st.none() | st.floats(min_value=-0.9, max_value=1),
    ending=st.sampled_from(["none", ".99", "9"]),
)
prices = st.floats(min_value=-100, max_value=50_000, allow_nan=False) | st.integers(1, 5000).map(
    lambda c: c / 100
)


def independent_range(policy, current, cheapest):
    """The allowed range written out from the rules, not via the module's Bound objects."""
    lower = [0.01]
    upper = []
    if policy.cost is not None and policy.min_markup is not None:
        lower.append(policy.cost * (1 + policy.min_markup))
    if policy.map_price is not None:
        lower.append(policy.map_price)
    if policy.ceiling is not None:
        upper.append(policy.ceiling)
    if policy.max_change is not None and current is not None:
        lower.append(current * (1 - policy.max_change))
        upper.append(current * (1 + policy.max_change))
    if policy.max_above_cheapest is not None and cheapest is not None:
        upper.append(cheapest * (1 + policy.max_above_cheapest))
    return max(lower), min(upper, default=math.inf)


def satisfies_ending(price, ending):
    cents = round(price * 100)
    if ending == ".99":
        return cents % 100 == 99
    if ending == "9":
        return cents % 1000 == 900
    return True


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(price=prices, policy=policies, current=st.none() | money, cheapest=st.none() | money)
def test_result_obeys_every_rule_or_conflict_is_real(price, policy, current, cheapest):
    lo, up = independent_range(policy, current, cheapest)
    try:
        r = apply_guardrails(price, policy, current, cheapest)
    except GuardrailConflict as err:
        assert str(err).startswith("inconsistent guardrails: ") and err.conflicts
        assert lo > up - 0.01  # really inconsistent, or no whole cent in between
        smallest_allowed = math.ceil(lo * 100 - 1e-6) / 100
        assert check(smallest_allowed, policy, current, cheapest) != []
        return
    assert lo <= up + 1e-9
    f = r.final_price
    assert check(f, policy, current, cheapest) == []
    assert f > 0 and round(f, 2) == f
    assert lo - 1e-6 <= f <= up + 1e-6
    if policy.ending != "none" and not r.notes:
        assert satisfies_ending(f, policy.ending)
    if policy.ending == "none":
        # Without an ending the result is the rounded price clamped into the range.
        rounded = round(price * 100) / 100
        assert f == min(max(rounded, r.lower), r.upper if r.upper is not None else math.inf)
    again = apply_guardrails(f, policy, current, cheapest)
    assert again.final_price == f and again.applied == []


@settings(max_examples=200, deadline=None)
@given(policy=policies, current=st.none() | money, cheapest=st.none() | money, data=st.data())
def test_price_inside_all_bounds_is_unchanged(policy, current, cheapest, data):
    policy = policy.model_copy(update={"ending": "none"})
    try:
        r = apply_guardrails(1.0, policy, current, cheapest)
    except GuardrailConflict:
        assume(False)
    top = round(r.upper * 100) if r.upper is not None else round(r.lower * 100) + 10**6
    cents = data.draw(st.integers(round(r.lower * 100), top))
    price = cents / 100
    assert check(price, policy, current, cheapest) == []
    out = apply_guardrails(price, policy, current, cheapest)
    assert out.final_price == price and out.applied == []


def test_bounds_reports_active_rules_and_skips():
    found, skipped = bounds({"cost": 10, "min_markup": 0.5, "max_change": 0.2}, None, 9.0)
    assert [(b.rule, b.side, b.value) for b in found] == [
        ("positive", "lower", 0.01),
        ("floor", "lower", 15.0),
    ]
    assert skipped == ["max_change: no current_price given"]


def test_min_margin_is_a_share_of_the_price_and_min_markup_is_over_cost():
    # margin = (price − cost) / price: 25 % of the price on a cost of 2,000 needs 2,666.67
    assert apply_guardrails(100, GuardrailPolicy(cost=2000, min_margin=0.25)).final_price == 2666.67
    # markup = (price − cost) / cost: 25 % over a cost of 2,000 needs 2,500
    assert apply_guardrails(100, GuardrailPolicy(cost=2000, min_markup=0.25)).final_price == 2500.0
    # both: the higher floor holds
    both = GuardrailPolicy(cost=2000, min_margin=0.25, min_markup=0.25)
    assert apply_guardrails(100, both).final_price == 2666.67
