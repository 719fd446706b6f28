"""assistant.suggestion: the abstain decision is computed once, and the service, the API's
JSON and the chat (the Workspace's card is the chat's summary) read the same reason and width."""
from __future__ import annotations

import copy

import httpx
import pytest

from assistant.chat import ChatAgent
from assistant.explain import Explainer
from assistant.guardrails import GuardrailPolicy
from assistant.http.app import ApiSettings, create_app
from assistant.service import PricingService
from assistant.suggestion import (
    Abstention,
    Interval,
    Suggestion,
    SuggestOptions,
    decide_abstention,
    relative_width,
)
from assistant.suggestion_store import SuggestionStore
from tests.conftest import live_server

KEY = "merchant-key-for-tests-01"


def test_decide_abstention_rules():
    iv = Interval(low=50.0, high=250.0, coverage=0.8)
    assert relative_width(50.0, 250.0, 100.0) == pytest.approx(2.0)
    wide = decide_abstention(iv, 100.0, n_category=50, n_close=3, max_relative_width=1.5,
                             threshold_source="model")
    assert wide is not None and wide.reason == "interval_too_wide"
    assert wide.relative_width == 2.0 and wide.max_relative_width == 1.5
    assert "200.0% of the model price" in wide.message
    assert decide_abstention(iv, 100.0, 50, 3, max_relative_width=2.5) is None
    thin = decide_abstention(iv, 100.0, n_category=2, n_close=0, max_relative_width=2.5)
    assert thin is not None and thin.reason == "thin_evidence" and thin.relative_width == 2.0
    assert decide_abstention(iv, 100.0, n_category=2, n_close=1, max_relative_width=2.5) is None


def test_suggestion_mirrors_its_abstention():
    a = Abstention(reason="thin_evidence", message="thin evidence: …", relative_width=0.4,
                   max_relative_width=1.5, threshold_source="default")
    s = Suggestion(suggestion_id="s", product_id=None, title="t", currency="INR",
                   recommended_price=10, model_price=10,
                   interval=Interval(low=8, high=12, coverage=0.8), evidence={}, confidence=0.5,
                   abstention=a, model_version="m", created_at="now")
    assert s.abstain and s.abstain_reason == a.message and s.relative_width == 0.4
    back = Suggestion.model_validate_json(s.model_dump_json())
    assert back.abstention == a and back.abstain


@pytest.fixture(scope="module")
def strict_service(tiny_service, tmp_path_factory):
    """The tiny model with a calibrated threshold so low that every suggestion abstains."""
    pred = copy.copy(tiny_service.predictor)
    assert tiny_service.predictor.abstain_width() is not None  # the artifact carries one
    pred.metadata = {**pred.metadata,
                     "abstain": {**pred.metadata["abstain"], "max_relative_width": 0.05}}
    db = tmp_path_factory.mktemp("strict") / "suggestions.sqlite"
    return PricingService(tiny_service.graph, pred, SuggestionStore(db), Explainer(None))


def test_same_reason_and_width_in_service_api_and_chat(strict_service):
    p = strict_service.products
    pid = sorted(p.index[p["price"].notna()])[0]
    model_price = strict_service.suggest(pid, SuggestOptions(explain=False)).model_price
    # A ceiling at half the model price: the recommended price is no longer the model's, which
    # is where the chat (width over the recommended price) and the API used to disagree.
    policy = GuardrailPolicy(ceiling=round(model_price / 2, 2))
    s = strict_service.suggest(pid, SuggestOptions(explain=False, policy=policy))
    a = s.abstention
    assert a is not None and a.reason == "interval_too_wide" and a.threshold_source == "model"
    assert s.recommended_price < s.model_price
    assert a.relative_width == s.relative_width == pytest.approx(
        (s.interval.high - s.interval.low) / s.model_price, abs=1e-4)

    app = create_app(strict_service, ApiSettings(api_keys={KEY: "merchant"}))
    with live_server(app) as url:
        r = httpx.post(url + "/v1/suggestions", headers={"X-API-Key": KEY}, timeout=60,
                       json={"product_id": pid, "explain": False,
                             "policy": {"ceiling": policy.ceiling}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["abstain"] is True and body["abstain_reason"] == s.abstain_reason
    assert body["abstention"] == a.model_dump() and body["relative_width"] == s.relative_width

    shown = f"{a.relative_width * 100:,.1f}%"
    assert shown in s.abstain_reason
    text = ChatAgent(strict_service).describe(s).text   # also the Workspace's card
    assert "Low confidence" in text and f"wide ({shown} of the" in text
    old = f"{(s.interval.high - s.interval.low) / s.recommended_price * 100:,.1f}%"
    assert old != shown and old not in text


def test_the_model_threshold_applies_by_default(tiny_service):
    p = tiny_service.products
    ids = sorted(p.index[p["price"].notna()])[:40]
    out = tiny_service.suggest_many(ids, SuggestOptions(explain=False, k_comparables=3))
    limit = tiny_service.predictor.abstain_width()
    for s in out:
        wide = s.relative_width > limit
        assert (s.abstention is not None and s.abstention.reason == "interval_too_wide") == wide
        if s.abstention is not None:
            assert s.abstention.max_relative_width == pytest.approx(limit, abs=1e-4)
            assert s.abstention.threshold_source == "model"
