"""Outcomes: per-row validation naming row and field, all-or-nothing vs partial batches, the
prediction stored with each outcome (the served model's, or the suggestion's), the feedback
join and file reading. Real tiny model; a private suggestion store per test."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from assistant.explain import Explainer
from assistant.outcomes import OutcomeStore, read_outcome_file, record_outcomes, validate_rows
from assistant.service import PricingService
from assistant.suggestion import SuggestOptions
from assistant.suggestion_store import FeedbackIn, SuggestionStore


@pytest.fixture()
def svc(tiny_service, tmp_path) -> PricingService:
    """The tiny model and graph with a private (empty) suggestion store."""
    return PricingService(tiny_service.graph, tiny_service.predictor,
                          SuggestionStore(tmp_path / "suggestions.sqlite"), Explainer(None))


@pytest.fixture()
def store(svc) -> OutcomeStore:
    return OutcomeStore(svc.store.path)


@pytest.fixture(scope="module")
def pids(tiny_service) -> list[str]:
    p = tiny_service.products
    return sorted(p.index[p["price"].notna() & (p["currency"] == "INR")])[:5]


def test_validation_names_row_and_field():
    tomorrow2 = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    ok, errors = validate_rows([
        {"product_id": "A1", "sold_price": 10, "date": "2023-03-01"},
        {"product_id": "A1", "sold_price": 0, "date": "2023-03-01"},
        {"product_id": "A1", "sold_price": 10, "date": "yesterday"},
        {"product_id": "A1", "sold_price": 10, "date": tomorrow2},
        {"product_id": "A1", "sold_price": 10, "date": "2023-03-01", "units": 0},
        {"product_id": "product:A1", "sold_price": 10, "date": "2023-03-01"},
        {"product_id": "A1", "sold_price": 10, "date": "2023-03-01", "price": 3},
        {"product_id": "A1", "sold_price": float("nan"), "date": "2023-03-01"},
        "not a row",
        {"product_id": "A1", "sold_price": "12.5", "date": "2023-03-01", "units": 2.0,
         "suggestion_id": "", "currency": "inr"},
    ], first_row=100)
    assert [i for i, _ in ok] == [100, 109]
    assert ok[1][1].sold_price == 12.5 and ok[1][1].units == 2 and ok[1][1].currency == "INR"
    assert ok[1][1].suggestion_id is None                    # an empty cell is "not given"
    got = {e.row: (e.field, e.error) for e in errors}
    assert got[101][0] == "sold_price" and got[102][0] == "date"
    assert got[103][0] == "date" and "future" in got[103][1]
    assert got[104][0] == "units" and got[105][0] == "product_id" and "prefix" in got[105][1]
    assert got[106][0] == "price"                            # unknown field, named
    assert got[107][0] == "sold_price" and got[108][0] is None  # NaN is "missing": required


def test_record_stores_the_served_prediction(svc, store, pids):
    rows = [{"product_id": p, "sold_price": 100.0 + i, "units": i + 1, "date": "2023-03-0" + str(i + 1)}
            for i, p in enumerate(pids[:3])]
    res = record_outcomes(svc, store, rows)
    assert res.errors == [] and len(res.stored) == 3
    preds = svc.predictor.predict(pids[:3])
    for o, p in zip(res.stored, preds):
        assert o.pred_price == pytest.approx(p.p50, rel=1e-4)
        assert o.pred_low <= o.pred_price <= o.pred_high
        assert o.model_version == svc.model_version and o.nominal_coverage == pytest.approx(0.8)
        assert o.currency == "INR" and o.category_path == svc.products.loc[o.product_id, "category_path"]
    f = store.frame(embeddings=True)
    assert list(f["product_id"]) == pids[:3] and list(f["units"]) == [1, 2, 3]
    assert f["embedding"].iloc[0].shape == (svc.predictor.encoder.dim_,)
    assert np.allclose(f["embedding"].iloc[0], preds[0].embedding, atol=2e-3)
    assert len(store.frame(since="2023-03-02")) == 2 and len(store.frame(until="2023-03-02")) == 1
    assert list(store.frame(limit=2)["product_id"]) == pids[1:3]  # the latest two, in order


def test_bad_rows_store_nothing_unless_partial(svc, store, pids):
    rows = [{"product_id": pids[0], "sold_price": 10, "date": "2023-03-01"},
            {"product_id": "no-such-product", "sold_price": 10, "date": "2023-03-01"},
            {"product_id": pids[1], "sold_price": 10, "date": "2023-03-01", "currency": "GBP"},
            {"product_id": pids[1], "sold_price": 10, "date": "2023-03-01",
             "suggestion_id": "nope"},
            {"product_id": pids[2], "sold_price": -1, "date": "2023-03-01"}]
    res = record_outcomes(svc, store, rows)
    assert res.stored == [] and store.count() == 0
    assert [(e.row, e.field) for e in res.errors] == [(1, "product_id"), (2, "currency"),
                                                      (3, "suggestion_id"), (4, "sold_price")]
    assert "not in the catalog" in res.errors[0].error and "INR" in res.errors[1].error
    res = record_outcomes(svc, store, rows, partial=True)
    assert len(res.stored) == 1 and len(res.errors) == 4 and store.count() == 1


def test_suggestion_prediction_and_feedback_join(svc, store, pids):
    s = svc.suggest(pids[0], SuggestOptions(explain=False))
    svc.store.add_feedback(FeedbackIn(suggestion_id=s.suggestion_id, verdict="accepted"))
    svc.store.add_feedback(FeedbackIn(suggestion_id=s.suggestion_id, verdict="edited",
                                      edited_price=123.0))
    wrong = record_outcomes(svc, store, [{"product_id": pids[1], "sold_price": 120,
                                          "date": "2023-03-02", "suggestion_id": s.suggestion_id}])
    assert wrong.errors[0].field == "suggestion_id" and "made for product" in wrong.errors[0].error
    res = record_outcomes(svc, store, [
        {"product_id": pids[0], "sold_price": 120, "date": "2023-03-02",
         "suggestion_id": s.suggestion_id},
        {"product_id": pids[1], "sold_price": 80, "date": "2023-03-02"}])
    o = res.stored[0]
    assert (o.pred_price, o.pred_low, o.pred_high) == (s.model_price, s.interval.low, s.interval.high)
    assert o.model_version == s.model_version
    f = store.frame()
    assert f.loc[0, "feedback_verdict"] == "edited" and f.loc[0, "feedback_price"] == 123.0
    assert pd.isna(f.loc[1, "feedback_verdict"])


def test_batch_limit(svc, store, pids):
    res = record_outcomes(svc, store, [{"product_id": pids[0]}] * 10_001)
    assert res.stored == [] and "at most 10,000" in res.errors[0].error


def test_read_files(tmp_path, pids):
    csv = tmp_path / "o.csv"
    csv.write_text("product_id,sold_price,units,date,suggestion_id\n"
                   f"{pids[0]},10.5,,2023-03-01,\n0042,11,3,2023-03-02,s1\n", encoding="utf-8")
    [(first, rows)] = list(read_outcome_file(csv))
    assert first == 0 and rows[1]["product_id"] == "0042"          # ids stay text
    ok, errors = validate_rows(rows)
    assert errors == [] and ok[0][1].units == 1 and ok[1][1].suggestion_id == "s1"
    jl = tmp_path / "o.jsonl"
    jl.write_text('{"product_id": "A", "sold_price": 1, "date": "2023-03-01"}\n'
                  '{"product_id": "B", "sold_price": 2, "date": "2023-03-02"}\n')
    chunks = list(read_outcome_file(jl, chunk=1))
    assert [c[0] for c in chunks] == [0, 1] and chunks[1][1][0]["date"] == "2023-03-02"
    with pytest.raises(ValueError, match="csv"):
        list(read_outcome_file(tmp_path / "o.xlsx"))
