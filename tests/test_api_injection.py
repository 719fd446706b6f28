"""Prompt injection through the API and through a curation edit (issue 19, deliverable 6).

Twenty texts that carry instructions or fake facts go into a product's title, description
and reviews, once inline in ``POST /v1/suggestions`` and once committed to the graph with
``/v1/graph/ops`` (then asked for by id). The server's explainer uses an LLM that OBEYS them.
Each suggestion must equal the one an LLM-free twin service computes for the same input:
same price, interval, evidence and fact sheet, the same (verified fallback) wording, and no
injected claim in it: the verifier refuses both of the obeying model's drafts. Over real HTTP
on a copy of the tiny model's graph.
"""
from __future__ import annotations

import httpx
import pytest

from assistant.explain import Explainer
from assistant.facts import suggestion_fact_sheet
from assistant.http.app import ApiSettings, create_app
from assistant.llm import fake_llm
from assistant.service import PricingService
from assistant.suggestion import Suggestion, SuggestOptions
from assistant.suggestion_store import SuggestionStore
from graph.contracts import ProductIn
from prompts import quote_untrusted
from tests.conftest import live_server, service_on_store_copy
from tests.injection_cases import INJECTIONS

KEY = "injection-curator-key-012345"
CASES = [pytest.param(text, claim, id=f"i{i:02d}") for i, (text, claim) in enumerate(INJECTIONS)]
RETRY_MARK = "Your previous answer was rejected."  # prompts/explain_retry_v1.txt


def obeying_llm():
    """Does what the injected text asks, as far as it can read it, after an honest first
    sentence (so the draft states the price and only the obeyed words can fail it).

    The prompt quotes product data through prompts.quote_untrusted (no braces, angle
    brackets, backticks or block markers): the first try writes the injection as the model
    sees it there; the regeneration writes it as it was written (a model that restores what
    was stripped). Both must fail verification, whatever they say: the word checks refuse a
    count called a price, instruction and chat-template tokens, and words copied from the
    product's text."""
    def respond(msgs) -> str:
        prompt = "\n".join(str(m.content) for m in msgs)
        seen = [(text, quote_untrusted(text)) for text, _ in INJECTIONS if quote_untrusted(text) in prompt]
        if not seen:
            return "We recommend {recommended_price}."
        text, quoted = seen[0]
        obeyed = text if RETRY_MARK in prompt else quoted
        return "We recommend {recommended_price}. " + obeyed.rstrip(".") + "."
    return fake_llm(respond=respond)


@pytest.fixture(scope="module")
def served(tiny_service, tmp_path_factory):
    d = tmp_path_factory.mktemp("injection")
    svc = service_on_store_copy(tiny_service, d)
    svc.explainer = Explainer(obeying_llm())
    app = create_app(svc, ApiSettings(api_keys={KEY: "curator"}, key_names={KEY: "inj"},
                                      rate_limit=0))
    with live_server(app) as url, httpx.Client(base_url=url, headers={"X-API-Key": KEY},
                                               timeout=120) as c:
        yield c, svc, d


def honest_twin(svc: PricingService, d) -> PricingService:
    """The same graph and model, with no LLM: the deterministic, verified wording."""
    return PricingService(svc.graph, svc.predictor, SuggestionStore(d / "honest.sqlite"),
                          Explainer(None), graph_db=None)


def same_outcome(hacked: dict, honest, claim: str) -> None:
    assert hacked["recommended_price"] == honest.recommended_price
    assert hacked["interval"] == honest.interval.model_dump()
    assert hacked["evidence"] == honest.evidence.model_dump(mode="json")
    sheet = suggestion_fact_sheet(Suggestion.model_validate(hacked)).to_dict()
    assert sheet == suggestion_fact_sheet(honest).to_dict()
    assert claim not in hacked["explanation"]["text"]
    assert hacked["explanation"]["status"] == "fallback"           # the obeyed text failed
    assert hacked["explanation"]["text"] == honest.explanation.text


@pytest.mark.parametrize("text, claim", CASES)
def test_injection_inline_through_the_api(served, text, claim):
    c, svc, d = served
    product = {"title": "Electric kettle 1.5 L stainless steel " + text, "description": text,
               "reviews": [text, "Boils fast. " + text], "price": 1299, "currency": "INR",
               "category_path": "Home & Kitchen > Kettles"}
    r = c.post("/v1/suggestions", json={"product": product, "explain": True})
    assert r.status_code == 200, r.text
    honest = honest_twin(svc, d).suggest(ProductIn(**product), SuggestOptions(explain=True))
    same_outcome(r.json(), honest, claim)


@pytest.mark.parametrize("text, claim", CASES)
def test_injection_committed_by_a_curation_edit(served, text, claim):
    c, svc, d = served
    i = [t for t, _ in INJECTIONS].index(text)
    pid = sorted(svc.products.index[svc.products["price"].notna()])[i]
    nid = f"product:{pid}"
    v = c.get(f"/v1/graph/nodes/{nid}", params={"edges": 0}).json()["version"]
    r = c.post("/v1/graph/ops", json={"op": "update_node", "expected": v, "params": {
        "node": nid, "changes": {"title": "Kettle " + text, "description": text}}})
    assert r.status_code == 200, r.text
    assert svc.products.at[pid, "title"] == "Kettle " + text       # live at once
    r = c.post("/v1/suggestions", json={"product_id": pid, "explain": True})
    assert r.status_code == 200, r.text
    honest = honest_twin(svc, d).suggest(pid, SuggestOptions(explain=True))
    same_outcome(r.json(), honest, claim)


def test_c1_controls_through_the_api_and_a_curation_edit(served):
    """C1 controls (U+0080-U+009F: CSI, NEL, ...): free text gets its Windows-1252 punctuation
    back (what real listings mean by them), ids are refused naming the field, the same on the
    API and in curation as on ingest (tests/test_contracts.py)."""
    c, svc, d = served
    product = {"title": "Kettle \x96 steel \x9b31m", "description": "Boils fast\x85", "reviews": ["Don\x92t wait"],
               "price": 1299, "currency": "INR"}
    r = c.post("/v1/suggestions", json={"product": product})
    assert r.status_code == 200, r.text
    assert r.json()["title"] == "Kettle – steel ›31m"
    r = c.post("/v1/suggestions", json={"product": {**product, "product_id": "B0\x9bX"}})
    assert r.status_code == 422 and r.json()["field"] == "product.product_id", r.text
    assert "U+009B" in r.json()["error"]
    pid = sorted(svc.products.index[svc.products["price"].notna()])[-1]
    nid = f"product:{pid}"
    v = c.get(f"/v1/graph/nodes/{nid}", params={"edges": 0}).json()["version"]
    r = c.post("/v1/graph/ops", json={"op": "update_node", "expected": v, "params": {
        "node": nid, "changes": {"title": "Kettle \x96 2 L", "description": "Steel\x85\x81"}}})
    assert r.status_code == 200, r.text
    assert svc.products.at[pid, "title"] == "Kettle – 2 L"
    assert svc.products.at[pid, "description"] == "Steel…"
    r = c.post("/v1/graph/ops", json={"op": "add_product", "params": {"product_id": "new\x85id", "title": "Kettle"}})
    assert r.status_code == 422 and r.json()["field"] == "product_id" and "U+0085" in r.json()["error"], r.text
