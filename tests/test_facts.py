"""Fact sheets: formatting and comparisons computed in code. Run: pytest tests/test_facts.py"""
from __future__ import annotations

import pytest

from assistant.facts import Fact, FactSheet, build_fact_sheet, format_money, pct_diff


def test_money_formats_symbols_and_thousands():
    assert format_money(1299, "INR") == "₹1,299.00"
    assert format_money(1234567.5, "GBP") == "£1,234,567.50"
    assert format_money(12.5, "BRL") == "R$12.50"
    assert format_money(3, "USD") == "$3.00"
    assert format_money(7.25, "EUR") == "€7.25"
    assert format_money(3, "CAD") == "CAD 3.00"
    assert format_money(3, None) == "3.00"


def test_pct_diff_direction_from_rounded_value():
    assert pct_diff(90, 100) == (-10.0, "below")
    assert pct_diff(110, 100) == (10.0, "above")
    # 0.04 % rounds to 0.0: the direction must say "equal", never "0.0% below"
    assert pct_diff(100.04, 100) == (0.0, "equal")
    with pytest.raises(ValueError):
        pct_diff(1, 0)


def test_build_computes_comparisons():
    s = build_fact_sheet(recommended_price=899, currency="INR", interval=(820, 960.5),
                         current_price=999, category_median=1024.5, category_count=1234,
                         competitor_prices=[1200, 949, 1010, 899.5], comparables_count=12,
                         drivers=[("brand median price", -55.2)], guardrails=["cost floor"])
    assert s["vs_category_median_pct"].value == -12.2
    assert s["vs_category_median_pct"].direction == "below"
    assert s["vs_category_median_pct"].format() == "12.2%"  # magnitude; words carry the sign
    assert s["change_pct"].value == -10.0 and s["change_pct"].direction == "below"
    assert s["change_amount"].value == 100.0 and s["change_amount"].direction == "below"
    assert s["cheapest_competitor"].value == 899.5
    assert s["competitor_median"].value == pytest.approx((949 + 1010) / 2)
    assert s["vs_cheapest_competitor_pct"].direction == "below"
    assert s["competitor_count"].format() == "4"
    assert s["category_count"].format() == "1,234"
    assert s["driver_1_effect"].direction == "below" and s["driver_1_effect"].value == 55.2
    assert s["guardrail_1"].value == "cost floor"
    assert s.ids()[0] == "recommended_price"


def test_above_and_explicit_competitor_stats():
    s = build_fact_sheet(recommended_price=42, currency="USD", category_median=41,
                         cheapest_competitor=40, competitor_count=2)
    assert s["vs_category_median_pct"].direction == "above"
    assert s["vs_category_median_pct"].value == 2.4
    assert s["vs_cheapest_competitor_pct"].value == 5.0
    assert "competitor_median" not in s


def test_prompt_rendering_lines():
    s = build_fact_sheet(recommended_price=1299, currency="INR", category_median=1500,
                         product_title="Kettle {recommended_price}")
    lines = s.render_for_prompt(sanitize=lambda t: t.replace("{", "").replace("}", "")).splitlines()
    assert lines[0].startswith("{recommended_price}: ₹1,299.00")
    assert lines[1].startswith("{category_median}: ₹1,500.00")
    assert lines[2].endswith('say: "{vs_category_median_pct} below the category median of {category_median}"')
    assert lines[-1].startswith('{product_title}: "Kettle recommended_price"')
    assert (s.render_for_prompt(ids=["category_median"])
            == "{category_median}: ₹1,500.00  (median price in the category)")


def test_bad_input_names_the_field():
    with pytest.raises(ValueError, match="recommended_price"):
        build_fact_sheet(recommended_price=float("nan"), currency="INR")
    with pytest.raises(ValueError, match="interval"):
        build_fact_sheet(recommended_price=10, currency="INR", interval=(12, 11))
    with pytest.raises(ValueError, match=r"competitor_prices\[1\]"):
        build_fact_sheet(recommended_price=10, currency="INR", competitor_prices=[9, "abc"])
    with pytest.raises(ValueError, match="comparables_count"):
        build_fact_sheet(recommended_price=10, currency="INR", comparables_count=-1)
    with pytest.raises(ValueError, match="duplicate"):
        FactSheet([Fact("a_b", 1.0, "count"), Fact("a_b", 2.0, "count")])
    with pytest.raises(ValueError, match="text fact"):
        Fact("title", 3.0, "text")


