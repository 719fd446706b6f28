"""CatalogView: current prices, latest suggestions and statuses; filters, sort and pages in
SQL over a real SuggestionStore and PriceBook (SQLite). No model needed."""
from __future__ import annotations

import pandas as pd
import pytest

from assistant.catalog_view import CatalogQuery, CatalogView
from assistant.pricebook import ApprovalPolicy, PriceBook
from assistant.suggestion import CompetitorOfferOut, Evidence, Interval, Suggestion
from assistant.suggestion_store import SuggestionStore

PRODUCTS = pd.DataFrame({
    "product_id": ["A", "B", "C", "D", "E"],
    "title": ["a", "b", "c", "d", "e"],
    "currency": ["INR"] * 5,
    "cost": [50.0, 120.0, None, 10.0, 10.0],
    "price": [100.0, 100.0, 100.0, 100.0, None],
})


def sugg(pid: str, price: float, sid: str, current: float = 100.0, competitors=(),
         confidence: float = 0.9) -> Suggestion:
    return Suggestion(suggestion_id=sid, product_id=pid, title=pid, currency="INR",
                      recommended_price=price, model_price=price,
                      interval=Interval(low=price * 0.8, high=price * 1.2, coverage=0.8),
                      current_price=current, confidence=confidence, model_version="t",
                      created_at="2026-11-30",
                      evidence=Evidence(competitors=[CompetitorOfferOut(competitor=f"c{i}", price=p)
                                                     for i, p in enumerate(competitors)]))


@pytest.fixture()
def parts(tmp_path):
    store = SuggestionStore(tmp_path / "s.sqlite")
    book = PriceBook(tmp_path / "b.sqlite", ApprovalPolicy(max_auto_change=0.05, min_confidence=0.5))
    yield store, book
    book.close()
    store.close()


def test_statuses_follow_the_store_and_the_book(parts):
    store, book = parts
    view = CatalogView(PRODUCTS, store, book)
    rows = {r.product_id: r for r in view.query().items}
    assert set(rows) == set("ABCDE") and all(r.status == "none" for r in rows.values())
    store.add_suggestions([sugg("A", 103.0, "a1"), sugg("B", 150.0, "b1"), sugg("C", 130.0, "c1"),
                          sugg("D", 90.0, "d1", competitors=(80.0, 95.0))])
    book.apply(store.get_suggestion("a1"), actor="m")                       # applied at once
    book.apply(store.get_suggestion("b1"), actor="m")                       # waits
    q = book.apply(store.get_suggestion("c1"), actor="m").approval
    book.reject(q.approval_id, actor="x", reason="no")
    rows = {r.product_id: r for r in view.query().items}
    assert [rows[p].status for p in "ABCDE"] == ["applied", "pending", "rejected", "suggested", "none"]
    assert rows["A"].current_price == 103.0 and rows["A"].applied and rows["A"].catalog_price == 100.0
    assert rows["B"].change_pct == 50.0 and rows["D"].change_pct == -10.0
    assert rows["D"].competitor_min == 80.0 and rows["E"].current_price is None
    store.add_suggestion(sugg("A", 120.0, "a2", current=103.0))  # a newer suggestion for A
    a = view.query(CatalogQuery(status="suggested")).items
    assert {r.product_id for r in a} == {"A", "D"}
    assert next(r for r in a if r.product_id == "A").suggestion_id == "a2"


def test_filters_sort_and_pages(parts):
    store, book = parts
    store.add_suggestions([sugg("A", 125.0, "a1"), sugg("B", 104.0, "b1", competitors=(99.0,)),
                          sugg("C", 112.0, "c1", competitors=(101.0,)), sugg("D", 50.0, "d1")])
    view = CatalogView(PRODUCTS, store, book)
    ids = lambda **kw: [r.product_id for r in view.query(CatalogQuery(**kw)).items]  # noqa: E731
    assert ids(underpriced_by=10) == ["A", "C"]
    assert ids(overpriced_by=20) == ["D"]
    assert ids(below_cost=True) == ["B"]          # 100 < cost 120
    assert ids(undercut=True) == ["B"]            # a competitor at 99 < 100
    assert ids(sort="-change_pct") == ["A", "C", "B", "D", "E"]  # no change % last
    assert ids(sort="change_pct", limit=2, offset=1) == ["B", "C"]
    page = view.query(CatalogQuery(underpriced_by=1, limit=1))
    assert page.total == 3 and len(page.items) == 1
    book.set_price("B", 130.0, actor="m", rule="manual")  # the applied price counts
    assert ids(below_cost=True) == [] and ids(undercut=True) == ["B"]


