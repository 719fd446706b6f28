"""graph.loader: every rejection reason, in CSV, gzipped CSV, JSONL and Parquet."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from graph.contracts import PRODUCT_COLUMNS
from graph.loader import (
    load_table,
    read_table,
    rejection_counts,
    to_catalog,
    validate,
    write_rejections,
)

# (row dict, expected rejected field or None, substring of the reason)
PRODUCT_CASES = [
    ({"product_id": "p1", "title": "Good", "price": "10", "currency": "INR", "rating": "4.5",
      "color": "red"}, None, ""),
    ({"product_id": "", "title": "No id", "price": "10"}, "product_id", "missing product_id"),
    ({"product_id": "p3", "title": " ", "price": "10"}, "title", "missing title"),
    ({"product_id": "p4", "title": "Bad price", "price": "abc"}, "price",
     "non-numeric price: 'abc'"),
    ({"product_id": "p5", "title": "Negative", "price": "-5"}, "price", "negative price: -5"),
    ({"product_id": "p6", "title": "Zero", "price": "0"}, "price", "price must be > 0"),
    ({"product_id": "p7", "title": "Odd currency", "price": "3", "currency": "XYZ"},
     "currency", "unknown currency code 'XYZ'"),
    ({"product_id": "p8", "title": "No currency", "price": "3", "currency": ""}, None, ""),
    ({"product_id": "p9", "title": "Too good", "price": "3", "rating": "7"}, "rating",
     "rating out of range 0-5: 7"),
    ({"product_id": "p10", "title": "Rating text", "rating": "great"}, "rating",
     "non-numeric rating: 'great'"),
    ({"product_id": "p11", "title": "Cost text", "price": "5", "cost": "cheap"}, "cost",
     "non-numeric cost: 'cheap'"),
    ({"product_id": "p12", "title": "Count text", "rating_count": "many"}, "rating_count",
     "non-numeric rating_count: 'many'"),
    ({"product_id": "p1", "title": "Good", "price": "10", "currency": "INR", "rating": "4.5",
      "color": "red"}, "product_id", "exact duplicate of row 1"),
    ({"product_id": "p1", "title": "Good", "price": "12", "currency": "INR", "rating": "4.5",
      "color": "blue"}, "product_id", "duplicate product_id of row 1 with conflicting price, "
                                      "color"),
    ({"product_id": "p15", "title": "lower-case currency, no price", "currency": "usd"},
     None, ""),
]


def _frame(cases) -> pd.DataFrame:
    return pd.DataFrame([c[0] for c in cases])


def _write(frame: pd.DataFrame, path, fmt: str) -> None:
    if fmt in ("csv", "csv.gz"):
        frame.to_csv(path, index=False)
    elif fmt == "jsonl":
        with open(path, "w") as fh:
            for rec in frame.to_dict("records"):
                rec = {k: v for k, v in rec.items() if not (isinstance(v, float) and v != v)}
                # JSON gives numbers as numbers: keep the valid ones typed
                for k, v in list(rec.items()):
                    try:
                        rec[k] = float(v) if k in ("price", "rating") else v
                    except (TypeError, ValueError):
                        pass
                fh.write(json.dumps(rec) + "\n")
    else:
        frame.astype("object").where(frame.notna(), None).to_parquet(path, index=False)


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "jsonl", "parquet"])
def test_every_product_rejection_reason(tmp_path, fmt):
    path = tmp_path / f"products.{fmt}"
    _write(_frame(PRODUCT_CASES), path, fmt)
    result = load_table(path, "products", default_currency="EUR")

    by_row = {r.row: r for r in result.rejections}
    for i, (_, fld, reason) in enumerate(PRODUCT_CASES, start=1):
        if fld is None:
            assert i not in by_row, by_row.get(i)
        else:
            assert i in by_row, f"row {i} should be rejected for {reason}"
            assert by_row[i].field == fld
            assert reason in by_row[i].reason
            assert by_row[i].file == path.name and by_row[i].table == "products"
    assert result.n_rejected == sum(1 for c in PRODUCT_CASES if c[1])
    frame = result.frame.set_index("product_id")
    assert list(result.frame.columns[: len(PRODUCT_COLUMNS)]) == PRODUCT_COLUMNS
    assert "color" in result.frame.columns  # free attribute kept
    assert frame.loc["p1", "price"] == 10.0 and frame.loc["p1", "color"] == "red"
    assert frame.loc["p8", "currency"] == "EUR"  # empty currency -> the caller's default
    assert frame.loc["p15", "currency"] == "USD" and np.isnan(frame.loc["p15", "price"])
    assert (result.frame["source"] == path.name).all()
    assert result.frame["price"].dtype == float


def test_one_rejection_per_row_lists_every_problem():
    frame = pd.DataFrame([{"product_id": "a", "title": "t", "price": "-1", "currency": "ABC",
                           "rating": "9"}])
    (rej,) = validate(frame, "products", "x.csv").rejections
    assert rej.field == "price,rating,currency"
    assert "negative price" in rej.reason and "rating out of range" in rej.reason
    assert "unknown currency" in rej.reason and rej.product_id == "a"


def test_infinite_and_na_tokens():
    frame = pd.DataFrame({"product_id": ["a", "b"], "title": ["t", "u"],
                          "price": ["inf", "N/A"]})
    result = validate(frame, "products")
    assert [r.reason for r in result.rejections] == ["price is not finite"]
    assert result.frame["product_id"].tolist() == ["b"]  # "N/A" is an empty price


def test_leading_zero_ids_survive_csv(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text("product_id,title,price\n0470121637,Book,552\n")
    frame = load_table(path, "products").frame
    assert frame["product_id"].tolist() == ["0470121637"]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_offer_rules(tmp_path, fmt):
    rows = pd.DataFrame([
        {"product_id": "p1", "competitor": "acme", "price": "9.5",
         "observed_at": "2024-03-05T10:00:00Z", "shipping": "1"},
        {"product_id": "p1", "competitor": "", "price": "9"},
        {"product_id": "p1", "competitor": "acme", "price": "0", "observed_at": "2024-03-06"},
        {"product_id": "p1", "competitor": "acme", "price": "9", "observed_at": "yesterday"},
        {"product_id": "p1", "competitor": "acme", "price": "8",
         "observed_at": "2024-03-05", "shipping": "1"},
        {"product_id": "p1", "competitor": "zed", "price": "8", "shipping": "-2"},
        {"product_id": "p1", "competitor": "zed", "currency": "GBP"},
    ])
    path = tmp_path / f"offers.{fmt}"
    _write(rows, path, fmt)
    result = load_table(path, "offers", default_currency="INR")
    reasons = {r.row: r.reason for r in result.rejections}
    assert "missing competitor" in reasons[2]
    assert "price must be > 0" in reasons[3]
    assert "unparseable observed_at: 'yesterday'" in reasons[4]
    assert "of row 1 with conflicting price" in reasons[5]  # same competitor, same day
    assert "negative shipping" in reasons[6]
    assert "missing price" in reasons[7]
    assert len(reasons) == 6
    (ok,) = result.frame.to_dict("records")
    assert ok["observed_at"] == "2024-03-05" and ok["currency"] == "INR"


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_sales_rules(tmp_path, fmt):
    rows = pd.DataFrame([
        {"product_id": "p1", "date": "2024-01-31", "price": "10", "quantity": "3"},
        {"product_id": "p1", "date": "", "price": "10", "quantity": "3"},
        {"product_id": "p1", "date": "2024-02-01", "price": "10", "quantity": "-1"},
        {"product_id": "p1", "date": "2024-02-02", "price": "10", "quantity": "lots"},
        {"product_id": "p1", "date": "2024-02-03", "price": "-10", "quantity": "1"},
        {"product_id": "p1", "date": "2024-02-30", "price": "10", "quantity": "1"},
        {"product_id": "p1", "date": "2024-02-04", "price": "10", "quantity": ""},
        {"product_id": "p1", "date": "March 5, 2024", "price": "10", "quantity": "0"},
    ])
    path = tmp_path / f"sales.{fmt}"
    _write(rows, path, fmt)
    result = load_table(path, "sales")
    reasons = {r.row: r.reason for r in result.rejections}
    assert reasons == {
        2: "missing date", 3: "negative quantity: -1", 4: "non-numeric quantity: 'lots'",
        5: "negative price: -10", 6: "unparseable date: '2024-02-30'", 7: "missing quantity"}
    assert result.frame["date"].tolist() == ["2024-01-31", "2024-03-05"]


def test_reviews_same_review_on_two_variants_is_fine():
    frame = pd.DataFrame([
        {"product_id": "a", "review_id": "R1", "text": "ok", "rating": 4},
        {"product_id": "b", "review_id": "R1", "text": "ok", "rating": 4},
        {"product_id": "a", "review_id": "R1", "text": "ok", "rating": 4},
        {"product_id": "a", "text": "no id"},
        {"product_id": "a", "text": "no id"},
        {"product_id": "a", "review_id": "R2", "rating": 6},
    ])
    result = validate(frame, "reviews", "reviews.csv")
    assert {r.row: r.reason for r in result.rejections} == {
        3: "exact duplicate of row 1; first occurrence kept",
        6: "rating out of range 0-5: 6"}
    assert len(result.frame) == 4


def test_rows_argument_names_source_rows():
    frame = pd.DataFrame({"product_id": ["a", "b"], "title": ["t", None]})
    (rej,) = validate(frame, "products", "src.csv", rows=[10, 42]).rejections
    assert rej.row == 42


def test_missing_required_column_is_a_clear_error():
    with pytest.raises(ValueError, match="no title column"):
        validate(pd.DataFrame({"product_id": ["a"]}), "products", "f.csv")


def test_bad_default_currency_and_kind():
    with pytest.raises(ValueError, match="default currency"):
        validate(pd.DataFrame({"product_id": ["a"], "title": ["t"]}), "products",
                 default_currency="ZZZ")
    with pytest.raises(ValueError, match="unknown table kind"):
        validate(pd.DataFrame(), "widgets")  # type: ignore[arg-type]


def test_read_table_errors(tmp_path):
    bad = tmp_path / "products.xlsx"
    bad.write_text("x")
    with pytest.raises(ValueError, match="unknown table format"):
        read_table(bad)
    broken = tmp_path / "products.jsonl"
    broken.write_text('{"product_id": "a", "title": "t"}\n{"product_id": \n')
    with pytest.raises(ValueError, match="line 2: invalid JSON"):
        read_table(broken)
    with pytest.raises(FileNotFoundError):
        read_table(tmp_path / "nope.csv")


def test_to_catalog_rejects_rows_of_unknown_products(tmp_path):
    products = validate(pd.DataFrame({"product_id": ["a", "b"], "title": ["t", None]}),
                        "products", "p.csv")
    reviews = validate(pd.DataFrame({"product_id": ["a", "b", "zz"], "text": ["x", "y", "z"]}),
                       "reviews", "r.csv")
    catalog = to_catalog([products, reviews])
    assert catalog.reviews["product_id"].tolist() == ["a"]
    orphans = [r for r in catalog.rejections if r.table == "reviews"]
    assert [(r.row, r.product_id) for r in orphans] == [(2, "b"), (3, "zz")]
    assert rejection_counts(catalog.rejections)["products"] == 1

    report = write_rejections(catalog.rejections, tmp_path / "out" / "rej.csv")
    written = pd.read_csv(report)
    assert list(written.columns) == ["table", "file", "row", "field", "reason", "product_id"]
    assert len(written) == 3 and set(written["table"]) == {"products", "reviews"}


def test_json_array_and_gzipped_jsonl(tmp_path):
    import gzip

    (tmp_path / "products.json").write_text(
        '[{"product_id": 7, "title": "Seven", "price": 3},'
        ' {"product_id": 8, "title": "", "price": 4}]')
    result = load_table(tmp_path / "products.json", "products")
    assert result.frame["product_id"].tolist() == ["7"]
    assert [r.reason for r in result.rejections] == ["missing title"]

    with gzip.open(tmp_path / "products.jsonl.gz", "wt") as fh:
        fh.write('{"product_id": "007", "title": "t", "launched": "2024-01-01T00:00:00"}\n\n'
                 '{"product_id": "008", "title": "u"}\n')
    frame = load_table(tmp_path / "products.jsonl.gz", "products").frame
    assert frame["product_id"].tolist() == ["007", "008"]
    assert frame["launched"].iloc[0] == "2024-01-01T00:00:00"  # typed date back to text
