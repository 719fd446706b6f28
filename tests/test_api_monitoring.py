"""``/v1/monitoring`` over real HTTP, and a running server switching models while it answers:
requests keep flowing (all 200) while the registry's champion changes twice."""
from __future__ import annotations

import threading
import time

import httpx
import pytest

from assistant.alerts import FileSink
from assistant.explain import Explainer
from assistant.http.app import ApiSettings, create_app
from assistant.learning import LearningSettings, learning_for
from assistant.service import PricingService
from assistant.suggestion_store import SuggestionStore
from models.registry import ModelRegistry
from tests.conftest import live_server
from tests.test_learning import copy_as

KEY = "merchant-key-for-tests-0001"  # keys need at least 16 characters


@pytest.fixture(scope="module")
def env(tiny_service, tiny_artifact, tmp_path_factory):
    d = tmp_path_factory.mktemp("api_monitoring")
    reg = ModelRegistry(d / "registry")
    v1 = reg.register(tiny_artifact)
    reg.promote(v1.version)
    reg.register(copy_as(tiny_artifact, d / "copy", "copy-v2"), move=True)
    svc = PricingService(tiny_service.graph, tiny_service.predictor,
                         SuggestionStore(d / "s.sqlite"), Explainer(None))
    learning = learning_for(svc, LearningSettings(registry=reg.root, alerts="log"),
                            sink=FileSink(d / "alerts.jsonl"))
    with live_server(create_app(svc, ApiSettings(api_keys={KEY: "merchant"}))) as url, \
            httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=60) as c:
        yield svc, reg, learning, c


def test_empty_then_filled(env):
    svc, reg, learning, c = env
    r = c.get("/v1/monitoring")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["n"] == 0 and body["windows"] == [] and body["served_model"] == svc.model_version
    assert {m["version"]: m["status"] for m in body["models"]} == {
        reg.champion_version(): "champion", "copy-v2": "registered"}
    p = svc.products
    p = p[p["price"].notna()].sort_index()
    rows = [{"product_id": pid, "sold_price": float(price) * 2, "date": f"2023-03-{1 + i % 21:02d}"}
            for i, (pid, price) in enumerate(zip(p["product_id"], p["price"]))][:300]
    assert c.post("/v1/outcomes", json={"outcomes": rows}).status_code == 201
    deadline = time.monotonic() + 30   # alerts are dispatched after the answer
    while not learning.alert_log.recent() and time.monotonic() < deadline:
        time.sleep(0.2)
    body = c.get("/v1/monitoring", params={"window": "7D", "windows": 2}).json()
    assert body["n"] == 300 and len(body["windows"]) == 2
    assert body["windows"][-1]["start"] == "2023-03-15"
    assert body["overall"]["price_psi"] > 0 and body["coverage_band"] == [70.0, 90.0]
    assert body["alerts"] and body["alerts_sent"]
    assert {a["key"] for a in body["alerts_sent"]} <= {a["key"] for a in body["alerts"]}
    daily = c.get("/v1/monitoring", params={"window": "1D"}).json()
    assert len(daily["windows"]) == 21


@pytest.mark.parametrize("window", ["0D", "7", "7M", "1000D", "x"])
def test_bad_window(env, window):
    r = env[3].get("/v1/monitoring", params={"window": window})
    assert r.status_code == 422 and r.json()["field"] == "query.window"


def test_switch_models_without_dropping_requests(env):
    svc, reg, learning, c = env
    pid = svc.products.index[0]
    v1 = reg.champion_version()
    statuses: list[int] = []
    versions: set[str] = set()
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(base_url=c.base_url, headers={"X-API-Key": KEY}, timeout=60) as h:
            while not stop.is_set():
                r = h.post("/v1/suggestions", json={"product_id": pid, "explain": False,
                                                    "k_comparables": 2})
                statuses.append(r.status_code)
                if r.status_code == 200:
                    versions.add(r.json()["model_version"])

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    def wait_for(cond) -> None:  # noqa: ANN001
        deadline = time.monotonic() + 60
        while not cond() and time.monotonic() < deadline:
            time.sleep(0.05)

    try:
        wait_for(lambda: len(statuses) >= 3)
        reg.promote("copy-v2")
        assert learning.sync_champion()
        wait_for(lambda: "copy-v2" in versions)
        reg.rollback()
        assert learning.sync_champion()
        n = len(statuses)
        wait_for(lambda: len(statuses) >= n + 6)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert statuses and set(statuses) == {200}, set(statuses)
    assert versions == {v1, "copy-v2"}
    assert c.get("/v1/monitoring").json()["served_model"] == v1 == svc.model_version
