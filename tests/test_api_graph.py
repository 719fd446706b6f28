"""The /v1/graph curation API over real HTTP (uvicorn on a free loopback port, httpx clients).

Edits run on a COPY of the tiny model's graph (its own store and PricingService), so the
session-wide ``tiny_service`` other test files use is never changed. Each test edits its own
nodes: the module shares one server, and no test depends on another's edits. The tests that
use the served copy run twice: graph and suggestion stores on SQLite, then on PostgreSQL
(the ``backend`` fixture, tests/conftest.py).
"""
from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from assistant.http.app import ApiSettings, create_app
from assistant.service import PricingService
from tests.conftest import live_server, service_on_store_copy

MERCHANT, CURATOR = "merchant-key-for-tests-01", "curator-key-for-tests-001"
ACTOR = "curator:cura"   # the key's configured name, never key characters


@pytest.fixture(scope="module")
def svc(tiny_service, tmp_path_factory, backend_location) -> PricingService:
    """The served copy: on SQLite files, then (``backend``) on one PostgreSQL database."""
    return service_on_store_copy(tiny_service, tmp_path_factory.mktemp("graph_api"),
                                 location=backend_location)


@pytest.fixture(scope="module")
def base_url(svc):
    app = create_app(svc, ApiSettings(api_keys={MERCHANT: "merchant", CURATOR: "curator"},
                                      key_names={MERCHANT: "shop", CURATOR: "cura"}))
    with live_server(app) as url:
        yield url


