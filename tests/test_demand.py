"""Tests for models/demand.py: profit optimum, caps and flags, what-ifs, clearance price."""
from __future__ import annotations

import math

import numpy as np
import pytest

from models.demand import clearance_price, optimal_price, what_if, what_if_curve
from models.elasticity import ElasticityEstimate, ElasticityModel, NoDemandModel, simulate_sales


def _estimate(beta=-2.5, price_range=(10.0, 30.0), ref_price=20.0, ref_quantity=100.0,
              se=0.2, source="product", flags=()):
    z = 1.6448536269514722
    return ElasticityEstimate(product_id="p", category="c", beta=beta, se=se,
                              low=beta - z * se, high=beta + z * se, n_obs=24,
                              price_range=price_range, source=source, flags=flags,
                              ref_price=ref_price, ref_quantity=ref_quantity, ref_log_se=0.05)


def _profit(p, cost, est):
    return (p - cost) * est.ref_quantity * (p / est.ref_price) ** est.beta


def test_optimum_equals_analytic_optimum_inside_bounds():
    est = _estimate(beta=-2.5)
    cost = 10.0
    opt = optimal_price(cost, est, market_price=17.0, lower=11.0, upper=25.0)
    analytic = cost * est.beta / (1 + est.beta)  # 16.67
    assert opt.price == pytest.approx(analytic)
    assert opt.unconstrained_price == pytest.approx(analytic)
    assert opt.mode == "demand-aware" and opt.binding is None
    assert "capped" not in opt.flags and "extrapolated" not in opt.flags
    grid = np.linspace(*opt.search_range, 2001)
    assert _profit(opt.price, cost, est) >= _profit(grid, cost, est).max() - 1e-9
    assert opt.expected.profit == pytest.approx(_profit(analytic, cost, est))


@pytest.mark.parametrize("kwargs, price, binding", [
    (dict(upper=15.0), 15.0, "upper"),
    (dict(lower=18.0), 18.0, "lower"),
])
def test_hard_bounds_are_respected(kwargs, price, binding):
    opt = optimal_price(10.0, _estimate(), market_price=17.0, **kwargs)
    assert opt.price == pytest.approx(price) and opt.binding == binding
    assert "capped" in opt.flags


def test_observed_range_and_market_band_cap_the_search():
    # the product never sold below 20: the optimum 16.67 is capped at 20 * (1 - 10%)
    opt = optimal_price(10.0, _estimate(price_range=(20.0, 25.0)), market_price=22.0)
    assert opt.price == pytest.approx(18.0) and opt.binding == "observed_low"
    assert {"capped", "extrapolated"} <= set(opt.flags)  # 18 is below every observed price
    # a market at 30 keeps the price within 30% of it
    opt = optimal_price(10.0, _estimate(), market_price=30.0)
    assert opt.price == pytest.approx(21.0) and opt.binding == "market_low"
    assert opt.anchor == 30.0
    # no market price: the cheapest competitor anchors instead; neither: flagged
    by_competitor = optimal_price(10.0, _estimate(), None, cheapest_competitor=30.0)
    assert by_competitor.price == pytest.approx(21.0)
    assert "no_market_anchor" in optimal_price(10.0, _estimate(), None).flags


def test_inelastic_demand_is_capped_and_flagged():
    est = _estimate(beta=-0.6)
    opt = optimal_price(10.0, est, market_price=20.0, upper=40.0)
    assert opt.unconstrained_price is None
    assert {"inelastic", "capped"} <= set(opt.flags)
    assert opt.price == pytest.approx(26.0) and opt.binding == "market_high"  # 20 * 1.3
    positive = optimal_price(10.0, _estimate(beta=0.4), market_price=20.0, upper=22.0)
    assert positive.price == pytest.approx(22.0) and "inelastic" in positive.flags


def test_hard_bounds_outside_the_evidence_win():
    opt = optimal_price(10.0, _estimate(price_range=(10.0, 12.0)), market_price=11.0, lower=20.0)
    assert opt.price == pytest.approx(20.0) and opt.binding == "lower"
    assert {"outside_evidence", "extrapolated"} <= set(opt.flags)
    with pytest.raises(ValueError, match="lower 30.0 is above upper 20.0"):
        optimal_price(10.0, _estimate(), 20.0, lower=30.0, upper=20.0)