def test_bad_queries_are_refused():
    from pydantic import ValidationError

    for bad in ({"sort": "title; DROP TABLE products"}, {"limit": 0}, {"underpriced_by": -1},
                {"status": "done"}, {"nope": 1}):
        with pytest.raises(ValidationError):
            CatalogQuery(**bad)


def test_without_a_book(tmp_path):
    store = SuggestionStore(tmp_path / "s.sqlite")
    store.add_suggestion(sugg("A", 110.0, "a1"))
    view = CatalogView(PRODUCTS, store, None)
    r = view.query(CatalogQuery(status="suggested")).items
    assert [x.product_id for x in r] == ["A"] and r[0].change_pct == 10.0
    view.close()
    store.close()


def test_rows_follow_approvals_rejections_and_other_processes(parts):
    store, book = parts
    store.add_suggestions([sugg("A", 150.0, "a1"), sugg("B", 150.0, "b1"), sugg("C", 150.0, "c1")])
    view = CatalogView(PRODUCTS, store, book)
    qa = book.apply(store.get_suggestion("a1"), actor="m").approval   # +50%: both wait
    qb = book.apply(store.get_suggestion("b1"), actor="m").approval
    status = lambda: {r.product_id: r.status for r in view.query().items}  # noqa: E731
    assert status()["A"] == "pending" and status()["B"] == "pending"
    book.approve(qa.approval_id, actor="x")
    assert status()["A"] == "applied"
    a = view.rows(["A"])[0]
    assert a.current_price == 150.0 and a.change_pct == 0.0 and a.applied
    book.reject(qb.approval_id, actor="x", reason="no")  # likely the approval's second too
    assert status()["B"] == "rejected"
    other = PriceBook(book.path)          # another process's book: its own connection
    other.set_price("C", 80.0, actor="y", rule="manual")
    other.close()
    c = view.rows(["C"])[0]
    assert c.current_price == 80.0 and c.change_pct == 87.5 and c.applied
    assert view.query(CatalogQuery(status="pending")).total == 0
    assert [r.product_id for r in view.query(CatalogQuery(underpriced_by=50)).items] == ["C"]


def test_pages_are_index_scans_not_sorts(parts):
    from typing import get_args

    from assistant.catalog_view import Sort

    store, book = parts
    store.add_suggestions([sugg(p, 100.0 + i, f"{p}1") for i, p in enumerate("ABCD")])
    view = CatalogView(PRODUCTS, store, book)
    for sort in get_args(Sort):
        plan = " ".join(view.plan(CatalogQuery(sort=sort)))
        assert "USING" in plan and "TEMP B-TREE" not in plan, (sort, plan)
    for q in (CatalogQuery(below_cost=True), CatalogQuery(undercut=True),
              CatalogQuery(status="pending"), CatalogQuery(underpriced_by=10)):
        assert "USING" in " ".join(view.plan(q)), q


def test_counts_stay_right_as_rows_change(parts):
    store, book = parts
    store.add_suggestions([sugg("A", 150.0, "a1"), sugg("B", 101.0, "b1", competitors=(90.0,)),
                          sugg("D", 95.0, "d1")])
    view = CatalogView(PRODUCTS, store, book)
    queries = [CatalogQuery(), CatalogQuery(status="suggested"), CatalogQuery(status="applied"),
               CatalogQuery(undercut=True), CatalogQuery(below_cost=True, status="suggested"),
               CatalogQuery(status="none", undercut=False)]

    def check() -> None:
        for q in queries:
            listed = view.query(q.model_copy(update={"limit": 1000})).items
            assert view.query(q).total == len(listed), q
    check()
    book.apply(store.get_suggestion("b1"), actor="m")           # +1%: applied at once
    store.add_suggestions([sugg("C", 80.0, "c1", competitors=(70.0,)), sugg("A", 99.0, "a2")])
    book.set_price("D", 5.0, actor="m", rule="manual")          # below its cost of 10
    check()
    assert view.query(CatalogQuery(status="applied")).total == 1
    assert {r.product_id for r in view.query(CatalogQuery(below_cost=True)).items} == {"B", "D"}
