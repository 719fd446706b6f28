"""The CSV round trip: suggestions out with evidence columns, decisions back in, validated per
row; a file with a refused row stores nothing (unless partial). Real SQLite stores, no model."""
from __future__ import annotations

import csv
import io

import pandas as pd
import pytest

from assistant.catalog_view import CatalogQuery, CatalogView
from assistant.decisions_csv import EXPORT_COLUMNS, FileRejected, apply_decisions, suggestions_csv
from assistant.pricebook import ApprovalPolicy, PriceBook
from assistant.suggestion import CompetitorOfferOut, Evidence, Interval, Suggestion
from assistant.suggestion_store import SuggestionStore

PRODUCTS = pd.DataFrame({"product_id": ["A", "B", "C"], "title": ["a, with comma", "b", "c"],
                         "currency": ["INR"] * 3, "cost": [50.0] * 3, "price": [100.0] * 3})


def sugg(pid: str | None, price: float, sid: str) -> Suggestion:
    return Suggestion(suggestion_id=sid, product_id=pid, title="t", currency="INR",
                      recommended_price=price, model_price=price,
                      interval=Interval(low=price * 0.8, high=price * 1.2, coverage=0.8),
                      current_price=100.0, confidence=0.9, model_version="t", created_at="2026-11-30",
                      evidence=Evidence(competitors=[CompetitorOfferOut(competitor="x", price=95.0)]))


@pytest.fixture()
def parts(tmp_path):
    store = SuggestionStore(tmp_path / "s.sqlite")
    book = PriceBook(tmp_path / "b.sqlite", ApprovalPolicy(max_auto_change=0.05, min_confidence=0.5))
    store.add_suggestions([sugg("A", 103.0, "sa"), sugg("B", 140.0, "sb"), sugg("C", 120.0, "sc"),
                           sugg(None, 50.0, "inline")])
    yield store, book
    book.close()
    store.close()


def rows_of(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def decisions(*rows: tuple[str, str, str, str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["suggestion_id", "decision", "price", "reason"])
    w.writerows(rows)
    return buf.getvalue()


def test_export_has_evidence_columns(parts):
    store, book = parts
    text = suggestions_csv(CatalogView(PRODUCTS, store, book), CatalogQuery(limit=100))
    rows = rows_of(text)
    assert list(rows[0]) == EXPORT_COLUMNS and [r["product_id"] for r in rows] == ["A", "B", "C"]
    a = rows[0]
    assert a["title"] == "a, with comma" and a["suggestion_id"] == "sa"
    assert (float(a["interval_low"]), float(a["competitor_min"]), a["competitors"]) == (82.4, 95.0, "1")
    assert a["status"] == "suggested" and a["decision"] == ""


def test_round_trip_applies_queues_and_rejects(parts):
    store, book = parts
    rows = rows_of(suggestions_csv(CatalogView(PRODUCTS, store, book)))
    rows[0]["decision"] = "apply"                                   # within the policy
    rows[1]["decision"], rows[1]["price"] = "apply", "135"          # too big a move: queued
    rows[2]["decision"], rows[2]["reason"] = "reject", "brand floor"
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=EXPORT_COLUMNS)
    w.writeheader()
    w.writerows(rows)
    r = apply_decisions(buf.getvalue().encode(), store, book, actor="merchant:ann")
    assert r.stored and r.errors == [] and (r.applied, r.queued, r.rejected) == (["A"], ["B"], ["sc"])
    assert book.current_price("A") == 103.0 and book.approvals()[0].proposed_price == 135.0
    assert [(f.verdict, f.comment) for f in store.feedback_for("sc")] == [("rejected", "brand floor")]
    assert [(f.verdict, f.edited_price) for f in store.feedback_for("sb")] == [("edited", 135.0)]


def test_an_approver_file_applies_at_once_and_closes_approvals(parts):
    store, book = parts
    book.apply(store.get_suggestion("sb"), actor="m")  # waits
    r = apply_decisions(decisions(("sc", "apply", "", ""), ("sb", "reject", "", "too steep")),
                        store, book, actor="approver:bob", approver=True)
    assert r.applied == ["C"] and book.current_price("C") == 120.0
    assert book.approvals() == [] and book.approvals("rejected")[0].decision_note == "too steep"


def test_bad_rows_are_listed_and_nothing_is_stored(parts):
    store, book = parts
    text = decisions(("sa", "apply", "", ""), ("sb", "approve", "", ""), ("sc", "apply", "-4", ""),
                     ("sc", "reject", "", ""), ("nope", "apply", "", ""), ("inline", "apply", "", ""),
                     ("", "apply", "", ""), ("sb", "apply", "abc", ""), ("", "", "", ""))
    r = apply_decisions(text, store, book, actor="m")
    assert not r.stored and r.applied == []
    assert [(e.row, e.field) for e in r.errors] == [(3, "decision"), (4, "price"), (5, "reason"),
                                                    (6, "suggestion_id"), (7, "suggestion_id"),
                                                    (8, "suggestion_id"), (9, "price")]
    assert book.current_price("A") is None and store.feedback_for("sa") == []
    r = apply_decisions(text, store, book, actor="m", partial=True)  # the valid rows go through
    assert r.stored and r.applied == ["A"] and r.skipped == 1 and len(r.errors) == 7


@pytest.mark.parametrize("text,field", [(b"", "file"), (b"\xff\xfe\x00bad", "file"),
                                        (b"product_id,price\nA,3\n", "header"),
                                        ("suggestion_id,decision\n\"sa,apply\n", "file")])
def test_unreadable_files_are_rejected_whole(parts, text, field):
    store, book = parts
    with pytest.raises(FileRejected) as e:
        apply_decisions(text, store, book, actor="m")
    assert e.value.field == field
    assert book.current_price("A") is None
