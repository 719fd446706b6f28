"""The CSV round trip over real HTTP: /v1/exports/suggestions.csv and /v1/imports/decisions
(per-row errors, nothing stored from a refused file, the approver's upload)."""
from __future__ import annotations

import csv
import io

import httpx
import pytest

from assistant.http.app import ApiSettings, create_app
from assistant.pricebook import ApprovalPolicy, PriceBook
from assistant.suggestion import SuggestOptions
from tests.conftest import live_server, service_on_store_copy

# keys need at least 16 characters (the server refuses shorter ones)
MERCHANT, APPROVER = "merchant-key-0123456789", "approver-key-0123456789"
NAMES = {MERCHANT: "mia", APPROVER: "abe"}


@pytest.fixture(scope="module")
def svc(tiny_service, tmp_path_factory):
    return service_on_store_copy(tiny_service, tmp_path_factory.mktemp("csv"))  # its own stores


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    b = PriceBook(tmp_path_factory.mktemp("csvbook") / "b.sqlite", ApprovalPolicy(max_auto_change=0.05))
    yield b
    b.close()


@pytest.fixture(scope="module")
def base_url(svc, book):
    keys = {MERCHANT: "merchant", APPROVER: "approver"}
    with live_server(create_app(svc, ApiSettings(api_keys=keys, key_names=NAMES), pricebook=book)) as url:
        yield url


@pytest.fixture(scope="module")
def suggested(svc) -> list[str]:
    p = svc.products
    ids = sorted(p.index[p["price"].notna()])[:3]
    for i in ids:
        svc.suggest(i, SuggestOptions(explain=False))
    return ids


def rows_of(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def to_csv(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue().encode()


def test_export_then_upload_decisions(base_url, suggested, book, svc):
    h = {"X-API-Key": MERCHANT}
    r = httpx.get(base_url + "/v1/exports/suggestions.csv", params={"status": "suggested"}, headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = rows_of(r.text)
    assert [x["product_id"] for x in rows] == suggested
    assert all(x["suggestion_id"] and x["interval_low"] and x["confidence"] for x in rows)
    rows[0]["decision"], rows[0]["price"] = "apply", rows[0]["current_price"]
    rows[1]["decision"], rows[1]["price"] = "apply", "-1"
    rows[2]["decision"] = "reject"                     # no reason
    r = httpx.post(base_url + "/v1/imports/decisions", content=to_csv(rows), headers=h)
    assert r.status_code == 422, r.text
    body = r.json()
    assert "nothing stored" in body["error"] and body["field"] == "price"
    assert [(e["row"], e["field"]) for e in body["rows"]] == [(3, "price"), (4, "reason")]
    assert book.current_price(suggested[0]) is None
    rows[1]["price"], rows[2]["reason"] = "", "not now"
    rows[1]["decision"] = "skip"
    r = httpx.post(base_url + "/v1/imports/decisions", content=to_csv(rows), headers=h)
    assert r.status_code == 200, r.text
    out = r.json()
    # the tiny model abstains, so a merchant's apply waits for an approver
    assert out["queued"] == [suggested[0]] and out["skipped"] == 1 and out["errors"] == []
    assert [f.verdict for f in svc.store.feedback_for(rows[2]["suggestion_id"])] == ["rejected"]
    # an approver's file applies at once
    r = httpx.post(base_url + "/v1/imports/decisions", content=to_csv(rows[:1]),
                   headers={"X-API-Key": APPROVER})
    assert r.status_code == 200 and r.json()["applied"] == [suggested[0]]
    assert book.current_price(suggested[0]) == round(float(rows[0]["current_price"]), 2)


@pytest.mark.parametrize("content,field", [(b"", "file"), (b"a,b\n1,2\n", "header"),
                                           (b"\xff\xfebad", "file")])
def test_unreadable_uploads_are_refused_whole(base_url, content, field):
    r = httpx.post(base_url + "/v1/imports/decisions", content=content,
                   headers={"X-API-Key": MERCHANT})
    assert r.status_code == 422 and r.json()["field"] == field


def test_partial_upload_lists_the_refused_rows(base_url, suggested):
    text = "suggestion_id,decision,price,reason\nnope,apply,,\n,skip,,\n"
    r = httpx.post(base_url + "/v1/imports/decisions", params={"partial": "true"}, content=text,
                   headers={"X-API-Key": MERCHANT})
    assert r.status_code == 200 and r.json()["skipped"] == 1
    assert r.json()["errors"] == [{"row": 2, "field": "suggestion_id", "reason": "unknown suggestion 'nope'"}]
