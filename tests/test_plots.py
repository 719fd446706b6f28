"""Workspace figures: what is drawn where, PNG output, and bad input named. Budget: < 5 s."""
from __future__ import annotations

import pytest

from assistant.suggestion import (
    Comparable,
    CompetitorOfferOut,
    Evidence,
    GroupStats,
    Interval,
    Suggestion,
    WhatIfOut,
)
from assistant.web.plots import (
    comparables_figure,
    competitors_figure,
    demand_figure,
    figure_for_suggestion,
    figure_png,
)


def _vlines(ax) -> list[float]:
    return [line.get_xdata()[0] for line in ax.lines if len(set(line.get_xdata())) == 1]


def test_comparables_marks_price_interval_and_median():
    fig = comparables_figure([499, 520, 610, 700, 455], recommended=549, low=480, high=640,
                             currency="INR", category=(450, 530, 650))
    ax = fig.axes[0]
    assert 549 in _vlines(ax) and 530 in _vlines(ax)
    spans = [p for p in ax.patches if p.get_x() == 480]
    assert spans and spans[0].get_width() == pytest.approx(160)     # the interval band
    assert sum(p.get_height() for p in ax.patches if p.get_x() != 480) == 5   # histogram counts
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "suggested 549.00" in labels and "5 comparables" in labels
    assert "INR" in ax.get_xlabel()
    png = figure_png(fig)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_competitors_sorted_and_cheaper_highlighted():
    fig = competitors_figure([("shopB", 575.0), ("shopA", 529.0), ("shopC", 549.0)], recommended=549,
                             current=599, currency="GBP")
    ax = fig.axes[0]
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert names == ["shopA", "shopC", "shopB"]
    bars = [p for p in ax.patches]
    assert [round(b.get_width(), 2) for b in bars] == [529.0, 549.0, 575.0]
    # only the offer below our price is highlighted; equal is not "cheaper"
    assert bars[0].get_facecolor() != bars[1].get_facecolor() == bars[2].get_facecolor()
    assert set(_vlines(ax)) == {549, 599}


def test_empty_inputs_draw_a_message_not_an_error():
    ax = competitors_figure([], recommended=10).axes[0]
    assert any("no competitor offers" in t.get_text() for t in ax.texts)
    ax = comparables_figure([], recommended=10, low=8, high=12).axes[0]
    assert any("no comparable products" in t.get_text() for t in ax.texts)


@pytest.mark.parametrize("call, field", [
    (lambda: comparables_figure([100, float("nan")], recommended=90), "prices[1]"),
    (lambda: comparables_figure([100], recommended=-5), "recommended"),
    (lambda: comparables_figure([100], recommended=90, low=95), "low/high"),
    (lambda: comparables_figure([100], recommended=90, low=120, high=95), "interval"),
    (lambda: competitors_figure([("a", 0)], recommended=90), "offers[0] price"),
])
def test_bad_values_are_named(call, field):
    with pytest.raises(ValueError, match=field.replace("[", r"\[").replace("]", r"\]")):
        call()


def test_figure_for_suggestion_has_both_panels():
    s = Suggestion(
        suggestion_id="s1", product_id="p1", title="Kettle", currency="BRL", recommended_price=89.9,
        model_price=87.0, interval=Interval(low=70, high=110, coverage=0.8), current_price=95.0,
        evidence=Evidence(
            comparables=[Comparable(product_id=f"c{i}", title="k", price=80 + i, similarity=0.6)
                         for i in range(6)],
            competitors=[CompetitorOfferOut(competitor="rival", price=85.0)],
            category=GroupStats(name="Kitchen", median=90, p25=75, p75=105, n=40)),
        confidence=0.7, model_version="t", created_at="2026-01-01T00:00:00+00:00")
    top, bottom = figure_for_suggestion(s).axes
    assert 89.9 in _vlines(top) and 90 in _vlines(top)
    assert {89.9, 95.0} == set(_vlines(bottom))


def _curve(cost: float | None = 20.0) -> list[WhatIfOut]:
    """A constant-elasticity curve (beta -2 around 40 BRL / 10 units), ±30% intervals."""
    out = []
    for price in (30.0, 35.0, 40.0, 45.0, 50.0):
        u = 10 * (price / 40) ** -2
        m = None if cost is None else price - cost
        out.append(WhatIfOut(price=price, units=u, units_low=0.7 * u, units_high=1.3 * u,
                             revenue=price * u, revenue_low=0.7 * price * u,
                             revenue_high=1.3 * price * u, profit=None if m is None else m * u,
                             profit_low=None if m is None else 0.7 * m * u,
                             profit_high=None if m is None else 1.3 * m * u,
                             extrapolated=not 35 <= price <= 45, level=0.9, period_days=30.0))
    return out


def test_demand_figure_curves_bands_and_marked_prices():
    fig = demand_figure(_curve(), current=44.9, recommended=38.0, candidate=47.5, currency="BRL",
                        observed=(35.0, 45.0))
    top, bottom = fig.axes
    for ax, name in ((top, "expected units"), (bottom, "expected profit")):
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert {name, "interval", "current 44.90", "suggested 38.00", "what-if 47.50",
                "sold at 35.00–45.00"} <= set(labels)
        assert set(_vlines(ax)) == {44.9, 38.0, 47.5}
        curve = next(line for line in ax.lines if line.get_label() == name)
        assert list(curve.get_xdata()) == [30.0, 35.0, 40.0, 45.0, 50.0]
        assert len(ax.collections) == 1            # the interval band (fill_between)
    units = next(line for line in top.lines if line.get_label() == "expected units").get_ydata()
    assert units[2] == pytest.approx(10) and list(units) == sorted(units, reverse=True)
    profit = next(line for line in bottom.lines if line.get_label() == "expected profit").get_ydata()
    assert profit[2] == pytest.approx((40 - 20) * 10)
    assert "profit per month" in bottom.get_ylabel() and "BRL" in bottom.get_xlabel()
    assert figure_png(fig)[:4] == b"\x89PNG"


def test_demand_figure_without_cost_shows_revenue_and_empty_curve_a_message():
    top, bottom = demand_figure(_curve(cost=None), recommended=40.0).axes
    assert "expected revenue" in [line.get_label() for line in bottom.lines]
    assert "no unit cost" in bottom.get_ylabel()
    assert set(_vlines(top)) == {40.0}                     # only the prices given are marked
    top, _ = demand_figure([], recommended=40.0).axes
    assert any("no demand curve" in t.get_text() for t in top.texts)


@pytest.mark.parametrize("kw, field", [
    ({"points": [{"price": -1, "units": 1}]}, "points[0].price"),
    ({"points": [{"price": 10, "units": float("inf")}]}, "points[0].units"),
    ({"points": [{"price": 10, "units": None}]}, "points[0].units"),
    ({"points": [], "candidate": 0}, "what-if"),
    ({"points": [], "observed": (50, 40)}, "observed"),
])
def test_demand_figure_bad_values_are_named(kw, field):
    with pytest.raises(ValueError, match=field.replace("[", r"\[").replace("]", r"\]")):
        demand_figure(**kw)
