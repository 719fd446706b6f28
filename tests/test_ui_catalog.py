"""The Catalog tab (assistant.web.catalog_tab): filtered pages, apply and approve many at once,
over a real SuggestionStore and PriceBook; the tab served by uvicorn and driven through
gradio_client's named ``/catalog`` and ``/catalog_apply`` endpoints. No model needed."""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import pandas as pd
import pytest
from fastapi import FastAPI
from gradio_client import Client

from assistant.catalog_view import CatalogView
from assistant.pricebook import ApprovalPolicy, PriceBook
from assistant.suggestion import Evidence, Interval, Suggestion
from assistant.suggestion_store import SuggestionStore
from assistant.web.catalog_tab import PAGE, CatalogDesk, catalog_tab_for
from tests.conftest import live_server

APPROVER = "approver-key"
N = 120
PRODUCTS = pd.DataFrame({"product_id": [f"P{i:03d}" for i in range(N)], "title": ["t"] * N,
                         "currency": ["INR"] * N, "cost": [50.0] * N, "price": [100.0] * N})


def sugg(pid: str, price: float) -> Suggestion:
    return Suggestion(suggestion_id=f"s-{pid}", product_id=pid, title="t", currency="INR",
                      recommended_price=price, model_price=price,
                      interval=Interval(low=price * 0.8, high=price * 1.2, coverage=0.8),
                      current_price=100.0, evidence=Evidence(), confidence=0.9,
                      model_version="t", created_at="2026-11-30")


@pytest.fixture()
def parts(tmp_path):
    store = SuggestionStore(tmp_path / "s.sqlite")
    book = PriceBook(tmp_path / "b.sqlite", ApprovalPolicy(max_auto_change=0.05, min_confidence=0.5))
    store.add_suggestions([sugg("P000", 103.0), sugg("P001", 140.0), sugg("P002", 130.0)])
    yield store, book
    book.close()
    store.close()


def test_pages_filters_and_many_at_once(parts):
    store, book = parts
    desk = CatalogDesk(CatalogView(PRODUCTS, store, book), book, store, approver_keys=[APPROVER])
    df, info = desk.table()
    assert len(df) == PAGE and info.startswith("120 products · page 1 of 3")
    df, info = desk.table(page=3)
    assert len(df) == N - 2 * PAGE
    df, _ = desk.table(underpriced_by=10, sort="change % (high first)")
    assert list(df["product"]) == ["P001", "P002"] and list(df["change %"]) == [40.0, 30.0]
    assert "⚠" in desk.table(page="x")[1]
    out = desk.apply_selected("P000, P001 P002 P050 nope", actor="merchant:ann")
    assert "✓ Applied" in out.splitlines()[0] and out.count("Sent for approval") == 2
    assert "no suggestion yet" in out and "nope" not in out
    assert book.current_price("P000") == 103.0
    assert "Approver key" in desk.approve_selected("P001", "bob", "wrong")
    out = desk.approve_selected("P001, P002, P000", "bob", APPROVER)
    assert out.count("✓ Approved") == 2 and "nothing waits" in out
    assert (book.current_price("P001"), book.current_price("P002")) == (140.0, 130.0)
    df, _ = desk.table(status="applied")
    assert list(df["product"]) == ["P000", "P001", "P002"]


def test_tab_served_and_driven_over_http(parts):
    store, book = parts
    settings = SimpleNamespace(auth_disabled=True, api_keys={})
    with gr.Blocks(analytics_enabled=False) as demo, gr.Tabs():
        catalog_tab_for(settings, book)(SimpleNamespace(products=PRODUCTS, store=store))
    app = gr.mount_gradio_app(FastAPI(), demo, path="/ui", ssr_mode=False)
    with live_server(app, "uvicorn-catalog") as url:
        c = Client(url + "/ui/", verbose=False, analytics_enabled=False)
        try:
            table, info = c.predict(10, False, False, "any", "product id", 1, api_name="/catalog")
            assert [r[0] for r in table["data"]] == ["P001", "P002"] and info.startswith("2 products")
            msg, table, _ = c.predict("P001", "ann", 10, False, False, "any", "product id", 1,
                                      api_name="/catalog_apply")
            assert "Sent for approval" in msg
            msg, table, _ = c.predict("P001", "ann", "", 0, False, False, "pending", "product id", 1,
                                      api_name="/catalog_approve")
            assert "✓ Approved" in msg and book.current_price("P001") == 140.0
        finally:
            c.close()


def test_csv_download_and_decisions_upload(parts, tmp_path):
    store, book = parts
    desk = CatalogDesk(CatalogView(PRODUCTS, store, book), book, store, approver_keys=[APPROVER])
    path = desk.export_csv(underpriced_by=1)
    rows = pd.read_csv(path, dtype=str).fillna("")
    assert list(rows["product_id"]) == ["P000", "P001", "P002"] and "interval_low" in rows
    rows["decision"] = ["apply", "apply", "reject"]
    rows["reason"] = ["", "", ""]
    bad = tmp_path / "bad.csv"
    rows.to_csv(bad, index=False)
    msg = desk.upload(str(bad), "ann", "")
    assert "nothing stored" in msg and "row 4, reason" in msg and book.current_price("P000") is None
    assert "Your name" in desk.upload(str(bad), " ", "")
    assert desk.upload(str(bad), "ann", "", partial=True).startswith("✓ 1 applied, 1 sent for approval")
    rows["reason"] = ["", "", "too steep"]
    good = tmp_path / "good.csv"
    rows.iloc[1:].to_csv(good, index=False)
    msg = desk.upload(str(good), "bob", APPROVER)  # an approver's file applies at once
    assert msg.startswith("✓ 1 applied, 0 sent for approval, 1 rejected") and book.current_price("P001") == 140.0
    (tmp_path / "x.csv").write_bytes(b"\xff\xfe")
    assert "rejected whole" in desk.upload(str(tmp_path / "x.csv"), "ann", "")
