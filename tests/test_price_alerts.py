"""Pricing alerts on a real suggestion of the tiny service: undercut beyond the threshold,
competitors below MAP, prices below cost, stale offers ignored, keys naming the fact; the MAP
file reader's errors name line and field."""
from __future__ import annotations

import pytest

from assistant.price_alerts import AlertRules, PriceContext, price_alerts, read_map_prices
from assistant.suggestion import CompetitorOfferOut, SuggestOptions

DAY = "2030-01-02"


@pytest.fixture(scope="module")
def suggestion(tiny_service, catalog_product):
    """A real suggestion whose competitor evidence is set by the test (80 and 95, one stale)."""
    s = tiny_service.suggest(catalog_product["id"], SuggestOptions(explain=False))
    offers = [CompetitorOfferOut(competitor="alpha", price=80.0, observed_at="2030-01-01"),
              CompetitorOfferOut(competitor="beta", price=95.0, observed_at="2030-01-01"),
              CompetitorOfferOut(competitor="gamma", price=10.0, observed_at="2001-01-01",
                                 stale=True)]
    ev = s.evidence.model_copy(update={"competitors": offers})
    return s.model_copy(update={"evidence": ev, "recommended_price": 120.0})


def _kinds(alerts):
    return [a.kind for a in alerts]


def test_undercut_beyond_threshold(suggestion):
    ctx = PriceContext(our_price=100.0, our_price_from="price list")
    [a] = price_alerts(suggestion, ctx, AlertRules(undercut_pct=5), DAY)
    assert a.kind == "competitor_undercut" and a.at == "2030-01-01"
    d = a.details
    assert d["competitor"] == "alpha" and d["competitor_price"] == 80.0 and d["gap_pct"] == 20.0
    assert d["our_price"] == 100.0 and d["our_price_from"] == "price list"
    assert d["product_id"] == suggestion.product_id and d["suggestion_id"] == suggestion.suggestion_id
    assert "alpha" in a.message and "20.0%" in a.message and "80.00" in a.message
    # 20% is not beyond 20% (nor 25%); the stale 10.00 offer never counts
    assert price_alerts(suggestion, ctx, AlertRules(undercut_pct=20), DAY) == []
    assert price_alerts(suggestion, ctx, AlertRules(undercut_pct=None), DAY) == []
    assert price_alerts(suggestion, PriceContext(our_price=None), AlertRules(), DAY) == []


def test_competitor_below_map(suggestion):
    ctx = PriceContext(our_price=100.0, map_price=90.0)
    alerts = price_alerts(suggestion, ctx, AlertRules(undercut_pct=None), DAY)
    assert _kinds(alerts) == ["competitor_below_map"]
    assert alerts[0].details["competitor"] == "alpha" and alerts[0].details["map_price"] == 90.0
    ctx = PriceContext(our_price=100.0, map_price=99.0)
    assert [a.details["competitor"] for a in price_alerts(
        suggestion, ctx, AlertRules(undercut_pct=None), DAY)] == ["alpha", "beta"]
    assert price_alerts(suggestion, ctx, AlertRules(undercut_pct=None, below_map=False), DAY) == []


def test_price_below_cost(suggestion):
    rules = AlertRules(undercut_pct=None)
    [a] = price_alerts(suggestion, PriceContext(our_price=100.0, cost=110.0), rules, DAY)
    assert a.kind == "price_below_cost" and a.severity == "critical" and a.at == DAY
    assert a.details["below"] == ["our price"] and "110.00" in a.message
    [b] = price_alerts(suggestion, PriceContext(our_price=100.0, cost=130.0), rules, DAY)
    assert b.details["below"] == ["our price", "suggested price"]
    assert price_alerts(suggestion, PriceContext(our_price=100.0, cost=90.0), rules, DAY) == []
    assert price_alerts(suggestion, PriceContext(our_price=100.0, cost=110.0),
                        AlertRules(undercut_pct=None, below_cost=False), DAY) == []


def test_keys_name_the_fact(suggestion):
    ctx = PriceContext(our_price=100.0, cost=110.0, map_price=90.0)
    one = price_alerts(suggestion, ctx, AlertRules(), DAY)
    again = price_alerts(suggestion, ctx, AlertRules(), "2030-02-01")
    assert _kinds(one) == ["competitor_undercut", "competitor_below_map", "price_below_cost"]
    assert [a.key for a in one] == [a.key for a in again]     # the same facts: sent once
    cheaper = suggestion.evidence.competitors[0].model_copy(update={"price": 70.0})
    s2 = suggestion.model_copy(update={"evidence": suggestion.evidence.model_copy(
        update={"competitors": [cheaper]})})
    assert price_alerts(s2, ctx, AlertRules(), DAY)[0].key != one[0].key   # a new offer


def test_read_map_prices(tmp_path):
    good = tmp_path / "map.csv"
    good.write_text("product_id,map_price\np1,99.5\np2,\"1,200\"\n", encoding="utf-8")
    assert read_map_prices(good) == {"p1": 99.5, "p2": 1200.0}
    bad = tmp_path / "bad.csv"
    bad.write_text("product_id,map_price\np1,99\np2,cheap\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 3: map_price 'cheap'"):
        read_map_prices(bad)
    neg = tmp_path / "neg.csv"
    neg.write_text("product_id,map_price\np1,-1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2: map_price must be above zero"):
        read_map_prices(neg)
    cols = tmp_path / "cols.csv"
    cols.write_text("sku,price\n", encoding="utf-8")
    with pytest.raises(ValueError, match="missing column"):
        read_map_prices(cols)
    with pytest.raises(ValueError, match="map_file"):
        read_map_prices(tmp_path / "absent.csv")
