"""/v1/graph/matches over real HTTP and the Curate tab's Matches view (its desk callbacks).

Proposals are put in a COPY of the tiny model's graph store directly (what a ``pricing
match`` run leaves for curators), so no matcher is trained here; decisions go through the
service's curation worker and must show up in the live service at once. The module runs on
both backends: the graph store a SQLite file, then a PostgreSQL database (``backend``).
"""
from __future__ import annotations

import httpx
import pytest

from assistant.http.app import ApiSettings, create_app
from assistant.service import PricingService
from assistant.web.curate import CurateDesk
from assistant.web.matches import MatchesDesk
from graph.match_store import MatchStore, Proposal
from graph.store import GraphStore
from tests.conftest import live_server, service_on_store_copy

MERCHANT, CURATOR = "merchant-key-for-tests-01", "curator-key-for-tests-001"


def listing(title: str, price: float) -> dict:
    return {"title": title, "price": price, "currency": "INR", "observed_at": "2023-03-01",
            "url": None}


@pytest.fixture(scope="module")
def svc(tiny_service, tmp_path_factory, backend_location) -> PricingService:
    return service_on_store_copy(tiny_service, tmp_path_factory.mktemp("match_api"),
                                 location=backend_location)


@pytest.fixture(scope="module")
def pids(svc) -> list[str]:
    """INR products without competitor offers, and a queue of proposals about them."""
    p = svc.products
    ids = [i for i in p.index if p.loc[i, "currency"] == "INR" and not svc.competitors(i)][:6]
    with GraphStore(svc.graph_db) as st:
        ms = MatchStore(st.conn)
        for k, (pid, score) in enumerate([(ids[0], 0.9), (ids[1], 0.8)]):   # one listing
            ms.upsert(Proposal("r1", "ShopY", "id:A", listing("Listing A", 111.0), pid, score,
                               k + 1, {"code_shared": 1.2}))
        ms.upsert(Proposal("r1", "ShopY", "id:B", listing("Listing B", 222.0), ids[2], 0.7, 1))
        ms.upsert(Proposal("r1", "ShopY", "id:C", listing("Listing C", 333.0), ids[3], 0.6, 1))
    return ids


@pytest.fixture(scope="module")
def base_url(svc, pids):
    app = create_app(svc, ApiSettings(api_keys={MERCHANT: "merchant", CURATOR: "curator"},
                                      key_names={MERCHANT: "shop", CURATOR: "cura"}))
    with live_server(app) as url:
        yield url


def client(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=120)


def find(items: list[dict], key: str, pid: str) -> dict:
    return next(i for i in items if i["listing_key"] == key and i["product_id"] == pid)


def test_queue_confirm_reject_relink_over_http(base_url, svc, pids):
    with client(base_url, MERCHANT) as m, client(base_url, CURATOR) as c:
        q = m.get("/v1/graph/matches").json()
        assert q["counts"]["pending"] >= 4
        assert [i["score"] for i in q["items"]] == sorted((i["score"] for i in q["items"]),
                                                          reverse=True)
        a = find(q["items"], "id:A", pids[0])
        assert a["features"] == {"code_shared": 1.2} and a["listing"]["price"] == 111.0
        assert m.post(f"/v1/graph/matches/{a['id']}/confirm").status_code == 403
        assert httpx.get(f"{base_url}/v1/graph/matches").status_code == 401

        r = c.post(f"/v1/graph/matches/{a['id']}/confirm", json={"reason": "same"})
        assert r.status_code == 200, r.text
        done = r.json()
        assert done["status"] == "confirmed" and done["audit_id"] and \
            done["decided_by"] == "curator:cura"
        # the live service serves the new offer at once, in the product's suggestion too
        assert [(o.competitor, o.price) for o in svc.competitors(pids[0])] == [("ShopY", 111.0)]
        s = m.post("/v1/suggestions", json={"product_id": pids[0], "explain": False}).json()
        assert [(o["competitor"], o["price"]) for o in s["evidence"]["competitors"]] == [
            ("ShopY", 111.0)]
        other = find(c.get("/v1/graph/matches", params={"status": "superseded"}).json()["items"],
                     "id:A", pids[1])
        assert other["status"] == "superseded"
        entry = c.get("/v1/graph/audit", params={"limit": 1}).json()["entries"][0]
        assert entry["id"] == done["audit_id"] and entry["op"] == "add_offer"

        b = find(q["items"], "id:B", pids[2])
        r = c.post(f"/v1/graph/matches/{b['id']}/reject", json={"reason": "colour"})
        assert r.status_code == 200 and r.json()["status"] == "rejected"
        assert svc.competitors(pids[2]) == []

        cc = find(q["items"], "id:C", pids[3])
        r = c.post(f"/v1/graph/matches/{cc['id']}/relink", json={"product_id": pids[4]})
        assert r.status_code == 200, r.text
        assert r.json()["product_id"] == pids[4] and r.json()["status"] == "confirmed"
        assert [o.price for o in svc.competitors(pids[4])] == [333.0]

        bad = c.post(f"/v1/graph/matches/{cc['id']}/relink", json={"product_id": "NOPE"})
        assert bad.status_code == 422 and bad.json()["field"] == "product_id"
        assert c.post("/v1/graph/matches/987654/confirm").status_code == 404
        assert c.get("/v1/graph/matches/0").status_code == 422
        assert c.get("/v1/graph/matches", params={"status": "maybe"}).status_code == 422
        one = m.get(f"/v1/graph/matches/{a['id']}").json()
        assert one["status"] == "confirmed"


def test_matches_view_desk(svc, pids):
    desk = MatchesDesk(CurateDesk(svc))
    with GraphStore(svc.graph_db) as st:
        pid = MatchStore(st.conn).upsert(Proposal("r2", "ShopZ", "id:D", listing("Listing D",
                                                                                  444.0),
                                                  pids[5], 0.75, 1))
    df = desk.queue("pending", "ShopZ")
    assert df["id"].tolist() == [pid] and df["listing"].tolist() == ["Listing D"]
    assert df["product title"].iloc[0]            # the catalog product's title is shown
    msg, _ = desk.decide(pid, "Confirm", who="")
    assert "Curator name" in msg and "Refused" in msg or "Not" in msg
    msg, _ = desk.decide(None, "Confirm", who="alice")
    assert "pick a row" in msg
    msg, after = desk.decide(pid, "Confirm", who="alice")
    assert "confirmed" in msg and after.empty
    assert [o.price for o in svc.competitors(pids[5])] == [444.0]
    keyed = MatchesDesk(CurateDesk(svc, curator_keys=["sesame"]))
    msg, _ = keyed.decide(pid, "Reject", who="alice", key="wrong")
    assert "Curator key" in msg