def test_flags_for_prior_only_no_cost_and_below_cost():
    est = _estimate(source="category", flags=("no_price_variation", "wide_interval"))
    opt = optimal_price(None, est, market_price=20.0)
    assert {"prior_only", "no_cost", "wide_interval"} <= set(opt.flags)
    assert opt.expected.profit is None
    # revenue maximum of elastic demand is the lowest allowed price
    assert opt.price == pytest.approx(opt.search_range[0])
    below = optimal_price(50.0, _estimate(), market_price=20.0)
    assert "below_cost" in below.flags and below.expected.profit < 0
    assert below.price == pytest.approx(below.search_range[1])  # the smallest loss


def test_what_if_intervals_contain_the_mean():
    est = _estimate()
    for price, cost in [(18.0, 10.0), (25.0, 10.0), (8.0, 10.0)]:
        w = what_if(price, cost, est)
        assert w.units_low < w.units < w.units_high
        assert w.revenue_low < w.revenue < w.revenue_high
        assert w.revenue == pytest.approx(price * w.units)
        assert w.profit_low <= w.profit <= w.profit_high
        assert w.profit == pytest.approx((price - cost) * w.units)
    assert what_if(8.0, 10.0, est).extrapolated and not what_if(18.0, 10.0, est).extrapolated
    curve = what_if_curve([15, 20, 25], 10.0, est)
    assert [c.price for c in curve] == [15, 20, 25]
    assert curve[0].units > curve[1].units > curve[2].units
    assert curve[1].units == pytest.approx(est.ref_quantity)
    mid = what_if(20.0, 10.0, est)
    assert what_if(20.0, 10.0, est, level=0.99).units_high > mid.units_high


def test_no_demand_model_is_refused_clearly():
    est = ElasticityEstimate(product_id="z", category=None, beta=None, se=None, low=None,
                             high=None, n_obs=4, price_range=(9.0, 12.0), source="none",
                             flags=("zero_sales",))
    for call in (lambda: optimal_price(5.0, est, 10.0), lambda: what_if(10.0, 5.0, est),
                 lambda: clearance_price(10, 30, est, 5, 20)):
        with pytest.raises(NoDemandModel, match="no demand curve"):
            call()
    with pytest.raises(ValueError, match="price must be a positive"):
        what_if(-1.0, 5.0, _estimate())


def test_clearance_price_sells_the_stock_in_simulated_demand():
    sales, products, offers, truth = simulate_sales(seed=1, season_amplitude=0.0)
    model = ElasticityModel().fit(sales, products, offers)
    truth = truth.set_index("product_id")
    pid = truth.index[truth["kind"] == "varied"][0]
    est = model.elasticity_(pid)
    t = truth.loc[pid]
    days = 61.0
    stock = round(1.6 * est.ref_quantity * days / est.period_days)  # needs a markdown
    cl = clearance_price(stock, days, est, lower=1.0, upper=1000.0)
    assert cl.price < est.ref_price and not {"cannot_clear", "sells_out_early"} & set(cl.flags)
    assert cl.expected_units == pytest.approx(stock)
    # the simulator's true demand at that price (its competitors at their usual level)
    comp = np.log(offers[offers["product_id"] == pid]["price"]).mean()
    rate = t["base_units"] * (cl.price / t["ref_price"]) ** t["beta"] * math.exp(
        0.5 * (comp - math.log(t["ref_price"])))
    true_units = rate * days / est.period_days
    assert true_units == pytest.approx(stock, rel=0.2)
    rng = np.random.default_rng(0)
    sold = np.minimum(rng.poisson(true_units, 5000), stock)
    assert sold.mean() >= 0.8 * stock


def test_clearance_limits_and_flags():
    est = _estimate()  # 100 units a month at 20
    glut = clearance_price(10_000, 30, est, lower=12.0, upper=40.0)
    assert glut.price == pytest.approx(12.0) and "cannot_clear" in glut.flags
    assert glut.expected_leftover == pytest.approx(10_000 - glut.expected_units)
    short = clearance_price(10, 60, est, lower=5.0, upper=25.0)
    assert short.price == pytest.approx(25.0) and "sells_out_early" in short.flags
    assert short.days_to_sell_out < 60 and short.expected_leftover == 0
    deep = clearance_price(2000, 30, est, lower=1.0, upper=40.0, cost=15.0)
    assert deep.price == pytest.approx(9.0)  # observed low 10 minus the 10% margin
    assert {"cannot_clear", "extrapolated", "below_cost"} <= set(deep.flags)
    flat = clearance_price(500, 30, _estimate(beta=0.2), lower=1.0, upper=28.0)
    assert flat.price == pytest.approx(28.0) and "non_negative_elasticity" in flat.flags
