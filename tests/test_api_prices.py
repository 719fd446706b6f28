"""Apply with history and approvals over real HTTP: /v1/suggestions/{id}/apply,
/v1/products/{id}/price-history, /v1/approvals (the approver role), the error shape."""
from __future__ import annotations

import httpx
import pytest

from assistant.http.app import ApiSettings, create_app
from assistant.pricebook import ApprovalPolicy, PriceBook
from tests.conftest import live_server

# keys need at least 16 characters (the server refuses shorter ones)
MERCHANT, APPROVER, CURATOR = "merchant-key-0123456789", "approver-key-0123456789", "curator-key-0123456789"
# the names the audit and the history record (never key characters)
NAMES = {MERCHANT: "mia", APPROVER: "abe", CURATOR: "cai"}


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    b = PriceBook(tmp_path_factory.mktemp("book") / "pricebook.sqlite",
                  ApprovalPolicy(max_auto_change=0.05, min_confidence=0.0))
    yield b
    b.close()


@pytest.fixture(scope="module")
def base_url(tiny_service, book):
    keys = {MERCHANT: "merchant", APPROVER: "approver", CURATOR: "curator"}
    with live_server(create_app(tiny_service, ApiSettings(api_keys=keys, key_names=NAMES), pricebook=book)) as url:
        yield url


def client(base_url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers={"X-API-Key": key}, timeout=60)


@pytest.fixture(scope="module")
def pids(tiny_service) -> list[str]:
    p = tiny_service.products
    return sorted(p.index[p["price"].notna()])[:5]


@pytest.fixture(scope="module")
def confident(tiny_service, pids):
    """A stored suggestion the policy may apply at once: the tiny test model is never that
    sure, so this is a real suggestion stored again as a confident one."""
    from assistant.suggestion import SuggestOptions

    s = tiny_service.suggest(pids[0], SuggestOptions(explain=False))
    c = s.model_copy(update={"suggestion_id": "confident-" + s.suggestion_id[:12], "abstain": False,
                             "abstention": None, "abstain_reason": None,
                             "confidence": 0.9,
                             "current_price": float(tiny_service.products.at[pids[0], "price"])})
    tiny_service.store.add_suggestion(c)
    return c


def suggest(c: httpx.Client, pid: str) -> dict:
    r = c.post("/v1/suggestions", json={"product_id": pid, "explain": False})
    assert r.status_code == 200, r.text
    return r.json()


def test_apply_small_change_then_history(base_url, confident):
    pid, sid = confident.product_id, confident.suggestion_id
    with client(base_url, MERCHANT) as c:
        catalog = confident.current_price
        price = round(catalog * 0.98, 2)  # a 2% cut: within the ±5% policy
        r = c.post(f"/v1/suggestions/{sid}/apply", json={"price": price})
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["status"] == "applied"
        ch = out["change"]
        assert (ch["old_price"], ch["new_price"]) == (round(catalog, 2), price)
        assert ch["actor"] == "merchant:mia" and ch["suggestion_id"] == sid
        assert ch["rule"] == "auto-apply policy"
        assert out["lowest_price_30d"] == price  # a reduction shows the 30-day lowest
        h = c.get(f"/v1/products/{pid}/price-history").json()
        assert h["current_price"] == price and h["applied"] is True
        assert [x["new_price"] for x in h["history"]] == [price]
        assert h["lowest_price_30d"] == price


def test_big_change_waits_for_an_approver_who_edits_it(base_url, pids, tiny_service):
    with client(base_url, MERCHANT) as m, client(base_url, APPROVER) as a:
        s = suggest(m, pids[1])
        catalog = float(tiny_service.products.at[pids[1], "price"])
        r = m.post(f"/v1/suggestions/{s['suggestion_id']}/apply", json={"price": catalog * 1.5})
        assert r.status_code == 202, r.text
        q = r.json()["approval"]
        assert q["status"] == "pending" and q["reason"]  # too big a move, or the model abstained
        assert m.get(f"/v1/products/{pids[1]}/price-history").json()["history"] == []
        ids = [x["approval_id"] for x in m.get("/v1/approvals").json()["items"]]
        assert q["approval_id"] in ids
        # only an approver decides
        for key in (MERCHANT, CURATOR):
            with client(base_url, key) as other:
                r = other.post(f"/v1/approvals/{q['approval_id']}/approve", json={})
                assert r.status_code == 403 and "approver" in r.json()["error"]
        edited = round(catalog * 1.2, 2)
        r = a.post(f"/v1/approvals/{q['approval_id']}/approve", json={"price": edited, "note": "ok"})
        assert r.status_code == 200, r.text
        assert r.json()["rule"] == "approved (edited)" and r.json()["actor"] == "approver:abe"
        h = m.get(f"/v1/products/{pids[1]}/price-history").json()
        assert h["current_price"] == edited
        r = a.post(f"/v1/approvals/{q['approval_id']}/approve", json={})
        assert r.status_code == 409 and r.json()["field"] == "approval_id"
        fb = tiny_service.store.feedback_for(s["suggestion_id"])
        assert [(f.verdict, f.edited_price) for f in fb] == [("edited", edited)]


