"""GET /v1/graph/export and POST /v1/graph/import over real HTTP (uvicorn on a free port).

Edits run on a COPY of the tiny model's graph (its own store and PricingService), so the
session-wide ``tiny_service`` is never changed. Run with
`.venv/bin/pytest tests/test_api_graph_files.py -q`.
"""
from __future__ import annotations

import json

import httpx
import pytest

from assistant.http.app import ApiSettings, create_app
from graph.exchange import read_graph_file
from graph.io import graph_diff
from graph.store import GraphStore
from tests.conftest import live_server, service_on_store_copy

MERCHANT, CURATOR = "merchant-key-for-tests-01", "curator-key-for-tests-001"


@pytest.fixture(scope="module")
def svc(tiny_service, tmp_path_factory):
    return service_on_store_copy(tiny_service, tmp_path_factory.mktemp("graph_files"))


@pytest.fixture(scope="module")
def base_url(svc):
    app = create_app(svc, ApiSettings(api_keys={MERCHANT: "merchant", CURATOR: "curator"},
                                      key_names={MERCHANT: "shop", CURATOR: "cura"}))
    with live_server(app) as url:
        yield url


@pytest.fixture(scope="module")
def cur(base_url):
    with httpx.Client(base_url=base_url, headers={"X-API-Key": CURATOR}, timeout=300) as c:
        yield c


@pytest.fixture(scope="module")
def merchant(base_url):
    with httpx.Client(base_url=base_url, headers={"X-API-Key": MERCHANT}, timeout=300) as c:
        yield c


def _stored(svc):
    with GraphStore(svc.graph_db) as store:
        return store.load()


@pytest.mark.parametrize("fmt,media", [("graphml", "application/graphml+xml"),
                                       ("json", "application/json")])
def test_any_key_exports_the_stored_graph(merchant, svc, tmp_path, fmt, media):
    r = merchant.get("/v1/graph/export", params={"format": fmt})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(media)
    assert f"graph.{fmt}" in r.headers["content-disposition"]
    path = tmp_path / f"g.{fmt}"
    path.write_bytes(r.content)
    assert graph_diff(_stored(svc), read_graph_file(path)) == []


def test_import_dry_run_commit_and_revert(cur, merchant, svc):
    exported = merchant.get("/v1/graph/export", params={"format": "json"}).content
    r = cur.post("/v1/graph/ops", json={"op": "add_brand", "params": {"name": "Qq Import Test"}})
    assert r.status_code == 200, r.text
    changed = _stored(svc)

    dry = cur.post("/v1/graph/import", params={"dry_run": "true"}, content=exported)
    assert dry.status_code == 200, dry.text
    body = dry.json()
    assert body["dry_run"] and body["audit_id"] is None
    assert body["summary"] == {"nodes removed": 1}
    assert body["nodes"]["removed"] == ["brand:qq import test"]
    assert graph_diff(changed, _stored(svc)) == []          # nothing stored

    no_lock = cur.post("/v1/graph/import", content=exported)
    assert no_lock.status_code == 422 and no_lock.json()["field"] == "expected_version"
    stale = cur.post("/v1/graph/import", params={"expected_version": body["base_version"] - 1},
                     content=exported)
    assert stale.status_code == 409, stale.text

    done = cur.post("/v1/graph/import", params={"expected_version": body["base_version"],
                                                "reason": "back to the export"},
                    content=exported)
    assert done.status_code == 200, done.text
    audit_id = done.json()["audit_id"]
    assert audit_id and "brand:qq import test" not in svc.graph  # the service follows at once
    entry = cur.get("/v1/graph/audit", params={"limit": 1}).json()["entries"][0]
    assert (entry["id"], entry["op"], entry["actor"]) == (audit_id, "import_graph", "curator:cura")

    back = cur.post(f"/v1/graph/audit/{audit_id}/revert", json={"reason": "keep the brand"})
    assert back.status_code == 200, back.text
    assert graph_diff(changed, _stored(svc)) == []


def test_merchant_keys_cannot_import(merchant):
    r = merchant.post("/v1/graph/import", params={"dry_run": "true"}, content=b"{}")
    assert r.status_code == 403 and r.json()["field"] == "X-API-Key"


@pytest.mark.parametrize("body,params,field", [
    (b"", {}, "body"),
    (b"hello", {}, "format"),
    (b"<graphml><graph>", {}, "body"),
    (b'{"nodes": [', {}, "body"),
    (b"<graphml/>", {"format": "gexf"}, "format"),
])
def test_malformed_files_answer_4xx(cur, svc, body, params, field):
    before = _stored(svc)
    r = cur.post("/v1/graph/import", params={"force": "true", **params}, content=body)
    assert r.status_code == 422, r.text
    assert r.json()["field"].endswith(field) and r.json()["error"]
    assert graph_diff(before, _stored(svc)) == []


def test_a_graph_breaking_rules_lists_every_problem(cur, merchant, svc):
    data = json.loads(merchant.get("/v1/graph/export", params={"format": "json"}).content)
    products = [n for n in data["nodes"] if n["type"] == "product"][:2]
    products[0]["price"] = -5
    products[1]["currency"] = "XXX"
    before = _stored(svc)
    r = cur.post("/v1/graph/import", params={"force": "true"}, content=json.dumps(data))
    assert r.status_code == 422, r.text
    rows = {(row["node"], row["field"]) for row in r.json()["rows"]}
    assert rows == {(products[0]["id"], "price"), (products[1]["id"], "currency")}
    assert graph_diff(before, _stored(svc)) == []
