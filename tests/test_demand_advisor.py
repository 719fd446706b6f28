"""DemandAdvisor on the demo retail_price sales history, alone and wired into PricingService
(demand-aware mode, elasticity evidence, guardrail bounds, clearance, market-mode reasons)."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from assistant.demand_advisor import DemandAdvisor, NoSalesHistory, elasticity_evidence
from assistant.guardrails import GuardrailPolicy, apply_guardrails
from assistant.service import PricingService
from assistant.suggestion import Inventory, SuggestOptions
from assistant.suggestion_store import SuggestionStore
from graph.adapters import load_path


@pytest.fixture(scope="module")
def retail(demo_dir):
    return load_path(demo_dir / "retail_price")


@pytest.fixture(scope="module")
def advisor(retail) -> DemandAdvisor:
    return DemandAdvisor().fit(retail.sales, retail.products, retail.offers)


@pytest.fixture(scope="module")
def service(tiny_service, advisor, tmp_path_factory) -> PricingService:
    """A service of our own over the shared predictor and (read-only) graph, with demand."""
    store = SuggestionStore(tmp_path_factory.mktemp("demand") / "s.sqlite")
    return PricingService(tiny_service.graph, tiny_service.predictor, store, demand=advisor)


@pytest.fixture(scope="module")
def elastic_pid(advisor, service) -> str:
    """A retail product in the graph whose own data says demand is clearly elastic."""
    ids = [p for p, e in advisor.model_.estimates_.items()
           if p in service.products.index and e.source == "product" and e.high is not None
           and e.high < -1]
    assert ids, "the demo should hold retail products with a clear own elasticity"
    return sorted(ids, key=lambda p: advisor.estimate(p).se)[0]


def _opts(**policy) -> SuggestOptions:
    return SuggestOptions(explain=False, k_comparables=0, policy=GuardrailPolicy(**policy))


# ------------------------------------------------------------------ through the service

def test_demand_aware_mode_for_a_retail_product_with_sales(service, advisor, elastic_pid):
    est = advisor.estimate(elastic_pid)
    cost = round(est.price_range[0] * 0.6, 2)
    s = service.suggest(elastic_pid, _opts(cost=cost, min_markup=0.1), store=False)
    assert s.mode == "demand-aware" and s.mode_reason is None
    e = s.evidence.elasticity
    assert e is not None and e.rule == "profit_optimum"
    assert e.low < e.beta < e.high < -1 and e.source == "product" and e.level == 0.9
    assert (e.observed_low, e.observed_high) == (round(est.price_range[0], 2),
                                                 round(est.price_range[1], 2))
    assert e.search_low <= e.target_price <= e.search_high
    # the demand-aware target goes through the guardrails (rounding) to the final price
    assert s.recommended_price == apply_guardrails(e.target_price, GuardrailPolicy(
        cost=cost, min_markup=0.1), s.current_price).final_price
    x = e.expected
    assert x.price == pytest.approx(e.target_price, abs=0.01)
    assert x.units_low < x.units < x.units_high
    assert x.profit == pytest.approx((x.price - cost) * x.units, rel=1e-3)
    assert x.profit_low < x.profit < x.profit_high
    assert e.at_current.price == pytest.approx(s.current_price, abs=0.01)
    # the unconstrained optimum is cost * beta / (1 + beta)
    assert e.unconstrained_price == pytest.approx(cost * est.beta / (1 + est.beta), abs=0.01)


def test_market_mode_for_a_product_without_sales(service, advisor):
    pid = next(p for p in service.products.index if not advisor.has_sales(p))
    s = service.suggest(pid, _opts(cost=1.0), store=False)
    assert s.mode == "market" and s.mode_reason == "no sales history for this product"
    assert s.evidence.elasticity is None
    assert s.recommended_price == apply_guardrails(
        s.model_price, GuardrailPolicy(cost=1.0, min_markup=0.0), s.current_price).final_price


def test_no_cost_stays_in_market_mode_with_the_estimate_as_evidence(service, elastic_pid):
    s = service.suggest(elastic_pid, _opts(), store=False)
    assert s.mode == "market" and "no unit cost" in s.mode_reason
    assert s.evidence.elasticity.beta < 0 and s.evidence.elasticity.rule is None


def test_optimum_respects_the_guardrail_bounds(service, advisor, elastic_pid):
    est = advisor.estimate(elastic_pid)
    cost = round(est.price_range[0] * 0.6, 2)
    free = service.suggest(elastic_pid, _opts(cost=cost), store=False)
    target = free.evidence.elasticity.target_price
    ceiling = round(target * 0.9, 2)
    s = service.suggest(elastic_pid, _opts(cost=cost, ceiling=ceiling), store=False)
    assert s.mode == "demand-aware" and s.recommended_price <= ceiling
    assert s.evidence.elasticity.binding == "upper" and "capped" in s.evidence.elasticity.flags
    floor = round(target * 1.1, 2)
    s = service.suggest(elastic_pid, _opts(cost=floor, min_markup=0.0), store=False)
    assert s.recommended_price >= floor
    # an ending is applied after the optimum, inside the same bounds
    s = service.suggest(elastic_pid, _opts(cost=cost, ending=".99"), store=False)
    assert s.mode == "demand-aware" and round(s.recommended_price * 100) % 100 == 99


def test_the_optimum_is_capped_at_the_observed_prices(service, advisor, elastic_pid):
    est = advisor.estimate(elastic_pid)
    pmax = est.price_range[1]
    # cost at the highest observed price: the unconstrained optimum cost*b/(1+b) lies above
    a = advisor.advise(elastic_pid, market_price=pmax, cost=pmax)
    assert a.optimum.binding == "observed_high" and "capped" in a.optimum.flags
    assert a.price == pytest.approx(pmax * 1.1)
    assert a.optimum.unconstrained_price > a.price
    # through the service the range also depends on the model's market price: take a cost
    # just under its top, so the floor fits and the unconstrained optimum lies above it
    top = service.suggest(elastic_pid, _opts(cost=1.0), store=False).evidence.elasticity.search_high
    s = service.suggest(elastic_pid, _opts(cost=round(top * 0.99, 2)), store=False)
    e = s.evidence.elasticity
    assert s.mode == "demand-aware" and "capped" in e.flags
    assert e.binding in ("observed_high", "observed_low", "market_high")
    assert e.unconstrained_price > e.search_high
    assert s.recommended_price == pytest.approx(e.search_high, abs=0.01)


def test_a_market_far_from_the_evidence_is_flagged(advisor, elastic_pid):
    est = advisor.estimate(elastic_pid)
    pmin = est.price_range[0]
    best = pmin * est.beta / (1 + est.beta)  # the curve's own optimum at cost = pmin
    a = advisor.advise(elastic_pid, market_price=pmin * 0.3, cost=pmin, current_price=best)
    assert a.price == pytest.approx(pmin * 0.9)  # the observed edge nearest the market
    ev = elasticity_evidence(a.estimate, a)
    assert {"market_outside_evidence", "below_current_profit"} <= set(ev.flags)
    assert ev.at_current.profit > ev.expected.profit


def test_clearance_option_trades_price_for_sell_through(service, advisor, elastic_pid):
    est = advisor.estimate(elastic_pid)
    cost = round(est.price_range[0] * 0.5, 2)
    monthly = est.ref_quantity
    few = SuggestOptions(explain=False, k_comparables=0, policy=GuardrailPolicy(cost=cost),
                         inventory=Inventory(stock=max(1.0, monthly * 0.5), days=30))
    many = few.model_copy(update={"inventory": Inventory(stock=monthly * 3, days=30)})
    s_few = service.suggest(elastic_pid, few, store=False)
    s_many = service.suggest(elastic_pid, many, store=False)
    for s in (s_few, s_many):
        e = s.evidence.elasticity
        assert s.mode == "demand-aware" and e.rule == "clearance"
        assert e.clearance_price == pytest.approx(e.target_price, abs=0.01)
        assert any("profit optimum" in n for n in e.notes)
    # more stock to move in the same time needs a lower price
    assert s_many.recommended_price < s_few.recommended_price
    e = s_many.evidence.elasticity
    # the clearance price sells exactly the stock in the 30 days (it is not clipped here)
    assert "cannot_clear" not in e.flags and "sells_out_early" not in e.flags
    assert e.expected_leftover == pytest.approx(0, abs=0.01) and e.days_to_sell_out == pytest.approx(30, abs=0.1)


# ------------------------------------------------------------------ the advisor alone

def test_positive_elasticity_is_declined_unless_allowed(advisor, retail):
    pid = next(p for p, e in advisor.model_.estimates_.items() if e.beta and e.beta > 0)
    assert "positive" in advisor.unavailable(pid, cost=1.0)
    assert advisor.advise(pid, 50.0, 1.0) is None
    allowed = DemandAdvisor(allow_positive=True).fit(retail.sales, retail.products, retail.offers)
    a = allowed.advise(pid, None, 1.0)
    assert "inelastic" in a.optimum.flags and a.optimum.binding == "observed_high"


def test_what_if_and_curve(advisor, elastic_pid):
    est = advisor.estimate(elastic_pid)
    w = advisor.what_if(elastic_pid, est.ref_price, cost=est.ref_price / 2)
    assert w["units"] == pytest.approx(est.ref_quantity)
    assert w["units_low"] < w["units"] < w["units_high"]
    assert w["revenue"] == pytest.approx(w["units"] * est.ref_price)
    assert w["profit"] == pytest.approx(w["units"] * est.ref_price / 2)
    assert w["elasticity"]["beta"] == round(est.beta, 4) and not w["extrapolated"]
    pts = advisor.curve(elastic_pid, n=9, cost=0.0)
    assert len(pts) == 9 and pts[0]["extrapolated"] and pts[-1]["extrapolated"]
    units = [p["units"] for p in pts]
    assert units == sorted(units, reverse=True)  # elastic: more price, fewer units
    with pytest.raises(ValueError, match="n must be"):
        advisor.curve(elastic_pid, n=1)
    with pytest.raises(ValueError, match="below high"):
        advisor.curve(elastic_pid, 50.0, 40.0)
    with pytest.raises(ValueError, match="price"):
        advisor.what_if(elastic_pid, 0.0)


def test_edge_cases_zero_sales_and_single_month_stay_in_market_mode(service, retail):
    # two catalog products of the graph without sales get synthetic histories: one that
    # never sold a unit over six months, one with a single month; plus the retail sales
    zero, single = [p for p in service.products.index if p not in set(retail.sales.product_id)][:2]
    months = [f"2018-0{m}-01" for m in range(1, 7)]
    extra = pd.DataFrame(
        [{"product_id": zero, "date": d, "price": 10.0 + i, "quantity": 0}
         for i, d in enumerate(months)]
        + [{"product_id": single, "date": "2018-03-01", "price": 20.0, "quantity": 4}])
    adv = DemandAdvisor().fit(pd.concat([retail.sales, extra], ignore_index=True),
                              retail.products, retail.offers)
    svc = PricingService(service.graph, service.predictor, service.store, demand=adv)
    s = svc.suggest(zero, _opts(cost=1.0), store=False)
    assert s.mode == "market" and "no units sold" in s.mode_reason
    assert "zero_sales" in s.evidence.elasticity.flags and s.evidence.elasticity.beta is None
    s = svc.suggest(single, _opts(cost=1.0), store=False)
    assert s.mode == "market" and "single month" in s.mode_reason
    assert "single_month" in s.evidence.elasticity.flags
    for pid in (zero, single, "no-such-product"):
        assert adv.advise(pid, 30.0, 1.0) is None
        with pytest.raises(NoSalesHistory):
            adv.what_if(pid, 10.0)


def test_bad_input_is_named(advisor, elastic_pid):
    with pytest.raises(ValueError, match="sales"):
        DemandAdvisor().fit(pd.DataFrame(columns=["product_id", "date", "price", "quantity"]))
    with pytest.raises(ValueError, match="lower"):
        advisor.advise(elastic_pid, 50.0, 1.0, lower=60.0, upper=40.0)
    with pytest.raises(ValueError, match="stock and days"):
        advisor.advise(elastic_pid, 50.0, 1.0, stock=10)
    with pytest.raises(RuntimeError, match="not fitted"):
        DemandAdvisor().estimate("bed1")
    assert math.isfinite(advisor.what_if(elastic_pid, 1e6)["units"])