def test_reject_keeps_the_reason_as_feedback(base_url, pids, tiny_service):
    with client(base_url, MERCHANT) as m, client(base_url, APPROVER) as a:
        s = suggest(m, pids[2])
        catalog = float(tiny_service.products.at[pids[2], "price"])
        q = m.post(f"/v1/suggestions/{s['suggestion_id']}/apply",
                   json={"price": catalog * 0.5}).json()["approval"]
        assert q["lowest_price_30d"] == round(catalog, 2)  # a reduction: the reference price
        r = a.post(f"/v1/approvals/{q['approval_id']}/reject", json={"reason": "  "})
        assert r.status_code == 422 and r.json()["field"] == "reason"
        r = a.post(f"/v1/approvals/{q['approval_id']}/reject", json={"reason": "too steep"})
        assert r.status_code == 200 and r.json()["status"] == "rejected"
        assert r.json()["decision_note"] == "too steep"
        rejected = m.get("/v1/approvals", params={"status": "rejected"}).json()["items"]
        assert q["approval_id"] in [x["approval_id"] for x in rejected]
        fb = tiny_service.store.feedback_for(s["suggestion_id"])
        assert [(f.verdict, f.comment) for f in fb] == [("rejected", "too steep")]
        assert m.get(f"/v1/products/{pids[2]}/price-history").json()["applied"] is False


def test_errors_have_the_api_shape(base_url, pids):
    with client(base_url, MERCHANT) as m, client(base_url, APPROVER) as a:
        r = m.post("/v1/suggestions/nope/apply")
        assert r.status_code == 404 and r.json()["field"] == "suggestion_id"
        s = suggest(m, pids[4])
        r = m.post(f"/v1/suggestions/{s['suggestion_id']}/apply", json={"price": -3})
        assert r.status_code == 422 and "price" in r.json()["field"]
        inline = m.post("/v1/suggestions", json={"product": {"title": "Blue steel bottle 1l",
                                                             "price": 500, "currency": "INR"},
                                                 "explain": False}).json()
        r = m.post(f"/v1/suggestions/{inline['suggestion_id']}/apply")
        assert r.status_code == 422 and r.json()["field"] == "product_id"
        r = m.get("/v1/products/NO-SUCH-ID/price-history")
        assert r.status_code == 404 and r.json()["field"] == "product_id"
        r = a.post("/v1/approvals/99999/approve")
        assert r.status_code == 404 and r.json()["field"] == "approval_id"
        assert m.get("/v1/approvals", params={"status": "bogus"}).status_code == 422
        assert httpx.get(base_url + "/v1/approvals").status_code == 401


def test_catalog_view_lists_statuses_filters_and_pages(base_url, pids, confident):
    with client(base_url, MERCHANT) as m:
        s = suggest(m, pids[3])  # suggested, not acted on
        r = m.get("/v1/products", params={"limit": 5000})
        assert r.status_code == 200, r.text
        rows = {x["product_id"]: x for x in r.json()["items"]}
        assert r.json()["total"] == len(rows) > 5 and list(rows) == r.json()["product_ids"]
        assert rows[pids[0]]["status"] == "applied" and rows[pids[0]]["applied"] is True
        assert rows[pids[0]]["suggestion_id"] == confident.suggestion_id
        assert rows[pids[1]]["status"] == "applied"  # approved at an edited price
        assert rows[pids[2]]["status"] == "rejected"
        assert rows[pids[3]]["status"] == "suggested"
        assert rows[pids[3]]["suggested_price"] == s["recommended_price"]
        cur = rows[pids[3]]["current_price"]
        assert rows[pids[3]]["change_pct"] == round((s["recommended_price"] - cur) * 100 / cur, 2)
        only = m.get("/v1/products", params={"status": "rejected"}).json()
        assert only["product_ids"] == [pids[2]] and only["total"] == 1
        ranked = m.get("/v1/products", params={"sort": "-change_pct", "limit": 3}).json()["items"]
        changes = [x["change_pct"] for x in ranked]
        assert changes == sorted(changes, reverse=True)
        page2 = m.get("/v1/products", params={"limit": 2, "offset": 2}).json()["product_ids"]
        assert page2 == list(rows)[2:4]
        r = m.get("/v1/products", params={"sort": "price; DROP TABLE products"})
        assert r.status_code == 422 and r.json()["field"] == "query.sort"
        r = m.get("/v1/products", params={"underpriced_by": -1})
        assert r.status_code == 422 and "underpriced_by" in r.json()["field"]


def test_without_a_price_book_there_are_no_price_routes(tiny_service):
    with live_server(create_app(tiny_service, ApiSettings(auth_disabled=True))) as url:
        assert httpx.get(url + "/v1/approvals").status_code == 404
        assert httpx.get(url + "/v1/products", params={"limit": 2}).status_code == 200


def test_no_server_errors_on_the_price_routes(base_url):
    """schemathesis generates inputs for the price-list and CSV operations: never a 5xx."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_url(base_url + "/openapi.json")
    ops = [r.ok() for r in schema.get_all_operations()]
    ops = [o for o in ops if any(k in o.path for k in ("apply", "approvals", "price-history",
                                                          "exports", "imports"))
           or o.path == "/v1/products"]
    assert len(ops) >= 7
    failures: list[str] = []
    for op in ops:
        for key in (MERCHANT, APPROVER):
            @settings(max_examples=6, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            @given(case=op.as_strategy())
            def run(case) -> None:
                r = case.call(base_url=base_url, headers={"X-API-Key": key}, timeout=60)
                if r.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path}: {r.status_code} {r.text[:200]}")
            run()
    assert not failures, failures[:5]


def test_settings_accept_the_approver_role(monkeypatch):
    k1, k2 = "k1-0123456789abcdef", "k2-0123456789abcdef"
    monkeypatch.setenv("PRICING_API_KEYS", f"{k1}:merchant,boss:{k2}:approver")
    s = ApiSettings.from_env()
    assert s.api_keys == {k1: "merchant", k2: "approver"} and s.name_of(k2) == "boss"
