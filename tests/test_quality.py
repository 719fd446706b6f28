"""Tests for graph.quality and `pricing graph check`: `.venv/bin/pytest tests/test_quality.py -q`.

A small hand-made graph with exactly one case of each problem (plus near misses that must not
be reported).
"""
from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from graph.build import build_graph
from graph.contracts import Catalog
from graph.quality import duplicate_brands, quality_report
from graph.store import GraphStore


def problem_graph():
    rows = [
        # Kitchen: five ordinary prices and one far above them
        ("k1", "Home > Kitchen", "Acme", 9.0), ("k2", "Home > Kitchen", "Acme", 10.0),
        ("k3", "Home > Kitchen", "Acme", 10.5), ("k4", "Home > Kitchen", "Acme", 11.0),
        ("k5", "Home > Kitchen", "Acme", 9.5), ("k6", "Home > Kitchen", "Acme", 480.0),
        # Bath: nearly all the same price; 4% off is not an outlier (MAD floor)
        ("b1", "Home > Bath", "Bo At", 10.0), ("b2", "Home > Bath", "boAt", 10.0),
        ("b3", "Home > Bath", "Philips India", 10.0), ("b4", "Home > Bath", "Philips Indai", 10.0),
        ("b5", "Home > Bath", "Acme", 10.4),
        # Tiny: too few prices to judge, however wild
        ("t1", "Toys > Tiny", "Acme", 1.0), ("t2", "Toys > Tiny", "Acme", 1000.0),
        # one product alone in its category; one without any category
        ("s1", "Garden > Tools", "Acne", 5.0),
        ("loose", None, "Sony", 7.0),
    ]
    products = pd.DataFrame(rows, columns=["product_id", "category_path", "brand", "price"])
    products["title"] = products["product_id"]
    products["currency"] = "INR"
    products["source"] = "hand"
    offers = pd.DataFrame({"product_id": ["k1"], "competitor": ["Shop A"], "price": [9.5],
                           "currency": ["INR"], "source": ["hand"]})
    g = build_graph(Catalog(products=products, offers=offers))
    g.add_node("competitor:Ghost", type="competitor", name="Ghost")   # no offers at all
    for pid in ("inner1", "inner2"):   # in "Toys", which has a sub-category
        g.add_node(f"product:{pid}", type="product", name=pid, price=8.0, currency="INR")
        g.add_edge(f"product:{pid}", "category:Toys", key="in_category", type="in_category")
    return g


def test_one_of_each_problem():
    rep = quality_report(problem_graph())
    assert rep.counts() == {"duplicate_brands": 2, "price_outliers": 1,
                            "single_product_categories": 1, "competitors_without_offers": 1,
                            "products_without_category": 1, "products_in_inner_categories": 2}
    same, similar = rep.duplicate_brands
    assert (same.brands, same.reason, same.score) == (["brand:bo at", "brand:boat"],
                                                      "same normalised name", 1.0)
    assert similar.names == ["Philips Indai", "Philips India"] and similar.score >= 0.9
    assert similar.reason == "similar names"
    o = rep.price_outliers[0]
    assert (o.product_id, o.category, o.price, o.currency, o.n) == (
        "k6", "Home > Kitchen", 480.0, "INR", 6)
    assert o.z > 3.5 and 9.5 < o.category_median < 11
    assert rep.single_product_categories == ["Garden > Tools"]
    assert rep.competitors_without_offers == ["Ghost"]
    assert rep.products_without_category == ["loose"]
    assert rep.products_in_inner_categories == [("inner1", "Toys"), ("inner2", "Toys")]
    assert not rep.clean
    d = rep.to_dict()
    assert d["counts"]["price_outliers"] == 1 and d["price_outliers"][0]["product_id"] == "k6"


def test_clean_and_empty_graphs():
    import networkx as nx

    assert quality_report(nx.MultiDiGraph()).clean
    g = problem_graph()
    assert quality_report(g, z_threshold=1e9, min_group=100).price_outliers == []


def test_fuzzy_brands_rules():
    brands = [("brand:1", "Philips India"), ("brand:2", "Philips Indai"),   # similar
              ("brand:3", "Acme"), ("brand:4", "Acne"),                     # 0.75: no
              ("brand:5", "Lux"), ("brand:6", "Lax"),                       # too short
              ("brand:7", "Xhilips India"),                                 # other first letters
              ("brand:8", "LG"), ("brand:9", "L.G.")]                       # same name, short ok
    found = {tuple(d.brands): d.reason for d in duplicate_brands(brands)}
    assert found == {("brand:8", "brand:9"): "same normalised name",
                     ("brand:1", "brand:2"): "similar names"}
    # the length bound never hides a match: equal names of different lengths are not similar
    long = [("brand:a", "abcdefghij"), ("brand:b", "abcdefghijk"), ("brand:c", "abcdefghijklm")]
    pairs = {tuple(d.brands) for d in duplicate_brands(long)}
    assert pairs == {("brand:a", "brand:b"), ("brand:b", "brand:c")}   # 0.952, 0.917; a-c 0.87


def test_render_lists_counts_and_top_items():
    from rich.console import Console

    console = Console(record=True, width=120)
    console.print(quality_report(problem_graph()).render(top=1))
    text = console.export_text()
    assert "Graph quality" in text and "price outliers" in text
    assert "k6" in text and "Ghost" in text and "Garden > Tools" in text


def test_cli_check(tmp_path):
    from assistant.cli import app

    db = tmp_path / "g.sqlite"
    with GraphStore(db) as store:
        store.save(problem_graph())
    runner = CliRunner()
    result = runner.invoke(app, ["graph", "check", "--db", str(db), "--top", "3"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "duplicate brands │ 2" in out and "price outliers │ 1" in out
    assert "k6" in out and "Philips Indai" in out
    missing = runner.invoke(app, ["graph", "check", "--db", str(tmp_path / "none.sqlite")])
    assert missing.exit_code == 1 and "no graph store" in " ".join(missing.output.split())
