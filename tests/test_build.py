"""Tests for graph.build: run with `.venv/bin/pytest tests/test_build.py -q`."""
from __future__ import annotations

import math

import networkx as nx
import pandas as pd
import pytest

from graph.adapters import load_path
from graph.build import BuildError, add_edges_fast, build_graph
from graph.contracts import Catalog
from graph.schema import EdgeType, NodeType, node_id, offer_key

TS = "2024-01-02T03:04:05+00:00"


def small_catalog() -> Catalog:
    products = pd.DataFrame({
        "product_id": ["p1", "p2", "p3", "p4", "p5"],
        "title": ["boAt Rockerz 450", "Bo-At Airdopes 141", "Lego Classic Box", "Plain mug",
                  "Hornby Train Set"],
        "description": ["Wireless headphones", None, "", None, "OO gauge"],
        "category_path": ["Electronics > Audio > Headphones", "Electronics > Audio > Headphones",
                          "Toys > Building", None, "Toys>Model Trains "],
        "brand": ["boAt", "Bo-At", "LEGO", None, "Hornby"],
        "brand_inferred": [True, True, False, None, None],
        "condition": [None, None, "new", None, None],
        "price": [1499.0, 1099.0, 24.99, float("nan"), 89.0],
        "currency": ["INR", "INR", "GBP", None, "GBP"],
        "cost": [None, None, None, None, None],
        "rating": [4.1, 3.9, float("nan"), None, 4.8],
        "rating_count": [1200.0, 35.0, None, None, 10.0],
        "source": ["amazon_in_2023", "amazon_in_2023", "amazon_uk_toys", "manual",
                   "amazon_uk_toys"],
        "stock": ["5 new", None, "", None, "2 used"],   # a free attribute
        "gift": [True, False, True, None, True],         # a free boolean attribute, a gap
    })
    reviews = pd.DataFrame({
        "product_id": ["p1", "p2", "p1", "p3"],
        "review_id": ["R1", "R1", None, None],
        "rating": [5.0, 5.0, None, 4.0],
        "title": ["Great", "Great", "ok", None],
        "text": ["Loud and clear", "Loud and clear", None, "Fun"],
        "source": ["amazon_in_sales"] * 4,
    })
    offers = pd.DataFrame({
        "product_id": ["p1", "p1", "p1", "p2"],
        "competitor": ["ShopA", "ShopA", "ShopB", "ShopA"],
        "price": [1399.0, 1450.0, 1500.0, 999.0],
        "currency": ["INR", "INR", "INR", None],
        "observed_at": ["2023-01", "2023-02", "2023-01", None],
        "url": [None, "https://a.example/p1", None, None],
        "shipping": [0.0, None, 49.0, None],
        "source": ["retail_price"] * 4,
        "competitor_score": [4, None, 3, 5],  # a free attribute
    })
    return Catalog(products=products, reviews=reviews, offers=offers)


def _by_type(g: nx.MultiDiGraph) -> tuple[dict, dict]:
    nodes: dict = {}
    for _, d in g.nodes(data=True):
        nodes[d["type"]] = nodes.get(d["type"], 0) + 1
    edges: dict = {}
    for _, _, d in g.edges(data=True):
        edges[d["type"]] = edges.get(d["type"], 0) + 1
    return nodes, edges


@pytest.fixture(scope="module")
def g() -> nx.MultiDiGraph:
    return build_graph(small_catalog(), updated_at=TS)


def test_counts_per_type(g):
    nodes, edges = _by_type(g)
    # categories: Electronics, Electronics > Audio, ... > Headphones, Toys, Toys > Building,
    # Toys > Model Trains; brands boat (merged), lego, hornby; reviews R1, p1#1, p3#1
    assert nodes == {"product": 5, "category": 6, "brand": 3, "review": 3, "competitor": 2}
    assert edges == {"in_category": 4, "child_of": 4, "made_by": 4, "review_of": 4,
                     "offers": 4}


