"""``/v1/outcomes`` over real HTTP (uvicorn on a free port): a stored batch, refused rows named
by row and field with nothing stored, partial batches, listing with the feedback join, keys."""
from __future__ import annotations

import httpx
import pytest

from assistant.alerts import FileSink
from assistant.explain import Explainer
from assistant.http.app import ApiSettings, create_app
from assistant.learning import LearningSettings, learning_for
from assistant.service import PricingService
from assistant.suggestion_store import SuggestionStore
from tests.conftest import live_server

KEY = "merchant-key-for-tests-0001"  # keys need at least 16 characters


@pytest.fixture(scope="module")
def svc(tiny_service, tmp_path_factory) -> PricingService:
    d = tmp_path_factory.mktemp("api_outcomes")
    s = PricingService(tiny_service.graph, tiny_service.predictor,
                       SuggestionStore(d / "s.sqlite"), Explainer(None))
    learning_for(s, LearningSettings(alerts="log"), sink=FileSink(d / "alerts.jsonl"))
    return s


@pytest.fixture(scope="module")
def client(svc):
    with live_server(create_app(svc, ApiSettings(api_keys={KEY: "merchant"}))) as url, \
            httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def pids(svc) -> list[str]:
    p = svc.products
    return sorted(p.index[p["price"].notna() & (p["currency"] == "INR")])[:4]


def test_keys_required(client):
    r = httpx.post(str(client.base_url) + "/v1/outcomes", json={"outcomes": []})
    assert r.status_code == 401 and "error" in r.json()


def test_post_stores_and_answers_the_predictions(client, svc, pids):
    s = client.post("/v1/suggestions", json={"product_id": pids[0], "explain": False}).json()
    r = client.post("/v1/outcomes", json={"outcomes": [
        {"product_id": pids[0], "sold_price": 499.0, "units": 2, "date": "2023-03-14",
         "suggestion_id": s["suggestion_id"]},
        {"product_id": pids[1], "sold_price": 250, "date": "2023-03-15"}]})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["stored"] == 2 and body["errors"] == []
    first, second = body["outcomes"]
    assert first["pred_price"] == s["model_price"] and first["units"] == 2
    assert second["model_version"] == svc.model_version and second["pred_low"] <= second["pred_high"]
    client.post("/v1/feedback", json={"suggestion_id": s["suggestion_id"], "verdict": "accepted"})
    listed = client.get("/v1/outcomes", params={"limit": 10}).json()
    assert listed["total"] >= 2
    mine = {o["product_id"]: o for o in listed["outcomes"]}
    assert mine[pids[0]]["feedback_verdict"] == "accepted" and mine[pids[0]]["date"] == "2023-03-14"
    assert client.get("/v1/outcomes", params={"since": "2023-03-15"}).json()["outcomes"][0][
        "product_id"] == pids[1]


def test_refused_rows_are_named_and_nothing_is_stored(client, svc, pids):
    before = client.get("/v1/outcomes").json()["total"]
    r = client.post("/v1/outcomes", json={"outcomes": [
        {"product_id": pids[2], "sold_price": 10, "date": "2023-03-01"},
        {"product_id": "nope", "sold_price": 10, "date": "2023-03-01"}]})
    assert r.status_code == 422
    body = r.json()
    assert body["field"] == "outcomes.1.product_id" and "nothing stored" in body["error"]
    assert body["rows"] == [{"row": 1, "field": "product_id", "error": body["rows"][0]["error"]}]
    r = client.post("/v1/outcomes", json={"outcomes": [
        {"product_id": pids[2], "sold_price": -5, "date": "2023-03-01"}]})
    assert r.status_code == 422 and r.json()["field"] == "outcomes.0.sold_price"
    for bad in ({}, {"outcomes": []}, {"outcomes": [{"product_id": pids[2]}]},
                {"outcomes": [{"product_id": pids[2], "sold_price": 1, "date": "2023-13-01"}]}):
        r = client.post("/v1/outcomes", json=bad)
        assert r.status_code == 422 and r.json()["field"], bad
    assert client.get("/v1/outcomes").json()["total"] == before


def test_partial_batch(client, pids):
    r = client.post("/v1/outcomes", json={"partial": True, "outcomes": [
        {"product_id": pids[3], "sold_price": 10, "date": "2023-03-02"},
        {"product_id": pids[3], "sold_price": 10, "date": "2023-03-02", "currency": "GBP"}]})
    assert r.status_code == 201
    assert r.json()["stored"] == 1 and r.json()["errors"][0]["field"] == "currency"


def test_list_limits(client):
    assert client.get("/v1/outcomes", params={"limit": 0}).status_code == 422
    assert client.get("/v1/outcomes", params={"since": "soon"}).json()["field"] == "query.since"
