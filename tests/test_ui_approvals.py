"""The Approvals tab and the Workspace's Apply (assistant.web.approvals_tab): the desk's logic
over a real PriceBook and SuggestionStore, and the tab served by uvicorn, driven through
gradio_client's named ``/approve`` and ``/reject`` endpoints. No model needed."""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import pytest
from fastapi import FastAPI
from gradio_client import Client

from assistant.pricebook import ApprovalPolicy, PriceBook
from assistant.suggestion import Evidence, Interval, Suggestion
from assistant.suggestion_store import SuggestionStore
from assistant.web.approvals_tab import ApprovalsDesk, apply_message, approvals_tab, approvals_tab_for
from tests.conftest import live_server

APPROVER = "approver-key"


def suggestion(price: float, sid: str, pid: str | None = "P1", current: float = 100.0) -> Suggestion:
    return Suggestion(suggestion_id=sid, product_id=pid, title="Steel bottle", currency="INR",
                      recommended_price=price, model_price=price,
                      interval=Interval(low=price * 0.8, high=price * 1.2, coverage=0.8),
                      current_price=current, evidence=Evidence(), confidence=0.9,
                      model_version="t", created_at="2026-11-30")


@pytest.fixture()
def parts(tmp_path):
    book = PriceBook(tmp_path / "book.sqlite", ApprovalPolicy(max_auto_change=0.05, min_confidence=0.5))
    store = SuggestionStore(tmp_path / "s.sqlite")
    yield book, store
    book.close()
    store.close()


def test_apply_message_applies_or_queues(parts):
    book, store = parts
    store.add_suggestions([suggestion(97.0, "small"), suggestion(150.0, "big", pid="P2"),
                           suggestion(50.0, "inline", pid=None)])
    msg = apply_message(book, store, "small", "merchant:ui")
    assert msg.startswith("✓ Applied") and "97.00" in msg and "lowest price of the last 30 days" in msg
    assert book.current_price("P1") == 97.0 and book.history("P1")[0].actor == "merchant:ui"
    msg = apply_message(book, store, "big", "merchant:ui")
    assert "Sent for approval" in msg and book.current_price("P2") is None
    assert "catalog products" in apply_message(book, store, "inline", "m")
    assert "not in the store" in apply_message(book, store, "nope", "m")
    assert "no suggestion" in apply_message(book, store, None, "m").lower()
    assert "PRICING_PRICEBOOK_DB" in apply_message(None, store, "small", "m")


def test_desk_approves_edits_and_rejects_with_feedback(parts):
    book, store = parts
    store.add_suggestions([suggestion(150.0, "s1"), suggestion(40.0, "s2", pid="P2")])
    a1 = book.apply(store.get_suggestion("s1"), actor="m").approval
    a2 = book.apply(store.get_suggestion("s2"), actor="m").approval
    desk = ApprovalsDesk(book, store, approver_keys=[APPROVER])
    t = desk.table()
    assert list(t["approval"]) == [a1.approval_id, a2.approval_id]
    assert t.loc[t["approval"] == a2.approval_id, "lowest 30 d"].item() == 100.0  # a reduction
    assert "Your name" in desk.approve(a1.approval_id, "", APPROVER)
    assert "Approver key" in desk.approve(a1.approval_id, "bob", "merchant-key")
    assert "pick a row" in desk.approve("x", "bob", APPROVER)
    assert "does not exist" in desk.approve(999, "bob", APPROVER)
    assert book.current_price("P1") is None  # nothing applied by a refused decision
    msg = desk.approve(a1.approval_id, "bob", APPROVER, price=130, note="round it")
    assert msg.startswith("✓ Approved") and book.current_price("P1") == 130.0
    assert book.history("P1")[0].actor == "approver:bob"
    assert [(f.verdict, f.edited_price) for f in store.feedback_for("s1")] == [("edited", 130.0)]
    assert "already" in desk.approve(a1.approval_id, "bob", APPROVER)
    assert "reason" in desk.reject(a2.approval_id, "bob", APPROVER, " ")
    assert desk.reject(a2.approval_id, "bob", APPROVER, "too cheap").startswith("✓ Rejected")
    assert [(f.verdict, f.comment) for f in store.feedback_for("s2")] == [("rejected", "too cheap")]
    assert desk.table().empty and len(desk.table("all")) == 2


def test_tab_served_and_driven_over_http(parts):
    book, store = parts
    store.add_suggestions([suggestion(150.0, "s1"), suggestion(170.0, "s2", pid="P2")])
    a1 = book.apply(store.get_suggestion("s1"), actor="m").approval
    a2 = book.apply(store.get_suggestion("s2"), actor="m").approval
    settings = SimpleNamespace(auth_disabled=False, api_keys={APPROVER: "approver", "c": "curator"})
    service = SimpleNamespace(store=store)
    with gr.Blocks(analytics_enabled=False) as demo, gr.Tabs():
        approvals_tab_for(settings, book)(service)
    app = gr.mount_gradio_app(FastAPI(), demo, path="/ui", ssr_mode=False)
    with live_server(app, "uvicorn-approvals") as url:
        c = Client(url + "/ui/", verbose=False, analytics_enabled=False)
        try:
            msg, table = c.predict(a1.approval_id, "ann", APPROVER, 0, "", "pending", api_name="/approve")
            assert msg.startswith("✓ Approved") and book.current_price("P1") == 150.0
            assert [r[0] for r in table["data"]] == [a2.approval_id]
            msg, _ = c.predict(a2.approval_id, "ann", "c", "no", "pending", api_name="/reject")
            assert "Approver key" in msg and book.approval(a2.approval_id).status == "pending"
            msg, table = c.predict(a2.approval_id, "ann", APPROVER, "no", "pending", api_name="/reject")
            assert msg.startswith("✓ Rejected") and book.approval(a2.approval_id).status == "rejected"
            assert not any(r and r[0] == a2.approval_id for r in table["data"])
        finally:
            c.close()


def test_without_auth_the_key_box_is_hidden(parts):
    book, store = parts
    with gr.Blocks(analytics_enabled=False), gr.Tabs():
        desk = approvals_tab(SimpleNamespace(store=store), book, approver_keys=None)
    assert desk.approver_keys is None
    store.add_suggestion(suggestion(150.0, "s1"))
    a = book.apply(store.get_suggestion("s1"), actor="m").approval
    assert desk.approve(a.approval_id, "ann", None).startswith("✓ Approved")