def test_taxonomy_is_a_tree_of_prefixes(g):
    cats = [n for n, d in g.nodes(data=True) if d["type"] == NodeType.CATEGORY]
    tree = nx.DiGraph([(u, v) for u, v, d in g.edges(data=True)
                       if d["type"] == EdgeType.CHILD_OF])
    tree.add_nodes_from(cats)
    assert nx.is_forest(tree.to_undirected()) and nx.is_directed_acyclic_graph(tree)
    for c in cats:
        assert tree.out_degree(c) <= 1  # one parent at most
    leaf = node_id(NodeType.CATEGORY, "Electronics > Audio > Headphones")
    assert g.nodes[leaf]["depth"] == 3 and g.nodes[leaf]["name"] == "Headphones"
    assert g.nodes[leaf]["path"] == "Electronics > Audio > Headphones"
    assert list(nx.descendants(tree, leaf)) and set(nx.descendants(tree, leaf)) == {
        "category:Electronics > Audio", "category:Electronics"}
    assert g.nodes["category:Electronics"]["depth"] == 1
    # "Toys>Model Trains " is read as the path Toys > Model Trains
    assert g.has_edge("product:p5", "category:Toys > Model Trains", EdgeType.IN_CATEGORY)
    # products link to their leaf only
    assert [v for _, v, k in g.out_edges("product:p1", keys=True)
            if k == EdgeType.IN_CATEGORY] == [leaf]


def test_brand_normalisation_merges_spellings(g):
    brands = {n: d for n, d in g.nodes(data=True) if d["type"] == NodeType.BRAND}
    assert set(brands) == {"brand:boat", "brand:lego", "brand:hornby"}
    assert brands["brand:boat"]["inferred"] is True      # only ever inferred
    assert brands["brand:lego"]["inferred"] is False
    assert brands["brand:hornby"]["inferred"] is False   # no flag: given by the data
    assert brands["brand:boat"]["name"] in {"boAt", "Bo-At"}
    made_by = g.get_edge_data("product:p2", "brand:boat", EdgeType.MADE_BY)
    assert made_by["inferred"] is True
    assert g.get_edge_data("product:p3", "brand:lego", EdgeType.MADE_BY)["inferred"] is False


def test_brand_display_name_is_most_common_spelling():
    cat = small_catalog()
    extra = cat.products.iloc[[1]].assign(product_id="p6")
    cat.products = pd.concat([cat.products, extra], ignore_index=True)
    g = build_graph(cat, updated_at=TS)
    assert g.nodes["brand:boat"]["name"] == "Bo-At"  # 2 x "Bo-At", 1 x "boAt"
    # a brand given once by the data is not "inferred"
    cat.products.loc[5, "brand_inferred"] = False
    assert build_graph(cat).nodes["brand:boat"]["inferred"] is False


def test_provenance_and_time_everywhere(g):
    for n, d in g.nodes(data=True):
        assert d.get("provenance"), n
        assert d["updated_at"] == TS, n
        assert isinstance(d.get("name"), str), n
    for u, v, k, d in g.edges(keys=True, data=True):
        assert d.get("provenance"), (u, v, k)
        assert d["updated_at"] == TS
    assert g.nodes["product:p1"]["provenance"] == "amazon_in_2023"
    # shared nodes list every source that mentions them
    assert g.nodes["category:Toys"]["provenance"] == "amazon_uk_toys"
    assert g.nodes["competitor:ShopA"]["provenance"] == "retail_price"


def test_no_nan_and_missing_values_absent(g):
    for _, d in g.nodes(data=True):
        for k, v in d.items():
            assert v is not None and not (isinstance(v, float) and math.isnan(v)), k
    p4 = g.nodes["product:p4"]
    assert "price" not in p4 and "description" not in p4 and "brand" not in p4
    assert "description" not in g.nodes["product:p3"]  # blank text counts as missing
    p1 = g.nodes["product:p1"]
    assert p1["price"] == 1499.0 and type(p1["price"]) is float
    assert p1["title"] == p1["name"] == "boAt Rockerz 450"
    assert p1["currency"] == "INR" and p1["rating_count"] == 1200.0
    assert p1["stock"] == "5 new" and "stock" not in g.nodes["product:p3"]
    assert p1["gift"] is True and g.nodes["product:p2"]["gift"] is False
    assert "gift" not in g.nodes["product:p4"]


