"""Tests for models/elasticity.py: recovery of known elasticities, pooling, edge cases."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graph.adapters import load_dataset
from models.elasticity import ElasticityModel, NoDemandModel, simulate_sales


@pytest.fixture(scope="module")
def sim():
    sales, products, offers, truth = simulate_sales(seed=0)
    pooled = ElasticityModel().fit(sales, products, offers)
    nopool = ElasticityModel(prior_strength=0).fit(sales, products, offers)
    return sales, products, offers, truth.set_index("product_id"), pooled, nopool


def _errors(model, truth, kind):
    ids = truth.index[truth["kind"] == kind]
    s = model.summary().set_index("product_id").loc[ids]
    return (s["beta"] - truth.loc[ids, "beta"]).abs()


def test_recovers_known_elasticities(sim):
    *_, truth, pooled, _ = sim
    err = _errors(pooled, truth, "varied")
    assert err.mean() <= 0.25, err.mean()
    s = pooled.summary().set_index("product_id")
    varied = truth.index[truth["kind"] == "varied"]
    inside = (s.loc[varied, "low"] <= truth.loc[varied, "beta"]) & (
        truth.loc[varied, "beta"] <= s.loc[varied, "high"])
    assert inside.mean() >= 0.7  # nominal 90%
    # the shared controls come back too: cross elasticity 0.5 in the simulator
    assert pooled.fit_.competitor_coef == pytest.approx(0.5, abs=0.2)


def test_pooling_beats_no_pooling_for_low_variation(sim):
    *_, truth, pooled, nopool = sim
    assert _errors(pooled, truth, "low").mean() < 0.5 * _errors(nopool, truth, "low").mean()
    # and costs nothing where prices varied
    assert _errors(pooled, truth, "varied").mean() <= _errors(nopool, truth, "varied").mean() + 0.02


def test_low_variation_product_is_pulled_to_its_category(sim):
    *_, truth, pooled, _ = sim
    pid = truth.index[truth["kind"] == "low"][0]
    est = pooled.elasticity_(pid)
    prior = pooled.prior_for(est.category)
    assert est.source == "pooled" and est.weight < 0.5
    assert abs(est.beta - prior.beta) < abs(est.own_beta - prior.beta)
    assert est.se < est.own_se
    varied = truth.index[truth["kind"] == "varied"]
    assert np.mean([pooled.elasticity_(p).weight for p in varied]) > est.weight


def test_prior_strength_controls_pooling(sim):
    sales, products, offers, truth, pooled, nopool = sim
    pid = truth.index[truth["kind"] == "varied"][0]
    hard = ElasticityModel(prior_strength=1000).fit(sales, products, offers)
    category = hard.prior_for(truth.loc[pid, "category_path"]).beta
    assert nopool.elasticity_(pid).beta == pytest.approx(nopool.elasticity_(pid).own_beta)
    assert nopool.elasticity_(pid).source == "product"
    assert abs(hard.elasticity_(pid).beta - category) < 0.05


def test_fixed_price_product_gets_category_prior_flagged(sim):
    *_, truth, pooled, _ = sim
    pid = truth.index[truth["kind"] == "fixed"][0]
    est = pooled.elasticity_(pid)
    assert est.source == "category"
    assert "no_price_variation" in est.flags
    assert est.own_beta is None and est.weight == 0
    assert est.beta == pytest.approx(pooled.prior_for(est.category).beta)
    assert est.price_range[0] == est.price_range[1]
    # it still has a demand level, so it can be priced (within its prior's uncertainty)
    assert est.ref_quantity > 0


def _edge_frame():
    sales, products, offers, _ = simulate_sales(n_categories=2, products_per_category=6, seed=3)
    cat = products["category_path"].iloc[0]
    extra = pd.DataFrame({
        "product_id": ["zero"] * 4 + ["one_month"] + ["flat"] * 6,
        "date": ["2022-01-01", "2022-02-01", "2022-03-01", "2022-04-01", "2022-05-01"]
        + [f"2022-0{m}-01" for m in range(1, 7)],
        "price": [10, 12, 9, 11, 20] + [30.0] * 6,
        "quantity": [0, 0, 0, 0, 7] + [5, 6, 4, 5, 7, 5],
        "source": "test"})
    products = pd.concat([products, pd.DataFrame({
        "product_id": ["zero", "one_month", "flat"], "title": "x",
        "category_path": [cat, cat, None]})], ignore_index=True)
    return pd.concat([sales, extra], ignore_index=True), products, offers, cat


def test_edge_cases_are_flagged_not_crashes():
    sales, products, offers, cat = _edge_frame()
    model = ElasticityModel().fit(sales, products, offers)

    zero = model.elasticity_("zero")
    assert zero.source == "none" and zero.beta is None and "zero_sales" in zero.flags
    with pytest.raises(NoDemandModel):
        model.predict_quantity("zero", 10.0)

    one = model.elasticity_("one_month")
    assert "single_month" in one.flags and one.source == "category"
    assert one.beta == pytest.approx(model.prior_for(cat).beta)
    # its one month's sales, at that month's market level
    assert model.predict_quantity("one_month", 20.0, date="2022-05-01")[0] == pytest.approx(7)

    flat = model.elasticity_("flat")  # no category: the global prior
    assert flat.source == "global" and "no_price_variation" in flat.flags
    mean, low, high = model.predict_quantity("flat", 30.0)
    assert low < mean < high and mean == pytest.approx(5.33, rel=0.2)


def test_no_product_with_variation_uses_fixed_prior():
    sales = pd.DataFrame({"product_id": ["a"] * 3 + ["b"] * 3,
                          "date": ["2022-01-01", "2022-02-01", "2022-03-01"] * 2,
                          "price": [5.0] * 3 + [8.0] * 3, "quantity": [3, 4, 5, 0, 1, 2]})
    model = ElasticityModel(prior_beta=-1.7, prior_sd=0.8).fit(sales)
    est = model.elasticity_("a")
    assert est.source == "global" and est.beta == -1.7 and est.se == pytest.approx(0.8)


def test_poisson_fit_handles_zero_heavy_sales_better_than_log1p():
    sales, products, offers, truth = simulate_sales(
        n_categories=2, products_per_category=8, n_periods=36, base_units=(1, 3),
        price_sd=0.3, low_variation_share=0, fixed_price_share=0, seed=0)
    assert (sales["quantity"] == 0).mean() > 0.1
    model = ElasticityModel(prior_strength=0).fit(sales, products, offers)
    truth = truth.set_index("product_id")
    ours = np.mean([abs(model.elasticity_(p).beta - truth.loc[p, "beta"]) for p in truth.index])
    log1p = np.mean([abs(np.polyfit(np.log(g["price"]), np.log1p(g["quantity"]), 1)[0]
                         - truth.loc[p, "beta"]) for p, g in sales.groupby("product_id")])
    assert ours < 0.45 and ours < 0.75 * log1p


def test_predict_quantity(sim):
    *_, truth, pooled, _ = sim
    pid = truth.index[truth["kind"] == "varied"][0]
    est = pooled.elasticity_(pid)
    prices = est.ref_price * np.array([0.8, 1.0, 1.2])
    mean, low, high = pooled.predict_quantity(pid, prices)
    assert np.all(np.diff(mean) < 0)  # negative elasticity: higher price, fewer units
    assert np.all((low < mean) & (mean < high))
    assert mean[1] == pytest.approx(est.ref_quantity)
    p_mean, p_low, p_high = pooled.predict_quantity(pid, est.ref_price, kind="predictive")
    assert p_mean == pytest.approx(est.ref_quantity)
    assert p_high - p_low > high[1] - low[1]  # one period's units scatter more than the mean
    # a date inside the history moves demand by that period's effect
    d = pooled.predict_quantity(pid, est.ref_price, date="2022-01-01")[0]
    assert d != pytest.approx(mean[1])
    # a higher competitor price raises demand (positive cross elasticity)
    up = pooled.predict_quantity(pid, est.ref_price, competitor_price=est.ref_price * 1.3)[0]
    assert up > mean[1]


def test_month_effects_mode(sim):
    sales, products, offers, truth, *_ = sim
    model = ElasticityModel(time_effects="month").fit(sales, products, offers)
    assert set(model.fit_.time_effect) == set(range(1, 13))
    # the simulator's season is a sine peaking in April (month 4) and lowest in October
    eff = model.fit_.time_effect
    assert eff[4] > 0.05 > -0.05 > eff[10]
    varied = truth.index[truth["kind"] == "varied"]
    err = np.mean([abs(model.elasticity_(p).beta - truth.loc[p, "beta"]) for p in varied])
    assert err <= 0.25


def test_bad_input_names_row_and_field():
    sales = pd.DataFrame({"product_id": ["a", "a"], "date": ["2022-01-01", "2022-02-01"],
                          "price": [5.0, -1.0], "quantity": [3, 4]})
    with pytest.raises(ValueError, match=r"row 2 .*price -1.0 must be > 0"):
        ElasticityModel().fit(sales)
    with pytest.raises(ValueError, match=r"row 1 .*date 'soon' is not a date"):
        ElasticityModel().fit(sales.assign(price=5.0, date=["soon", "2022-01-01"]))
    with pytest.raises(ValueError, match=r"missing column\(s\) \['quantity'\]"):
        ElasticityModel().fit(sales.drop(columns="quantity"))
    with pytest.raises(RuntimeError, match="not fitted"):
        ElasticityModel().elasticity_("a")
    model = ElasticityModel().fit(sales.assign(price=[5.0, 6.0]))
    with pytest.raises(KeyError, match="prior_for"):
        model.elasticity_("unknown")


def test_retail_price_demo(demo_dir):
    cat = load_dataset("retail_price", demo_dir / "retail_price")
    model = ElasticityModel().fit(cat.sales, cat.products, cat.offers)
    s = model.summary()
    assert len(s) == cat.products["product_id"].nunique()
    assert s["beta"].notna().all() and (s["se"] > 0).all()
    flat = s[s["flags"].str.contains("no_price_variation")]
    assert len(flat) >= 1 and set(flat["source"]) == {"category"}
    assert model.fit_.phi > 1  # real monthly counts are overdispersed; SEs are scaled for it
    est = model.elasticity_("bed1")
    assert est.price_range[0] < est.price_range[1] and est.n_obs == 16
    mean, low, high = model.predict_quantity("bed1", est.ref_price, date="2018-09-01")
    assert 0 < low < mean < high