@pytest.fixture(scope="module")
def cur(base_url):
    with httpx.Client(base_url=base_url, headers={"X-API-Key": CURATOR}, timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def merchant(base_url):
    with httpx.Client(base_url=base_url, headers={"X-API-Key": MERCHANT}, timeout=120) as c:
        yield c


# --------------------------------------------------------------------------- picking nodes

@pytest.fixture(scope="module")
def picks(svc) -> dict:
    """Nodes for the tests, each used by one test only: leaf categories with enough training
    prices, brands with products, a competitor."""
    p = svc.products
    train = set(svc.predictor.graph_features.train_ids_)
    priced = p[p["price"].notna() & p.index.isin(train) & p["category_path"].notna()]
    g = svc.graph
    leaves = {c for c in priced["category_path"]
              if not any(d.get("type") == "child_of" for _, _, d in
                         g.in_edges(f"category:{c}", data=True))}
    sizes = priced[priced["category_path"].isin(leaves)].groupby(
        ["currency", "category_path"])["price"].agg(["count", "median"])
    big = sizes[sizes["count"] >= 6].sort_values("median")
    cur = big.index[0][0]
    big = big.loc[cur]
    cheap, dear = big.index[0], big.index[-1]
    assert big.loc[dear, "median"] > 2 * big.loc[cheap, "median"]
    movers = sorted(priced.index[priced["category_path"] == dear])
    brands = p.groupby("brand").size()
    brands = sorted(b for b, n in brands.items() if n >= 2 and b.isascii() and b.isalnum())
    comps = sorted(n for n, d in g.nodes(data=True) if d.get("type") == "competitor")
    others = sorted(priced.index[~priced["category_path"].isin([cheap, dear])])
    return {"cheap": cheap, "dear": dear, "movers": movers, "brands": brands,
            "competitor": comps[0], "others": others}


def _op(client, op, params, **kw):
    return client.post("/v1/graph/ops", json={"op": op, "params": params, **kw})


def _audit(client, **params) -> list[dict]:
    r = client.get("/v1/graph/audit", params=params)
    assert r.status_code == 200, r.text
    return r.json()["entries"]


# --------------------------------------------------------------------------- roles

EDITS = [
    ("/v1/graph/ops", {"op": "add_brand", "params": {"name": "Role Check"}, "dry_run": True}),
    ("/v1/graph/bulk", {"rows": [], "dry_run": True}),
    ("/v1/graph/audit/{audit_id}/revert", {"dry_run": True}),
]


@pytest.mark.parametrize("path,body", EDITS, ids=["ops", "bulk", "revert"])
def test_every_edit_needs_a_curator_key(base_url, cur, picks, path, body):
    made = _op(cur, "add_brand", {"name": f"Role Check {path.split('/')[3]}"}).json()
    path = path.format(audit_id=made["audit_id"])
    if "bulk" in path:
        body = {**body, "rows": [{"op": "add_offer", "product_id": picks["others"][0],
                                  "competitor": picks["competitor"], "price": 10,
                                  "currency": "INR", "observed_at": "2031-01-01"}]}
    assert httpx.post(base_url + path, json=body).status_code == 401
    assert httpx.post(base_url + path, json=body,
                      headers={"X-API-Key": "wrong"}).status_code == 401
    r = httpx.post(base_url + path, json=body, headers={"X-API-Key": MERCHANT})
    assert r.status_code == 403 and "curator" in r.json()["error"]
    r = cur.post(path, json=body)
    assert r.status_code == 200, r.text
    assert r.json()["dry_run"] is True and r.json()["audit_id"] is None


def test_reads_need_a_key_merchants_may_read(base_url, merchant, picks):
    for path in ("/v1/graph/nodes?q=a", f"/v1/graph/nodes/category:{picks['cheap']}",
                 "/v1/graph/audit", "/v1/graph/quality"):
        assert httpx.get(base_url + path).status_code == 401
        assert merchant.get(path).status_code == 200, path


# --------------------------------------------------------------------------- reads

def test_search_node_and_quality(merchant, svc, picks):
    brand = picks["brands"][0]
    r = merchant.get("/v1/graph/nodes", params={"q": brand.lower(), "type": "brand"}).json()
    assert r["nodes"][0]["name"] == brand and all(n["type"] == "brand" for n in r["nodes"])
    cid = f"category:{picks['cheap']}"
    node = merchant.get(f"/v1/graph/nodes/{cid}", params={"edges": 3}).json()
    assert node["version"] == 1 and node["attrs"]["path"] == picks["cheap"]
    assert node["n_in"] >= 6 and len(node["in_edges"]) == 3
    assert all(e["type"] == "in_category" and e["node_type"] == "product"
               for e in node["in_edges"])
    r = merchant.get("/v1/graph/nodes/brand:no-such-brand")
    assert r.status_code == 404 and r.json()["field"] == "node_id"
    q = merchant.get("/v1/graph/quality", params={"limit": 2}).json()
    assert set(q["counts"]) >= {"duplicate_brands", "price_outliers"}
    assert all(len(q[k]) <= 2 for k in q if k != "counts")
    assert q["counts"]["single_product_categories"] >= len(q["single_product_categories"])


# --------------------------------------------------------------------------- edits

def test_rename_merge_link_are_audited(cur, merchant, picks, svc):
    a, b = picks["brands"][1], picks["brands"][2]
    aid, bid = f"brand:{a.lower()}", f"brand:{b.lower()}"
    n_a = int((svc.products["brand"] == a).sum())
    v = merchant.get(f"/v1/graph/nodes/{aid}").json()["version"]
    r = _op(cur, "rename_node", {"node": aid, "new_name": a + " Renamed"}, reason="typo",
            expected=v)
    assert r.status_code == 200, r.text
    renamed = r.json()
    new_id = f"brand:{a.lower()} renamed"
    assert renamed["audit_id"] and renamed["versions"][new_id] >= 2
    r = _op(cur, "merge_nodes", {"source": new_id, "target": bid},
            expected={new_id: renamed["versions"][new_id]}, reason="same company")
    assert r.status_code == 200, r.text
    merged = r.json()
    pid = picks["others"][0]
    r = _op(cur, "link_category", {"product": pid, "category": picks["cheap"]}, force=True)
    assert r.status_code == 200, r.text
    linked = r.json()
    assert merchant.get(f"/v1/graph/nodes/{new_id}").status_code == 404
    # The service follows: products of the merged brand now show the target brand.
    assert int((svc.products["brand"] == b).sum()) >= n_a + 2
    assert svc.products.loc[pid, "category_path"] == picks["cheap"]
    entries = _audit(merchant, node=bid)
    assert entries[0]["id"] == merged["audit_id"] and entries[0]["op"] == "merge_nodes"
    assert entries[0]["actor"] == ACTOR and entries[0]["reason"] == "same company"
    assert entries[0]["summary"]["nodes removed"] == 1
    ops = {e["id"]: e["op"] for e in _audit(merchant, limit=50)}
    assert ops[renamed["audit_id"]] == "rename_node" and ops[linked["audit_id"]] == "link_category"
    with_images = _audit(merchant, node=f"product:{pid}", limit=1, images="true")[0]
    assert with_images["before"] and with_images["after"]


def test_dry_run_then_commit_changes_the_next_suggestion(cur, merchant, picks, svc):
    """Re-categorising a product: the preview lists it with its price move, the store is
    unchanged; committed, the next suggestion prices it as previewed, from new evidence."""
    pid, cheap, dear = picks["movers"][0], picks["cheap"], picks["dear"]
    nid = f"product:{pid}"
    before = merchant.post("/v1/suggestions", json={"product_id": pid, "explain": False}).json()
    assert before["evidence"]["category"]["name"] == dear
    n_audit = len(_audit(merchant, limit=1000))
    version = merchant.get(f"/v1/graph/nodes/{nid}").json()["version"]

    r = _op(cur, "link_category", {"product": pid, "category": cheap}, dry_run=True,
            expected=version)
    assert r.status_code == 200, r.text
    prev = r.json()
    assert prev["dry_run"] and prev["audit_id"] is None and prev["summary"]["edges added"] == 1
    imp = prev["impact"]
    assert pid in imp["direct"] and pid in imp["products"]
    assert imp["features"][pid]["cat_median"][0] > imp["features"][pid]["cat_median"][1]
    old_price, new_price = imp["prices"][pid]
    assert old_price == pytest.approx(before["model_price"], abs=0.011)
    assert new_price < old_price
    # Nothing was written: same version, same category, no audit entry, same suggestion.
    node = merchant.get(f"/v1/graph/nodes/{nid}").json()
    assert node["version"] == version
    assert [e["name"] for e in node["out_edges"] if e["type"] == "in_category"] == [dear]
    assert len(_audit(merchant, limit=1000)) == n_audit
    assert svc.products.loc[pid, "category_path"] == dear

    r = _op(cur, "link_category", {"product": pid, "category": cheap}, expected=version)
    assert r.status_code == 200, r.text
    after = merchant.post("/v1/suggestions", json={"product_id": pid, "explain": False}).json()
    assert after["evidence"]["category"]["name"] == cheap
    assert after["model_price"] == pytest.approx(new_price, abs=0.011)
    assert after["model_price"] != pytest.approx(before["model_price"], abs=0.011)


def test_stale_version_is_a_conflict_and_nothing_is_lost(cur, merchant, picks):
    bid = f"brand:{picks['brands'][3].lower()}"
    v = merchant.get(f"/v1/graph/nodes/{bid}").json()["version"]
    r = _op(cur, "update_node", {"node": bid, "changes": {"note": "first"}}, expected=v)
    assert r.status_code == 200 and r.json()["versions"][bid] == v + 1
    r = _op(cur, "update_node", {"node": bid, "changes": {"note": "second"}}, expected=v)
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["field"] == "version" and body["node"] == bid and str(v + 1) in body["error"]
    node = merchant.get(f"/v1/graph/nodes/{bid}").json()
    assert node["attrs"]["note"] == "first" and node["version"] == v + 1


def test_revert_and_refused_revert(cur, merchant, picks):
    bid = f"brand:{picks['brands'][4].lower()}"
    first = _op(cur, "update_node", {"node": bid, "changes": {"origin": "IN"}}, force=True).json()
    r = cur.post(f"/v1/graph/audit/{first['audit_id']}/revert", json={"reason": "wrong"})
    assert r.status_code == 200, r.text
    assert r.json()["op"] == "revert" and "origin" not in merchant.get(
        f"/v1/graph/nodes/{bid}").json()["attrs"]
    entry = _audit(merchant, node=bid)[1]
    assert entry["id"] == first["audit_id"] and entry["reverted_by"] == r.json()["audit_id"]
    r = cur.post(f"/v1/graph/audit/{first['audit_id']}/revert")
    assert r.status_code == 422 and "already reverted" in r.json()["error"]
    assert r.json()["field"] == "audit_id"
    # The state moved on: reverting the older edit is refused, naming the later one.
    one = _op(cur, "update_node", {"node": bid, "changes": {"origin": "CN"}}, force=True).json()
    two = _op(cur, "update_node", {"node": bid, "changes": {"origin": "US"}}, force=True).json()
    r = cur.post(f"/v1/graph/audit/{one['audit_id']}/revert")
    assert r.status_code == 422 and f"#{two['audit_id']}" in r.json()["error"]
    assert merchant.get(f"/v1/graph/nodes/{bid}").json()["attrs"]["origin"] == "US"
    assert cur.post("/v1/graph/audit/999999/revert").status_code == 404


def _root_and_child(svc) -> tuple[str, str]:
    g = svc.graph
    for u, v, d in sorted(g.edges(data=True), key=lambda e: (e[0], e[1])):
        if d.get("type") == "child_of" and not any(
                x.get("type") == "child_of" for _, _, x in g.out_edges(v, data=True)):
            return v, u
    raise AssertionError("no two-level taxonomy in the tiny graph")


@pytest.mark.parametrize("case", ["op", "price", "currency", "new_parent", "actor",
                                  "new_name", "expected", "bulk_rows", "bulk_csv"])
def test_bad_input_names_the_field(cur, merchant, picks, svc, case):
    pid, comp = picks["others"][1], picks["competitor"]
    offer = {"competitor": comp, "product": pid, "price": 10, "currency": "INR"}
    n_audit = len(_audit(merchant, limit=1000))
    if case == "op":
        r = _op(cur, "explode", {})
    elif case == "price":
        r = _op(cur, "add_offer", {**offer, "price": -5}, force=True)
    elif case == "currency":
        r = _op(cur, "add_offer", {**offer, "currency": "XYZ"}, force=True)
    elif case == "new_parent":
        root, child = _root_and_child(svc)
        r = _op(cur, "reparent_category", {"category": root, "new_parent": child}, force=True)
        assert "cycle" in r.json()["error"]
    elif case == "actor":  # the audit's "who" comes from the key, never from the request
        r = _op(cur, "add_brand", {"name": "Forged", "actor": "someone-else"})
    elif case == "new_name":
        r = _op(cur, "rename_node", {"node": f"product:{pid}"}, force=True)
    elif case == "expected":
        r = _op(cur, "add_brand", {"name": "Stale"}, expected="3")
    elif case == "bulk_rows":
        r = cur.post("/v1/graph/bulk", json={"force": True, "rows": [
            {"op": "add_offer", "product_id": pid, "competitor": comp, "price": 5,
             "currency": "INR", "observed_at": "2031-02-01"},
            {"op": "add_offer", "product_id": pid, "competitor": comp, "price": -1,
             "currency": "INR", "observed_at": "2031-02-02"}]})
        assert r.json()["rows"][0]["row"] == 2
    else:
        r = cur.post("/v1/graph/bulk", content="op,category_path\nlink_category,A > B\n",
                     params={"force": "true"}, headers={"Content-Type": "text/csv"})
    want = {"bulk_rows": "price", "bulk_csv": "product_id"}.get(case, case)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == want and r.json()["error"]
    assert len(_audit(merchant, limit=1000)) == n_audit


def test_bulk_csv_dry_run_then_commit(cur, merchant, picks, svc):
    pids = picks["others"][2:4]
    brand = picks["brands"][5]
    csv_text = "op,product_id,brand\n" + "".join(f"link_brand,{p},{brand}\n" for p in pids)
    r = cur.post("/v1/graph/bulk", params={"dry_run": "true"}, content=csv_text,
                 headers={"Content-Type": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.json()["dry_run"] and sorted(r.json()["impact"]["direct"]) == sorted(pids)
    assert all(svc.products.loc[p, "brand"] != brand for p in pids)
    r = cur.post("/v1/graph/bulk", content=csv_text, params={"reason": "brand sheet"},
                 headers={"Content-Type": "text/csv"})
    assert r.status_code == 422 and r.json()["field"] == "expected"   # a commit must say so
    r = cur.post("/v1/graph/bulk", content=csv_text,
                 params={"reason": "brand sheet", "force": "true"},
                 headers={"Content-Type": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.json()["op"] == "bulk_import" and r.json()["params"]["rows"] == 2
    assert all(svc.products.loc[p, "brand"] == brand for p in pids)
    e = _audit(merchant, limit=1)[0]
    assert e["op"] == "bulk_import" and e["actor"] == ACTOR and e["reason"] == "brand sheet"


def test_without_a_graph_store_edits_answer_503(tiny_service):
    """tiny_service has no store: reads work on its in-memory graph, edits cannot happen."""
    app = create_app(tiny_service, ApiSettings(api_keys={CURATOR: "curator"}))
    with TestClient(app, headers={"X-API-Key": CURATOR}) as c:
        r = _op(c, "add_brand", {"name": "Nowhere"})
        assert r.status_code == 503 and "graph store" in r.json()["error"]
        assert c.post("/v1/graph/audit/1/revert").status_code == 503
        assert c.get("/v1/graph/audit").json() == {"graph_store": False, "entries": []}
        assert c.get("/v1/graph/nodes", params={"limit": 1}).json()["total"] > 0
        paths = c.get("/openapi.json").json()["paths"]
    for p in ("/v1/graph/nodes", "/v1/graph/nodes/{node_id}", "/v1/graph/ops", "/v1/graph/bulk",
              "/v1/graph/audit", "/v1/graph/audit/{audit_id}/revert", "/v1/graph/quality"):
        assert p in paths, sorted(paths)


# --------------------------------------------------------------------------- hardening (issue 19)

def test_edits_need_expected_or_force(cur, merchant, picks):
    bid = f"brand:{picks['brands'][6].lower()}"
    n_audit = len(_audit(merchant, limit=1000))
    v = merchant.get(f"/v1/graph/nodes/{bid}").json()["version"]
    r = _op(cur, "update_node", {"node": bid, "changes": {"note": "blind"}})
    assert r.status_code == 422 and r.json()["field"] == "expected", r.text
    assert "force" in r.json()["error"]
    assert len(_audit(merchant, limit=1000)) == n_audit       # nothing written
    assert _op(cur, "update_node", {"node": bid, "changes": {"note": "preview"}},
               dry_run=True).status_code == 200            # a preview changes nothing: no lock
    r = _op(cur, "update_node", {"node": bid, "changes": {"note": "forced"}}, force=True)
    assert r.status_code == 200 and r.json()["versions"][bid] == v + 1
    r = cur.post("/v1/graph/bulk", json={"rows": [{"op": "unlink_brand",
                                                   "product_id": picks["others"][5]}]})
    assert r.status_code == 422 and r.json()["field"] == "expected"
    assert _op(cur, "add_brand", {"name": "Brand New Name"}).status_code == 200  # creates: no lock


def test_idempotency_key_makes_a_lost_response_safe_to_retry(cur, merchant, picks):
    bid = f"brand:{picks['brands'][7].lower()}"
    n_audit = len(_audit(merchant, limit=1000))
    body = {"op": "update_node", "params": {"node": bid, "changes": {"note": "once"}},
            "force": True}
    first = cur.post("/v1/graph/ops", json=body, headers={"Idempotency-Key": "edit-0001"})
    again = cur.post("/v1/graph/ops", json=body, headers={"Idempotency-Key": "edit-0001"})
    assert first.status_code == again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert again.json()["audit_id"] == first.json()["audit_id"]
    assert again.json()["versions"] == first.json()["versions"]
    assert len(_audit(merchant, limit=1000)) == n_audit + 1      # applied once
    other = {**body, "params": {"node": bid, "changes": {"note": "twice"}}}
    r = cur.post("/v1/graph/ops", json=other, headers={"Idempotency-Key": "edit-0001"})
    assert r.status_code == 422 and r.json()["field"] == "Idempotency-Key"
    csv_text = f"op,product_id,brand\nlink_brand,{picks['others'][6]},{picks['brands'][7]}\n"
    posts = [cur.post("/v1/graph/bulk", content=csv_text, params={"force": "true"},
                      headers={"Content-Type": "text/csv", "Idempotency-Key": "bulk-0001"})
             for _ in range(2)]
    assert [p.status_code for p in posts] == [200, 200]
    assert posts[0].json()["audit_id"] == posts[1].json()["audit_id"]
    assert len(_audit(merchant, limit=1000)) == n_audit + 2


def test_audit_names_keys_never_shows_key_characters(svc, tmp_path):
    """A key configured without a name is recorded as a salted hash of it."""
    unnamed = "zq9-unnamed-curator-key-77"
    app = create_app(svc, ApiSettings(api_keys={unnamed: "curator"}))
    with TestClient(app, headers={"X-API-Key": unnamed}) as c:
        r = _op(c, "add_brand", {"name": "Hash Actor Brand"})
        assert r.status_code == 200, r.text
        e = _audit(c, node="brand:hash actor brand")[0]
    assert e["actor"].startswith("curator:key-") and unnamed[:4] not in e["actor"]


@pytest.mark.parametrize("params, field", [
    ({"product_id": "product:X1", "title": "Prefixed"}, "product_id"),
    ({"product_id": "p" * 300, "title": "Long id"}, "product_id"),
    ({"product_id": "fuzz-title", "title": "t" * 10_000}, "title"),
    ({"product_id": "fuzz-nul", "title": "bo\x00at"}, "title"),
])
def test_curation_refuses_what_the_api_could_not_serve(cur, merchant, picks, params, field):
    """issue 19 (1, 8): such a product made every preview, its suggestions and any batch
    holding it fail with 500 until it was reverted."""
    r = _op(cur, "add_product", params)
    assert r.status_code == 422 and r.json()["field"] == field, r.text
    assert len(r.text) < 4000                                  # the input is not echoed whole
    r = _op(cur, "add_brand", {"name": "Preview Still Works"}, dry_run=True)
    assert r.status_code == 200
    r = _op(cur, "link_brand", {"product": picks["others"][7], "brand": "bo\x00at"}, force=True)
    assert r.status_code == 422 and r.json()["field"] == "brand"  # was: resolved to brand:boat
    assert "control character" in r.json()["error"]


def test_csv_field_over_the_csv_limit_is_a_422_and_the_connection_lives(cur, merchant):
    text = "op,product_id,brand\nlink_brand,x," + "b" * 140_000 + "\n"
    r = cur.post("/v1/graph/bulk", content=text, params={"force": "true"},
                 headers={"Content-Type": "text/csv"})
    assert r.status_code == 422 and r.json()["field"] == "body", r.text
    assert cur.get("/v1/graph/nodes", params={"q": "a", "limit": 1}).status_code == 200
