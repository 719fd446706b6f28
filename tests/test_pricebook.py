"""PriceBook: apply with history, the approval policy and queue, the 30-day lowest price."""
from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta

import pytest

from assistant.pricebook import Applied, ApprovalClosed, ApprovalPolicy, PriceBook, Queued, UnknownApproval
from assistant.suggestion import Evidence, Interval, Suggestion


def suggestion(price: float, current: float | None = 100.0, confidence: float = 0.8,
               abstain: bool = False, pid: str | None = "P1", sid: str = "s1") -> Suggestion:
    return Suggestion(suggestion_id=sid, product_id=pid, title="Steel bottle", currency="INR",
                      recommended_price=price, model_price=price, interval=Interval(low=price * 0.8,
                      high=price * 1.2, coverage=0.8), current_price=current, evidence=Evidence(),
                      confidence=confidence, abstain=abstain, model_version="t", created_at="2026-11-30")


@pytest.fixture()
def book(tmp_path) -> PriceBook:
    b = PriceBook(tmp_path / "book.sqlite", ApprovalPolicy(max_auto_change=0.05, min_confidence=0.6))
    yield b
    b.close()


def test_small_confident_change_applies_with_a_history_row(book):
    r = book.apply(suggestion(104.0), actor="alice")
    assert isinstance(r, Applied) and r.change.old_price == 100.0 and r.change.new_price == 104.0
    assert book.current_price("P1") == 104.0
    [h] = book.history("P1")
    assert (h.actor, h.suggestion_id, h.rule, h.currency) == ("alice", "s1", "auto-apply policy", "INR")
    r = book.apply(suggestion(106.0, sid="s2"), actor="alice")  # compared with the applied 104
    assert isinstance(r, Applied) and r.change.old_price == 104.0
    assert [h.new_price for h in book.history("P1")] == [106.0, 104.0]


@pytest.mark.parametrize("kw,why", [({"price": 120.0}, "more than ±5%"),
                                    ({"price": 101.0, "confidence": 0.3}, "confidence 0.30"),
                                    ({"price": 101.0, "abstain": True}, "abstained"),
                                    ({"price": 101.0, "current": None}, "no current price")])
def test_other_changes_wait_for_an_approver(book, kw, why):
    r = book.apply(suggestion(**kw), actor="alice")
    assert isinstance(r, Queued) and why in r.approval.reason and r.approval.status == "pending"
    assert book.current_price("P1") is None and book.history("P1") == []
    assert [a.approval_id for a in book.approvals()] == [r.approval.approval_id]


def test_approve_with_an_edited_price_and_reject_with_a_reason(book):
    q = book.apply(suggestion(130.0), actor="alice").approval
    change = book.approve(q.approval_id, actor="bob", price=125.0)
    assert (change.old_price, change.new_price, change.rule) == (100.0, 125.0, "approved (edited)")
    assert book.approval(q.approval_id).status == "approved" and book.approvals() == []
    with pytest.raises(ApprovalClosed):
        book.approve(q.approval_id, actor="bob")
    q2 = book.apply(suggestion(200.0, sid="s2"), actor="alice").approval
    with pytest.raises(ValueError, match="reason"):
        book.reject(q2.approval_id, actor="bob", reason=" ")
    r = book.reject(q2.approval_id, actor="bob", reason="too steep before the sale")
    assert (r.status, r.decision_note, r.decided_by) == ("rejected", "too steep before the sale", "bob")
    assert book.current_price("P1") == 125.0
    with pytest.raises(UnknownApproval):
        book.approval(999)


def test_a_newer_suggestion_replaces_the_waiting_one(book):
    first = book.apply(suggestion(150.0, sid="s1"), actor="alice").approval
    second = book.apply(suggestion(160.0, sid="s2"), actor="alice").approval
    assert [a.suggestion_id for a in book.approvals()] == ["s2"]
    assert book.approval(first.approval_id).status == "rejected" and second.status == "pending"


def test_force_and_bad_input(book):
    assert isinstance(book.apply(suggestion(300.0), actor="boss", force=True), Applied)
    assert book.history("P1")[0].rule == "approver"
    with pytest.raises(ValueError, match="catalog products"):
        book.apply(suggestion(10.0, pid=None), actor="a")
    for bad in (0, -5, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="price"):
            book.set_price("P1", bad, actor="a", rule="manual")
    assert book.current_price("P1") == 300.0  # nothing stored is lost


def test_lowest_price_of_the_last_30_days(book, tmp_path):
    con = sqlite3.connect(book.path)
    now = datetime(2026, 11, 30, tzinfo=UTC)
    rows = [(40, 100.0, 80.0), (20, 80.0, 120.0), (5, 120.0, 110.0)]  # days ago, old, new
    for days, old, new in rows:
        at = (now - timedelta(days=days)).isoformat(timespec="seconds")
        con.execute("INSERT INTO price_history (product_id, old_price, new_price, actor, at, rule) "
                    "VALUES ('P9', ?, ?, 'x', ?, 'manual')", (old, new, at))
    con.commit()
    con.close()
    # in force over the window: 80 (set 40 days ago, until day 20), 120, 110
    assert book.lowest_price("P9", days=30, now=now) == 80.0
    assert book.lowest_price("P9", days=10, now=now) == 110.0
    assert book.lowest_price("nothing", now=now) is None


def test_concurrent_applies_keep_history_and_price_consistent(book):
    def run(i: int) -> None:
        book.set_price("P2", 100 + i, actor=f"t{i}", rule="manual")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    h = book.history("P2")
    assert len(h) == 8 and book.current_price("P2") == h[0].new_price
    assert [x.old_price for x in h[:-1]] == [x.new_price for x in h[1:]]  # an unbroken chain