def test_every_phrase_verifies():
    from assistant.verify import verify

    for kw in (dict(current_price=999, category_median=1024.5, competitor_prices=[949, 1010, 880]),
               dict(current_price=899, category_median=899, competitor_prices=[899])):
        s = build_fact_sheet(recommended_price=899, currency="INR", interval=(820, 960),
                             category_count=40, comparables_count=12,
                             drivers=[("brand", -5.0), ("rating", 2.0)], **kw)
        phrases = [f.phrase for f in s if f.phrase]
        assert len(phrases) >= 6
        for p in phrases:
            v = verify(f"It is {p}.", s)
            assert v.ok, (p, v.problems)


def test_drivers_form_a_waterfall_that_adds_up():
    from assistant.facts import shares_of, waterfall

    model_price = 1149.11
    base, steps = waterfall(model_price, [120.0, -30.5, 8.25, -0.4])
    assert round(base + sum(steps), 2) == model_price  # to the cent
    assert steps[0] > 0 and steps[1] < 0 and abs(steps[0]) > abs(steps[2])
    s = build_fact_sheet(recommended_price=1149.0, currency="INR",
                         drivers=[("the product text", steps[0]), ("the reviews", steps[1]),
                                  ("the brand's prices", steps[2]), ("other factors", steps[3])], driver_base=base)
    signed = [(1 if s[f"driver_{i}_effect"].direction == "above" else -1) * s[f"driver_{i}_effect"].value
              for i in range(1, 5)]
    assert round(s["driver_base"].value + sum(signed), 2) == model_price
    shares = [s[f"driver_{i}_share"].value for i in range(1, 5)]
    assert round(sum(shares), 1) == 100.0 and shares == sorted(shares, reverse=True)
    assert sum(shares_of([1, 1, 1])) == pytest.approx(100.0)


def test_suggestion_sheet_words_scope_rules_and_demand():
    from assistant.facts import suggestion_fact_sheet
    from assistant.suggestion import (
        DemandOutcome,
        Driver,
        ElasticityEvidence,
        Evidence,
        GroupStats,
        GuardrailStep,
        Interval,
        Suggestion,
    )

    ev = Evidence(category=GroupStats(name="all products", median=500, n=9000, level=0),
                  drivers=[Driver(group="text", effect_pct=40.0), Driver(group="reviews", effect_pct=-12.5),
                           Driver(group="brand", effect_pct=0.5)],
                  elasticity=ElasticityEvidence(beta=-1.8, source="product", rule="profit_optimum",
                                                expected=DemandOutcome(price=640, units=31.4, units_low=20,
                                                                       units_high=40, revenue=20096, revenue_low=0,
                                                                       revenue_high=0, profit=8164.0,
                                                                       period_days=30)))
    s = Suggestion(suggestion_id="x", product_id="P1", title="Steel Bottle", currency="INR", recommended_price=640,
                   model_price=612.4, mode="demand-aware", interval=Interval(low=500, high=800, coverage=0.8),
                   evidence=ev, guardrails=[GuardrailStep(rule="floor", before=600, after=640)], confidence=0.3,
                   model_version="t", created_at="")
    sh = suggestion_fact_sheet(s)
    assert "category_name" not in sh and "category median" not in sh["category_median"].names
    assert sh["guardrail_1"].value == "cost floor" and sh["step_1_rule"].value == "cost floor"
    assert sh["pricing_rule"].value == "profit optimum" and sh["expected_profit"].value == 8164.0
    assert sh["profit_period"].value == "per month" and sh["confidence_level"].value == "low"
    assert [sh[f"driver_{i}"].value for i in (1, 2, 3)] == ["the product text", "the reviews", "other factors"]
    signed = [(1 if sh[f"driver_{i}_effect"].direction == "above" else -1) * sh[f"driver_{i}_effect"].value
              for i in (1, 2, 3)]
    assert round(sh["driver_base"].value + sum(signed), 2) == 612.4
