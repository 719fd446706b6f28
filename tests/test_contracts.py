"""graph.contracts: the one validation of ids, titles and text that ingest (graph.loader),
curation (graph.curation) and the API (ProductIn) share (issue 19, points 1, 4 and 8).

Run: ``.venv/bin/pytest -q tests/test_contracts.py``
"""
from __future__ import annotations

import pandas as pd
import pytest
from pydantic import ValidationError

from graph.contracts import MAX_COUNT, ProductIn, check_id, id_problem, text_problem
from graph.loader import validate


@pytest.mark.parametrize("value, why", [
    ("product:X1", "node-type prefix"), ("Category:a", "node-type prefix"),
    ("x" * 201, "at most 200"), ("a\x00b", "U+0000"), ("a\nb", "U+000A"), (" a", "spaces"),
    ("", "non-blank"), ("a\ud800", "U+D800"),
])
def test_bad_ids(value, why):
    assert why in id_problem(value)
    with pytest.raises(ValueError, match="product_id"):
        check_id(value)


def test_good_ids_and_text():
    for v in ("B07JW9H4J1", "x" * 200, "sku-1:variant", "produit:1"):
        assert id_problem(v) is None
    assert text_problem("two\nlines\tok", "description", 20, multiline=True) is None
    assert "U+000A" in text_problem("two\nlines", "title", 20)
    assert "U+0000" in text_problem("a\x00", "description", 20, multiline=True)


@pytest.mark.parametrize("fields, loc", [
    ({"product_id": "product:X1"}, "product_id"),
    ({"title": "bo\x00at"}, "title"),
    ({"title": "t" * 2001}, "title"),
    ({"brand": "b" * 201}, "brand"),
    ({"description": "d\x1b[31m"}, "description"),
    ({"reviews": ["fine", "nul\x00"]}, "reviews"),
    ({"rating_count": 1e18}, "rating_count"),
    ({"rating_count": float("inf")}, "rating_count"),
    ({"price": float("nan")}, "price"),
])
def test_product_in_refuses_naming_the_field(fields, loc):
    with pytest.raises(ValidationError) as exc:
        ProductIn(**{"title": "ok", **fields})
    assert exc.value.errors()[0]["loc"][0] == loc


def test_product_in_accepts_the_limits():
    p = ProductIn(product_id="x" * 200, title="t" * 2000, rating_count=MAX_COUNT,
                  description="line one\nline two")
    assert p.rating_count == MAX_COUNT


def test_ingest_rejects_what_curation_and_the_api_refuse():
    frame = pd.DataFrame({
        "product_id": ["ok1", "product:X1", "x" * 201, "ok2", "ok3", "ok4"],
        "title": ["fine", "fine", "fine", "bo\x00at", "t" * 2001, "fine"],
        "rating_count": [10, 10, 10, 10, 10, 1e18],
        "description": ["a\nb", None, None, None, None, None],
    })
    res = validate(frame, "products", "p.csv")
    assert list(res.frame["product_id"]) == ["ok1"]
    by_row = {r.row: (r.field, r.reason) for r in res.rejections}
    assert by_row[2][0] == "product_id" and "node-type prefix" in by_row[2][1]
    assert by_row[3][0] == "product_id" and "at most 200" in by_row[3][1]
    assert by_row[4][0] == "title" and "U+0000" in by_row[4][1]
    assert by_row[5][0] == "title" and "at most 2,000" in by_row[5][1]
    assert by_row[6][0] == "rating_count" and "above the limit" in by_row[6][1]


def test_c1_controls_repaired_in_text_refused_in_ids():
    """C1 controls (U+0080-U+009F) are Windows-1252 punctuation read as Latin-1 in real
    listings: free text gets the character back (the five undefined ones go), ids refuse them."""
    from graph.contracts import clean_text

    assert clean_text("a \x96 b\x92s\x85\x81") == "a – b’s…"
    assert clean_text(None) is None and clean_text("plain") == "plain"
    assert "U+0085" in id_problem("a\x85b")
    assert "U+009B" in text_problem("esc\x9b31m", "title", 100)
    p = ProductIn(title="Kettle \x96 steel", description="Boils\x85", reviews=["Don\x92t"], brand="Br\x96and")
    assert (p.title, p.description, p.reviews, p.brand) == ("Kettle – steel", "Boils…", ["Don’t"], "Br–and")
    with pytest.raises(ValidationError) as exc:
        ProductIn(title="ok", product_id="B0\x9bX")
    assert exc.value.errors()[0]["loc"][0] == "product_id"


def test_ingest_repairs_c1_text_and_rejects_c1_ids():
    frame = pd.DataFrame({"product_id": ["ok1", "bad\x9b"], "title": ["Kettle \x96 2 L", "fine"],
                          "description": ["Steel\x85", None]})
    res = validate(frame, "products", "p.csv")
    assert list(res.frame["product_id"]) == ["ok1"]
    assert res.frame["title"].iloc[0] == "Kettle – 2 L" and res.frame["description"].iloc[0] == "Steel…"
    (rej,) = res.rejections
    assert rej.row == 2 and rej.field == "product_id" and "U+009B" in rej.reason
    reviews = validate(pd.DataFrame({"product_id": ["ok1"], "text": ["Don\x92t"]}), "reviews", "r.csv")
    assert reviews.frame["text"].iloc[0] == "Don’t"
