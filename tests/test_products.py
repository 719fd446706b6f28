"""Tests for graph.products: the flat product table read back from a built graph.

Run: .venv/bin/pytest tests/test_products.py -q
"""
from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from graph.build import build_graph
from graph.contracts import Catalog
from graph.products import PRODUCT_TABLE_COLUMNS, product_table


@pytest.fixture(scope="module")
def graph() -> nx.MultiDiGraph:
    products = pd.DataFrame({
        "product_id": ["a1", "a2", "a3"],
        "title": ["Red kettle 1.5 L", "boAt Airdopes 141", "Plain mug"],
        "description": ["Steel kettle", None, None],
        "category_path": ["Home > Kitchen > Kettles", "Electronics > Audio", None],
        "brand": ["Prestige", "boAt", None],
        "brand_inferred": [False, True, None],
        "price": [899.0, 1299.0, None],
        "currency": ["INR", "INR", "INR"],
        "cost": [500.0, None, None],
        "rating": [4.1, 3.9, None],
        "rating_count": [120.0, 4000.0, None],
        "source": ["amazon_in_sales/products.csv", "amazon_in_2023/products.csv.gz", "curator"],
    })
    reviews = pd.DataFrame({
        "product_id": ["a1", "a1", "a2"],
        "review_id": ["r1", "r2", "r3"],
        "rating": [5.0, 2.0, 4.0],
        "text": ["Boils fast", None, "Good bass"],
        "source": ["amazon_in_sales/reviews.csv"] * 3,
    })
    return build_graph(Catalog(products=products, reviews=reviews))


def test_columns_and_one_row_per_product(graph):
    t = product_table(graph)
    assert list(t.columns) == PRODUCT_TABLE_COLUMNS
    assert sorted(t.product_id) == ["a1", "a2", "a3"]  # ids without the "product:" prefix
    assert t.product_id.is_unique


def test_attributes_category_brand_and_source(graph):
    t = product_table(graph).set_index("product_id")
    a1, a2, a3 = t.loc["a1"], t.loc["a2"], t.loc["a3"]
    assert a1.category_path == "Home > Kitchen > Kettles"
    assert a1.brand == "Prestige" and bool(a1.brand_inferred) is False
    assert a2.brand == "boAt" and bool(a2.brand_inferred) is True
    assert pd.isna(a3.brand) and pd.isna(a3.brand_inferred) and pd.isna(a3.category_path)
    assert a1.price == 899.0 and a1.cost == 500.0 and a1.rating_count == 120.0
    assert np.isnan(a3.price) and np.isnan(a2.cost)
    assert a1.currency == "INR" and a1.description == "Steel kettle"
    assert a2.source == "amazon_in_2023/products.csv.gz"
    assert t.price.dtype == np.float64


def test_review_texts_and_counts(graph):
    t = product_table(graph).set_index("product_id")
    # The review without text still counts as a review, it just has no text to show.
    assert t.loc["a1", "n_reviews"] == 2 and t.loc["a1", "review_texts"] == ["Boils fast"]
    assert t.loc["a2", "review_texts"] == ["Good bass"]
    assert t.loc["a3", "n_reviews"] == 0 and t.loc["a3", "review_texts"] == []


def test_empty_graph_gives_empty_table_with_columns():
    t = product_table(nx.MultiDiGraph())
    assert len(t) == 0 and list(t.columns) == PRODUCT_TABLE_COLUMNS


def test_non_numeric_attribute_names_the_node():
    g = nx.MultiDiGraph()
    g.add_node("product:x", type="product", title="x", price="cheap")
    with pytest.raises(ValueError, match=r"product:x.*price"):
        product_table(g)


def test_demo_catalog_reviews_reach_the_table(demo_dir):
    from graph.adapters import load_path

    t = product_table(build_graph(load_path(demo_dir)))
    assert t.product_id.is_unique and t.price.notna().mean() > 0.5
    with_reviews = t[t.n_reviews > 0]
    assert len(with_reviews) > 0
    assert all(isinstance(r, list) and all(isinstance(s, str) and s for s in r)
               for r in with_reviews.review_texts)
    assert set(t.currency.dropna()) >= {"INR", "GBP"}
