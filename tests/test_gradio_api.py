"""The UI's programmatic surface (assistant.web): ``gradio_client`` against the API + UI served
by uvicorn on a free port (the server ``pricing serve`` builds, Curate tab included, over a
copy of the graph store). Named endpoints only, each doing what the tab does. Budget: < 60 s.

Run alone: ``.venv/bin/pytest -q tests/test_gradio_api.py``
"""
from __future__ import annotations

import re

import pytest
from gradio_client import Client

from assistant.facts import format_money
from assistant.server import ApiSettings, build_server
from tests.conftest import live_server, service_on_store_copy

ENDPOINTS = {"/chat", "/suggest", "/what_if",
             "/curate_search", "/curate_load", "/curate_preview", "/curate_commit", "/curate_revert"}


@pytest.fixture(scope="module")
def svc(tiny_service, demo_demand, tmp_path_factory):
    return service_on_store_copy(tiny_service, tmp_path_factory.mktemp("gradio_api"), demo_demand)


@pytest.fixture(scope="module")
def ui_url(svc):
    with live_server(build_server(svc, ApiSettings(auth_disabled=True)), "uvicorn-gradio-api") as url:
        yield url + "/ui/"


def _client(url: str) -> Client:
    # analytics off: the client would otherwise post telemetry (the default is on)
    return Client(url, verbose=False, analytics_enabled=False)


@pytest.fixture
def client(ui_url):
    """A new client: its own Gradio session (its own chat, last suggestion)."""
    c = _client(ui_url)
    yield c
    c.close()


@pytest.fixture(scope="module")
def product(svc) -> dict:
    t = svc.products
    t = t[t["price"].notna() & (t["title"].str.split().str.len() >= 5)].sort_index()
    row = t.iloc[len(t) // 3]
    return {"id": row["product_id"], "title": row["title"], "currency": row["currency"]}


def test_only_the_named_endpoints_are_offered(client):
    api = client.view_api(print_info=False, return_format="dict")
    assert set(api["named_endpoints"]) == ENDPOINTS
    assert api["unnamed_endpoints"] == {}
    suggest = api["named_endpoints"]["/suggest"]
    assert [p["parameter_name"] for p in suggest["parameters"]][:2] == ["title", "description"]
    names = [r["label"] for r in suggest["returns"]]
    assert names[0] == "suggestion" and "Comparables' prices" in names and "Demand what-if" in names
    assert not any(re.fullmatch(r"value_\d+", n) for e in api["named_endpoints"].values()
                   for n in (r["label"] for r in e["returns"])), "every output has a name"
    chat = api["named_endpoints"]["/chat"]
    assert [p["parameter_name"] for p in chat["parameters"]] == ["message"]
    assert [r["label"] for r in chat["returns"]] == ["reply"]


def test_chat_answers_the_new_reply_and_keeps_the_session(client, ui_url, product):
    first = client.predict(f"price {product['id']}, my cost is 100", api_name="/chat")
    assert isinstance(first, str) and "I suggest" in first and product["title"][:30] in first
    why = client.predict("why?", api_name="/chat")          # a follow-up in the same session
    assert "I suggest" not in why and why != first and "Ask me about a product first" not in why
    # another client is another session: no product in context
    other = _client(ui_url)
    assert "Ask me about a product first" in other.predict("why?", api_name="/chat")
    other.close()


def test_suggest_then_what_if_in_one_session(client, svc):
    pid = sorted(p for p, e in svc.demand.model_.estimates_.items()
                 if p in svc.products.index and e.source == "product" and e.high < -1)[0]
    before = svc.store.counts()["suggestions"]
    out = client.predict(title="", description="", category="", brand="", cost=10, current_price=0,
                         currency="INR", min_margin=None, map_price=0, ceiling=0, max_change=0,
                         ending="none", product_id=pid, what_if_price=0, api_name="/suggest")
    card, note = out[0], out[-2]
    assert "I suggest" in card and svc.store.counts()["suggestions"] == before + 1
    sid = re.search(r"suggestion `([0-9a-f]{32})`", card).group(1)
    s = svc.store.get_suggestion(sid)
    assert s.product_id == pid and format_money(s.recommended_price, s.currency) in card
    assert "price elasticity" in note and " At " not in note
    note, figure = client.predict(what_if_price=99, cost=10, api_name="/what_if")
    assert f"At {format_money(99, s.currency)}: about" in note and figure is not None
    assert svc.store.counts()["suggestions"] == before + 1           # a redraw, no new suggestion


def test_what_if_before_any_suggestion_says_so(client):
    note, figure = client.predict(what_if_price=99, cost=10, api_name="/what_if")
    assert note == "**Demand what-if:** suggest a price first." and figure is None


def test_suggest_names_the_bad_field(client, svc):
    before = svc.store.counts()["suggestions"]
    out = client.predict(title="Desk lamp", description="", category="", brand="", cost=-5, current_price=0,
                         currency="INR", min_margin=None, map_price=0, ceiling=0, max_change=0,
                         ending="none", product_id="", what_if_price=0, api_name="/suggest")
    assert "Unit cost: must be 0 or more, got -5." in out[0]
    assert svc.store.counts()["suggestions"] == before


def test_curation_search_load_preview_commit_revert(client, svc):
    from graph.schema import node_id

    sizes = svc.products.groupby("brand").size()
    brand = sorted(b for b, n in sizes.items() if n >= 2 and b.isascii() and b.isalnum())[-1]
    bid, new_id = node_id("brand", brand), node_id("brand", f"{brand} Official")
    found = client.predict(node_type="brand", text=brand.lower(), api_name="/curate_search")
    assert bid in [row[0] for row in found["data"]]
    details, *_ = client.predict(nid=bid, scope="all", api_name="/curate_load")
    assert bid in details
    edit = {"act": "Rename", "val": f"{brand} Official", "attr": "price", "comp": "", "pr": None,
            "cur": "INR", "obs": "", "rep": False, "name": "api", "k": "", "why": "gradio_client",
            "scope": "all"}
    status, impact, *_ = client.predict(**edit, api_name="/curate_preview")
    assert status.startswith("**Preview only — nothing saved.**") and bid in svc.graph
    status, *_ = client.predict(**edit, api_name="/curate_commit")
    audit = int(re.search(r"Saved as audit #(\d+)", status).group(1))
    assert new_id in svc.graph and bid not in svc.graph                 # the live service follows
    status, trail = client.predict(aid=audit, name="api", k="", why="undo", scope="all",
                                   api_name="/curate_revert")
    assert f"Reverted audit #{audit}" in status and bid in svc.graph and new_id not in svc.graph
    assert "rename_node" in [row[trail["headers"].index("op")] for row in trail["data"]]