def test_offers_keyed_by_date(g):
    data = g.get_edge_data("competitor:ShopA", "product:p1")
    assert set(data) == {offer_key("2023-01"), offer_key("2023-02")}
    feb = data[offer_key("2023-02")]
    assert feb["price"] == 1450.0 and feb["url"] == "https://a.example/p1"
    assert "shipping" not in feb and feb["observed_at"] == "2023-02"
    assert data[offer_key("2023-01")]["competitor_score"] == 4.0 and "competitor_score" not in feb
    undated = g.get_edge_data("competitor:ShopA", "product:p2", "offers@")
    assert undated["price"] == 999.0 and "currency" not in undated


def test_reviews_shared_between_variants(g):
    assert g.has_edge("review:R1", "product:p1") and g.has_edge("review:R1", "product:p2")
    assert g.nodes["review:R1"]["text"] == "Loud and clear"
    assert g.nodes["review:p1#1"]["title"] == "ok"  # review without id gets one


def test_graph_attributes(g):
    assert g.graph["schema_version"] >= 1 and g.graph["built_at"] == TS


def test_add_edges_fast_matches_networkx():
    from graph.io import graph_diff

    edges = [("a", "b", "k", {"x": 1}), ("a", "b", "k", {"y": 2}), ("a", "b", 0, {}),
             ("b", "b", "self", {"z": None}), ("b", "a", "k", {})]
    fast, slow = nx.MultiDiGraph(), nx.MultiDiGraph()
    for h in (fast, slow):
        h.add_nodes_from(["a", "b", "c"])
    add_edges_fast(fast, [(u, v, k, dict(d)) for u, v, k, d in edges])
    slow.add_edges_from(edges)
    assert graph_diff(fast, slow) == []
    assert list(fast.in_edges("b", keys=True)) == list(slow.in_edges("b", keys=True))
    assert fast.in_degree("a") == slow.in_degree("a") == 1
    with pytest.raises(ValueError, match="'ghost' is not a node"):
        add_edges_fast(fast, [("a", "ghost", "k", {})])
    assert "ghost" not in fast


def test_empty_catalog():
    g = build_graph(Catalog())
    assert g.number_of_nodes() == 0 and g.number_of_edges() == 0


@pytest.mark.parametrize("table,change,message", [
    ("products", lambda c: c.products.loc.__setitem__((1, "product_id"), "p1"),
     "row 2 (product_id='p1')"),
    ("offers", lambda c: c.offers.loc.__setitem__((0, "product_id"), "nope"),
     "names no product"),
    ("reviews", lambda c: c.reviews.loc.__setitem__((2, "product_id"), "nope"),
     "reviews: field 'product_id'"),
    ("offers", lambda c: c.offers.loc.__setitem__((1, "observed_at"), "2023-01"),
     "repeats an offer"),
    ("products", lambda c: c.products.loc.__setitem__((0, "source"), None), "source"),
    ("products", lambda c: c.products.__setitem__(
        "price", ["1.0", "cheap", None, None, "2"]), "value='cheap'"),
    ("products", lambda c: c.products.loc.__setitem__((0, "brand"), "---"), "brand"),
])
def test_bad_input_names_the_row(table, change, message):
    cat = small_catalog()
    change(cat)
    with pytest.raises(BuildError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_graph(cat)


def test_demo_catalog_builds(demo_dir):
    cat = load_path(demo_dir)
    g = build_graph(cat)
    nodes, _ = _by_type(g)
    assert nodes["product"] == len(cat.products)
    assert all(d.get("provenance") for _, _, d in g.edges(data=True))
