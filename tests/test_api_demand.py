"""The what-if endpoints over real HTTP: a uvicorn server on a free loopback port, httpx."""
from __future__ import annotations

import httpx
import pytest

from assistant.demand_advisor import DemandAdvisor
from assistant.http.app import ApiSettings, create_app
from assistant.service import PricingService
from assistant.suggestion_store import SuggestionStore
from graph.adapters import load_path
from tests.conftest import live_server

KEY = "merchant-key-for-tests-01"


@pytest.fixture(scope="module")
def service(tiny_service, demo_dir, tmp_path_factory) -> PricingService:
    cat = load_path(demo_dir / "retail_price")
    advisor = DemandAdvisor().fit(cat.sales, cat.products, cat.offers)
    store = SuggestionStore(tmp_path_factory.mktemp("api_demand") / "s.sqlite")
    return PricingService(tiny_service.graph, tiny_service.predictor, store, demand=advisor)


@pytest.fixture(scope="module")
def base_url(service):
    app = create_app(service, ApiSettings(api_keys={KEY: "merchant"}))
    with live_server(app) as url:
        yield url


@pytest.fixture()
def client(base_url):
    with httpx.Client(base_url=base_url, headers={"X-API-Key": KEY}, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def pid(service) -> str:
    """A retail product with an elastic own estimate (demand curve from its sales)."""
    est = service.demand.model_.estimates_
    return sorted(p for p, e in est.items() if p in service.products.index
                  and e.source == "product" and e.high < -1)[0]


def test_what_if_returns_units_revenue_profit_with_intervals(client, service, pid):
    est = service.demand.estimate(pid)
    price, cost = round(est.ref_price, 2), round(est.ref_price * 0.5, 2)
    r = client.get(f"/v1/products/{pid}/what-if", params={"price": price, "cost": cost})
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["product_id"] == pid and b["currency"] == "BRL" and b["price"] == price
    assert b["units_low"] < b["units"] < b["units_high"]
    assert b["revenue"] == pytest.approx(price * b["units"])
    assert b["revenue_low"] < b["revenue"] < b["revenue_high"]
    assert b["profit"] == pytest.approx((price - cost) * b["units"])
    assert b["profit_low"] < b["profit"] < b["profit_high"]
    assert b["level"] == 0.9 and b["period_days"] > 27 and b["extrapolated"] is False
    e = b["elasticity"]
    assert e["low"] < e["beta"] < e["high"] and e["source"] == "product"
    assert e["observed_low"] <= price <= e["observed_high"]
    # without a cost there is no profit, the rest is the same
    r = client.get(f"/v1/products/{pid}/what-if", params={"price": price})
    assert r.status_code == 200 and r.json()["profit"] is None
    assert r.json()["units"] == pytest.approx(b["units"])


def test_curve(client, pid):
    r = client.get(f"/v1/products/{pid}/what-if/curve", params={"n": 7, "cost": 1})
    assert r.status_code == 200, r.text
    b = r.json()
    pts = b["points"]
    assert len(pts) == 7 and b["elasticity"]["beta"] < -1
    prices = [p["price"] for p in pts]
    assert prices == sorted(prices)
    assert pts[0]["price"] == pytest.approx(b["elasticity"]["observed_low"] * 0.9, abs=0.01)
    units = [p["units"] for p in pts]
    assert units == sorted(units, reverse=True)
    r = client.get(f"/v1/products/{pid}/what-if/curve",
                   params={"low": prices[1], "high": prices[3], "n": 3})
    assert [p["price"] for p in r.json()["points"]] == pytest.approx(prices[1:4:1])


def test_errors(client, base_url, service, pid):
    r = client.get("/v1/products/no-such-product/what-if", params={"price": 10})
    assert r.status_code == 404 and "no-such-product" in r.json()["error"]
    no_sales = next(p for p in service.products.index if not service.demand.has_sales(p))
    r = client.get(f"/v1/products/{no_sales}/what-if", params={"price": 10})
    assert r.status_code == 422 and "no sales history" in r.json()["error"]
    r = client.get(f"/v1/products/{no_sales}/what-if/curve")
    assert r.status_code == 422
    for bad in ({"price": 0}, {"price": -5}, {"price": "abc"}, {}, {"price": 10, "cost": -1},
                {"price": "nan"}, {"price": "inf"}, {"price": 1e30}):
        r = client.get(f"/v1/products/{pid}/what-if", params=bad)
        assert r.status_code == 422, (bad, r.text)
        assert "price" in r.json()["error"] or "cost" in r.json()["error"]
    for bad in ({"low": 50, "high": 40}, {"n": 1}, {"n": 10_000}, {"low": 0}):
        r = client.get(f"/v1/products/{pid}/what-if/curve", params=bad)
        assert r.status_code == 422, (bad, r.text)
    r = httpx.get(f"{base_url}/v1/products/{pid}/what-if", params={"price": 10})
    assert r.status_code == 401


def test_suggestion_over_http_is_demand_aware(client, service, pid):
    cost = round(service.demand.estimate(pid).price_range[0] * 0.6, 2)
    r = client.post("/v1/suggestions", json={"product_id": pid, "explain": False,
                                             "policy": {"cost": cost, "min_markup": 0.1}})
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["mode"] == "demand-aware" and b["evidence"]["elasticity"]["rule"] == "profit_optimum"
    assert b["recommended_price"] >= cost * 1.1 - 0.01


def test_inventory_asks_for_the_clearance_price(client, service, pid):
    est = service.demand.estimate(pid)
    cost = round(est.price_range[0] * 0.6, 2)
    base = {"product_id": pid, "explain": False, "policy": {"cost": cost, "min_markup": 0.1}}
    plain = client.post("/v1/suggestions", json=base).json()
    monthly = plain["evidence"]["elasticity"]["expected"]["units"]
    stock = round(3 * monthly, 1)                     # three months' sales to clear in 30 days
    r = client.post("/v1/suggestions", json={**base, "inventory": {"stock": stock, "days": 30}})
    assert r.status_code == 200, r.text
    b = r.json()
    e = b["evidence"]["elasticity"]
    assert b["mode"] == "demand-aware" and e["rule"] == "clearance"
    assert e["clearance_price"] == e["target_price"] and e["days_to_sell_out"] is not None
    assert any(f"clearance: {stock:g} units in 30 days" in n for n in e["notes"])
    # more stock than the profit optimum sells: a lower price, never under the cost floor
    assert cost * 1.1 - 0.01 <= b["recommended_price"] <= plain["recommended_price"]
    # batch items take the same option, item by item
    r = client.post("/v1/suggestions/batch", json={"items": [
        {**base, "inventory": {"stock": stock, "days": 30}}, base]})
    res = r.json()["results"]
    assert res[0]["suggestion"]["evidence"]["elasticity"]["rule"] == "clearance"
    assert res[1]["suggestion"]["evidence"]["elasticity"]["rule"] == "profit_optimum"


@pytest.mark.parametrize("inventory, field", [
    ({"stock": -1, "days": 30}, "inventory.stock"),
    ({"stock": 10, "days": 0}, "inventory.days"),
    ({"stock": 10}, "inventory.days"),
])
def test_bad_inventory_names_the_field(client, pid, inventory, field):
    r = client.post("/v1/suggestions", json={"product_id": pid, "inventory": inventory})
    assert r.status_code == 422 and r.json()["field"] == field, r.text
    r = client.post("/v1/suggestions/batch", json={"items": [{"product_id": pid,
                                                              "inventory": inventory}]})
    assert r.status_code == 422 and r.json()["field"] == f"items.0.{field}", r.text


def test_inventory_is_documented_in_openapi(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert "clearance" in schemas["SuggestionRequest"]["properties"]["inventory"]["description"]
    inv = schemas["Inventory"]["properties"]
    assert inv["stock"]["description"] and inv["days"]["description"]
