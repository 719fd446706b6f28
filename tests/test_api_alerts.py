"""``GET /v1/alerts`` over real HTTP: the alerts a pricing job sent (through the same AlertLog
the server's learning object reads), newest first, filtered by kind, paged; a key is needed."""
from __future__ import annotations

import httpx
import pytest

from assistant.alerts import Alert, NullSink
from assistant.explain import Explainer
from assistant.http.app import ApiSettings, create_app
from assistant.learning import learning_for
from assistant.service import PricingService
from assistant.suggestion_store import SuggestionStore
from tests.conftest import live_server

KEY = "merchant-key-for-tests-0001"


@pytest.fixture(scope="module")
def client(tiny_service, tmp_path_factory):
    d = tmp_path_factory.mktemp("api_alerts")
    svc = PricingService(tiny_service.graph, tiny_service.predictor,
                         SuggestionStore(d / "s.sqlite"), Explainer(None))
    learning = learning_for(svc, sink=NullSink())
    learning.alert_log.dispatch([
        Alert(kind="competitor_undercut", message="p1: cheapo sells 20% below", at="2030-01-01",
              key="u1", details={"product_id": "p1", "competitor": "cheapo", "gap_pct": 20.0}),
        Alert(kind="price_below_cost", message="p2 below cost", at="2030-01-02", key="c1",
              severity="critical", details={"product_id": "p2", "cost": 10.0}),
        Alert(kind="run_failed", message="nightly failed", at="2030-01-02", key="f1",
              severity="critical")], NullSink())
    with live_server(create_app(svc, ApiSettings(api_keys={KEY: "merchant"}))) as url, \
            httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=60) as c:
        yield c, url


def test_lists_newest_first_with_details(client):
    c, _ = client
    r = c.get("/v1/alerts")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 3 and [a["key"] for a in body["items"]] == ["f1", "c1", "u1"]
    u = body["items"][2]
    assert u["kind"] == "competitor_undercut" and u["severity"] == "warning" and u["delivered"]
    assert u["details"] == {"product_id": "p1", "competitor": "cheapo", "gap_pct": 20.0}


def test_filter_and_page(client):
    c, _ = client
    body = c.get("/v1/alerts", params={"kind": "price_below_cost"}).json()
    assert body["total"] == 1 and body["items"][0]["details"]["cost"] == 10.0
    page = c.get("/v1/alerts", params={"limit": 1, "offset": 1}).json()
    assert [a["key"] for a in page["items"]] == ["c1"] and page["total"] == 3
    assert c.get("/v1/alerts", params={"kind": "nope"}).json() == {"total": 0, "offset": 0,
                                                                   "items": []}
    bad = c.get("/v1/alerts", params={"limit": 0})
    assert bad.status_code == 422 and "limit" in bad.text


def test_needs_a_key(client):
    _, url = client
    assert httpx.get(url + "/v1/alerts").status_code == 401
