"""assistant.curation: one curation service per PricingService, shared by the API and the
Curate tab, its worker stopped at shutdown; readers, search and worklist as both edges use them.

Edits run on a COPY of the tiny model's graph (its own store and service).
Run alone: ``.venv/bin/pytest -q tests/test_curation_service.py``
"""
from __future__ import annotations

import threading

import httpx
import pytest

from assistant.curation import CurationService, NodeDetail, SearchResult, WorklistItem
from assistant.server import ApiSettings, build_server
from assistant.web.curate import CurateDesk
from graph.curation import CurationError
from tests.conftest import live_server, service_on_store_copy

CURATOR = "curator-key-for-tests-0001"


@pytest.fixture(scope="module")
def svc(tiny_service, tmp_path_factory):
    return service_on_store_copy(tiny_service, tmp_path_factory.mktemp("curation_service"))


def _workers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("graph-curation")}


def test_one_worker_per_service_shared_by_api_and_tab_and_closed_at_shutdown(svc):
    assert svc.curation is svc.curation and isinstance(svc.curation, CurationService)
    before = _workers()
    app = build_server(svc, ApiSettings(api_keys={CURATOR: "curator"}))
    with live_server(app) as url:
        r = httpx.post(url + "/v1/graph/ops", headers={"X-API-Key": CURATOR}, timeout=120,
                       json={"op": "add_brand", "params": {"name": "Shared Worker One"}})
        assert r.status_code == 200, r.text
        desk = CurateDesk(svc)
        assert desk.curation is svc.curation
        v = desk.load("brand:shared worker one")
        out = desk.edit(v.id, v.version, "Set attribute", attribute="origin", value="IN",
                        who="alice", dry_run=False)
        assert out.ok, out.message
        started = _workers() - before
        assert len(started) == 1, started          # the API and the tab: one worker
        assert svc.curation.running
    assert not svc.curation.running                # the app's shutdown stopped it
    for t in started:
        t.join(5)
        assert not t.is_alive()
    # closed is not broken: the next edit starts a worker again
    r = svc.curation.apply("add_brand", {"name": "After Close"}, actor="test")
    assert r.audit_id and svc.curation.running
    svc.curation.close()


def test_readers_return_dataclasses(svc):
    cs = svc.curation
    brand = svc.products["brand"].dropna().value_counts().index[0]
    found = cs.search(brand.lower(), "brand", limit=3)
    assert isinstance(found, SearchResult) and found.total >= 1
    hit = found.hits[0]
    assert hit.type == "brand" and hit.degree == svc.graph.degree(hit.id)
    node = cs.node(hit.id, max_edges=2)
    assert isinstance(node, NodeDetail) and node.version >= 1
    assert len(node.in_edges) == 2 and node.n_in == svc.graph.in_degree(hit.id)
    assert cs.node("brand:zzzz-nothing") is None
    items = cs.worklist(per_check=2)
    assert items and all(isinstance(w, WorklistItem) and w.node in svc.graph for w in items)
    assert cs.quality() is cs.quality()            # cached while the graph is the same


def test_search_leaves_reviews_out_unless_asked_and_api_and_tab_agree(svc):
    cs = svc.curation
    review = next(n for n, d in svc.graph.nodes(data=True) if d.get("type") == "review")
    assert all(h.type != "review" for h in cs.search(review, limit=50).hits)
    assert [h.id for h in cs.search(review, "review").hits] == [review]
    app = build_server(svc, ApiSettings(api_keys={CURATOR: "curator"}), ui=False)
    with live_server(app) as url:
        for q in ("a", "an", review):
            api = httpx.get(url + "/v1/graph/nodes", params={"q": q, "limit": 50},
                            headers={"X-API-Key": CURATOR}).json()
            tab = CurateDesk(svc).search("any", q, limit=50)
            assert [n["id"] for n in api["nodes"]] == list(tab["id"]), q


def test_commit_refreshes_the_service_and_errors_are_curation_errors(svc):
    cs = svc.curation
    pid = sorted(svc.products.index[svc.products["price"].notna()])[0]
    nid = f"product:{pid}"
    v = cs.node(nid).version
    prev = cs.apply("update_node", {"node": nid, "changes": {"price": 1234.5}}, actor="t",
                    expected=v, dry_run=True)
    assert prev.dry_run and pid in prev.impact.prices and svc.products.at[pid, "price"] != 1234.5
    cs.apply("update_node", {"node": nid, "changes": {"price": 1234.5}}, actor="t", expected=v)
    assert svc.products.at[pid, "price"] == 1234.5          # live at once
    assert cs.audit(node=nid).entries[0].actor == "t"
    with pytest.raises(CurationError, match="price must be greater than 0"):
        cs.apply("update_node", {"node": nid, "changes": {"price": -1}}, actor="t", force=True)
    with pytest.raises(CurationError, match="expected: give the version") as exc:
        cs.apply("update_node", {"node": nid, "changes": {"price": 99.0}}, actor="t")
    assert exc.value.field == "expected" and svc.products.at[pid, "price"] == 1234.5
    with pytest.raises(ValueError, match="unknown curation operation"):
        cs.apply("_run", {}, actor="t")
