"""graph.adapters on the demo sample (data/demo) and on small edited copies of it."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graph.adapters import (
    ADAPTERS,
    load_dataset,
    load_path,
    merge_catalogs,
    normalize_category_path,
    parse_money,
)
from graph.contracts import PRODUCT_COLUMNS, Catalog


def _raw(demo_dir, rel) -> pd.DataFrame:
    return pd.read_csv(demo_dir / rel, dtype=str, keep_default_na=False, na_values=[""])


@pytest.fixture(scope="module")
def cats(demo_dir) -> dict[str, Catalog]:
    return {name: load_dataset(name, demo_dir / name) for name in ADAPTERS}


def test_amazon_in_2023(cats, demo_dir):
    raw = _raw(demo_dir, "amazon_in_2023/products.csv.gz")
    c = cats["amazon_in_2023"]
    p = c.products
    assert len(p) == len(raw) and c.rejections == []
    assert list(p.columns) == PRODUCT_COLUMNS  # list_price and the raw category columns gone
    assert (p["currency"] == "INR").all()
    assert p["category_path"].str.count(" > ").eq(1).all()
    first = raw.iloc[0]
    assert p["category_path"].iloc[0] == f"{first.main_category} > {first.sub_category}"
    assert p["price"].iloc[0] == float(first.price)
    assert p["brand_inferred"].eq(p["brand"].notna()).all()
    assert p["brand"].notna().mean() > 0.85
    assert (p["source"] == "amazon_in_2023/products.csv.gz").all()


def test_amazon_in_sales(cats, demo_dir):
    raw = _raw(demo_dir, "amazon_in_sales/products.csv")
    c = cats["amazon_in_sales"]
    assert len(c.products) == len(raw) and c.rejections == []
    assert len(c.reviews) == len(_raw(demo_dir, "amazon_in_sales/reviews.csv"))
    assert c.products["description"].notna().all()
    assert not c.products["category_path"].str.contains(r"\|").any()
    assert "list_price" not in c.products.columns
    assert set(c.reviews["product_id"]) <= set(c.products["product_id"])
    assert (c.reviews["source"] == "amazon_in_sales/reviews.csv").all()


def test_amazon_uk_toys(cats, demo_dir):
    raw = _raw(demo_dir, "amazon_uk_toys/products.csv")
    p = cats["amazon_uk_toys"].products
    assert len(p) == len(raw) and cats["amazon_uk_toys"].rejections == []
    assert (p["currency"] == "GBP").all()
    given = raw["brand"].notna().to_numpy()
    assert not p["brand_inferred"][given].any()
    assert (p["brand"][given].to_numpy() == raw["brand"][given].to_numpy()).all()
    assert p["price"].isna().sum() == raw["price"].isna().sum() > 0  # unpriced kept
    assert p["category_path"].str.count(" > ").max() == 4  # 5 levels
    assert (p["rating_count"].to_numpy() == raw["review_count"].astype(float).to_numpy()).all()
    assert "stock" in p.columns and p["stock"].notna().any()


def test_retail_price(cats, demo_dir):
    raw = _raw(demo_dir, "retail_price/retail_price.csv")
    c = cats["retail_price"]
    assert len(c.products) == raw["product_id"].nunique()
    assert len(c.sales) == len(raw) and len(c.offers) == 3 * len(raw)
    assert set(c.offers["competitor"]) == {"competitor_1", "competitor_2", "competitor_3"}
    assert (c.products["currency"] == "BRL").all() and (c.offers["currency"] == "BRL").all()
    assert c.offers["observed_at"].str.match(r"^\d{4}-\d{2}-01$").all()
    assert c.products["category_path"].str.startswith("Retail > ").all()
    # product price = unit_price of the latest month
    one = raw[raw["product_id"] == "bed1"].copy()
    one["when"] = pd.to_datetime(one["month_year"], format="%d/%m/%Y")
    latest = one.sort_values("when").iloc[-1]
    prod = c.products.set_index("product_id").loc["bed1"]
    assert prod["price"] == float(latest["unit_price"])
    assert prod["title"] == "bed bath table product bed1"
    offer = c.offers[(c.offers["product_id"] == "bed1")
                     & (c.offers["competitor"] == "competitor_2")
                     & (c.offers["observed_at"] == latest["when"].strftime("%Y-%m-%d"))]
    assert offer["price"].tolist() == [float(latest["comp_2"])]
    assert offer["shipping"].tolist() == [float(latest["fp2"])]
    sale = c.sales[(c.sales["product_id"] == "bed1")].sort_values("date").iloc[-1]
    assert sale["quantity"] == float(latest["qty"]) and sale["price"] == prod["price"]


def test_load_path_merges_by_asin(cats, demo_dir):
    merged = load_path(demo_dir)
    a, s = cats["amazon_in_2023"].products, cats["amazon_in_sales"].products
    shared = set(a["product_id"]) & set(s["product_id"])
    assert len(shared) > 500  # the demo keeps every ASIN that has a description
    n = sum(len(c.products) for c in cats.values()) - len(shared)
    assert len(merged.products) == n
    assert merged.products["product_id"].is_unique
    p = merged.products.set_index("product_id")
    pid = sorted(shared)[0]
    assert p.loc[pid, "price"] == a.set_index("product_id").loc[pid, "price"]
    assert p.loc[pid, "category_path"] == a.set_index("product_id").loc[pid, "category_path"]
    assert p.loc[pid, "description"] == s.set_index("product_id").loc[pid, "description"]
    assert p.loc[pid, "source"] == "amazon_in_2023/products.csv.gz; amazon_in_sales/products.csv"
    assert set(merged.reviews["product_id"]) <= set(p.index)
    assert len(merged.offers) == len(cats["retail_price"].offers)
    assert set(p["currency"]) == {"INR", "GBP", "BRL"}


def test_merge_keeps_first_values_and_fills_gaps():
    first = Catalog(products=pd.DataFrame({
        "product_id": ["a", "b"], "title": ["A1", "B1"], "price": [10.0, np.nan],
        "brand": [None, "X"], "brand_inferred": [False, False], "source": ["f1", "f1"]}))
    second = Catalog(products=pd.DataFrame({
        "product_id": ["b", "c", "a"], "title": ["B2", "C2", "A2"], "price": [5.0, 7.0, 99.0],
        "brand": ["Y", None, "Z"], "brand_inferred": [True, False, True],
        "description": ["dB", None, "dA"], "source": ["f2", "f2", "f2"]}))
    p = merge_catalogs(first, second).products
    assert p["product_id"].tolist() == ["a", "b", "c"]
    a, b = p.iloc[0], p.iloc[1]
    assert (a["title"], a["price"], a["description"]) == ("A1", 10.0, "dA")
    assert (a["brand"], a["brand_inferred"]) == ("Z", True)  # brand and flag travel together
    assert (b["title"], b["price"], b["brand"], b["brand_inferred"]) == ("B1", 5.0, "X", False)
    assert a["source"] == "f1; f2"


def test_normalize_category_path_and_parse_money():
    s = pd.Series(["A|B|C", "A>B", " A >  B > ", "", None])
    assert normalize_category_path(s).tolist()[:3] == ["A > B > C", "A > B", "A > B"]
    assert normalize_category_path(s).isna().tolist()[3:] == [True, True]
    money = parse_money(pd.Series(["£3.42", "£1,299.00", "£1.99 - £6.99", "call us", None]))
    assert money.tolist()[:4] == ["3.42", "1299.00", "1.99", "call us"]


def test_adapter_reports_bad_source_rows(tmp_path, demo_dir):
    uk = tmp_path / "amazon_uk_toys"
    uk.mkdir()
    raw = _raw(demo_dir, "amazon_uk_toys/products.csv").head(5).copy()
    raw.loc[0, "price"] = "£3.42"
    raw.loc[1, "price"] = None
    raw.loc[2, "price"] = "call us"
    raw.loc[3, "rating"] = "9"
    raw.to_csv(uk / "products.csv", index=False)
    c = load_path(uk)
    assert len(c.products) == 3
    assert [(r.row, r.field, r.file) for r in c.rejections] == [
        (3, "price", "amazon_uk_toys/products.csv"), (4, "rating", "amazon_uk_toys/products.csv")]
    assert "non-numeric price: 'call us'" in c.rejections[0].reason
    assert c.products["price"].iloc[0] == 3.42 and np.isnan(c.products["price"].iloc[1])


def test_retail_rejected_product_takes_its_rows_along(tmp_path, demo_dir):
    folder = tmp_path / "retail_price"
    folder.mkdir()
    raw = _raw(demo_dir, "retail_price/retail_price.csv")
    one = raw[raw["product_id"] == "bed1"].copy()
    one["when"] = pd.to_datetime(one["month_year"], format="%d/%m/%Y")
    last = one["when"].idxmax()
    raw.loc[last, "unit_price"] = "-1"
    raw.to_csv(folder / "retail_price.csv", index=False)
    c = load_path(folder)
    assert "bed1" not in set(c.products["product_id"])
    assert "bed1" not in set(c.sales["product_id"]) | set(c.offers["product_id"])
    tables = {(r.table, r.row) for r in c.rejections if r.product_id == "bed1"}
    assert ("products", last + 1) in tables and ("sales", last + 1) in tables
    n_bed1 = int((raw["product_id"] == "bed1").sum())
    assert len([r for r in c.rejections if r.table == "offers"]) == 3 * n_bed1


def test_load_path_canonical_files(tmp_path):
    (tmp_path / "products.csv").write_text("product_id,title,price,currency\n"
                                           "a,Alpha,10,\nb,Beta,-1,INR\n")
    (tmp_path / "reviews.jsonl").write_text('{"product_id": "a", "text": "nice"}\n'
                                            '{"product_id": "b", "text": "meh"}\n')
    c = load_path(tmp_path, default_currency="EUR")
    assert c.products["currency"].tolist() == ["EUR"]
    assert c.reviews["product_id"].tolist() == ["a"]
    assert {(r.table, r.row) for r in c.rejections} == {("products", 2), ("reviews", 2)}
    single = load_path(tmp_path / "products.csv")
    assert len(single.products) == 1 and len(single.rejections) == 1


def test_load_path_errors(tmp_path):
    with pytest.raises(ValueError, match="found neither"):
        load_path(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_path(tmp_path / "missing")
    with pytest.raises(ValueError, match="unknown data set"):
        load_dataset("ebay", tmp_path)
    (tmp_path / "amazon_in_2023").mkdir()
    with pytest.raises(FileNotFoundError, match="products.csv.gz"):
        load_path(tmp_path / "amazon_in_2023")
