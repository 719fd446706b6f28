"""Tests for graph.stats: run with `.venv/bin/pytest tests/test_stats.py -q`."""
from __future__ import annotations

import json

import pandas as pd
from rich.console import Console

from graph.build import build_graph
from graph.contracts import Catalog
from graph.stats import GraphStats, graph_stats


def _graph():
    products = pd.DataFrame({
        "product_id": ["a", "b", "c", "d"],
        "title": ["Boat Rockerz", "boAt Airdopes", "Mug", "Hornby set"],
        "category_path": ["Audio > Headphones > Wireless", "Audio > Earbuds", None, "Toys"],
        "brand": ["boAt", "Bo-At", None, "Hornby"],
        "brand_inferred": [True, True, None, False],
        "price": [1499.0, 999.0, 5.5, 40.0],
        "source": ["s1", "s1", "s2", "s3"],
    })
    offers = pd.DataFrame({"product_id": ["a"], "competitor": ["X"], "price": [1400.0],
                           "source": ["s4"]})
    g = build_graph(Catalog(products=products, offers=offers))
    g.add_node("brand:lonely", type="brand", name="Lonely", inferred=False,
               provenance="curator", updated_at="2024-01-01T00:00:00+00:00")
    return g


def test_counts_and_gaps():
    s = graph_stats(_graph())
    assert isinstance(s, GraphStats)
    assert s.nodes == {"product": 4, "category": 5, "brand": 3, "competitor": 1}
    assert list(s.nodes) == ["product", "category", "brand", "competitor"]  # schema order
    assert s.edges == {"in_category": 3, "child_of": 3, "made_by": 3, "offers": 1}
    assert s.n_nodes == 13 and s.n_edges == 10
    assert s.taxonomy_depth == 3 and s.root_categories == 2      # Audio, Toys
    # product c has neither category nor brand: an orphan too
    assert s.orphans == 2 and s.orphan_examples == ["product:c", "brand:lonely"]
    assert s.products_without_category == 1 and s.products_without_brand == 1
    assert s.brands_inferred == 1 and s.brands_given == 2          # boat | hornby, lonely


def test_to_dict_and_render():
    s = graph_stats(_graph())
    d = s.to_dict()
    assert json.loads(json.dumps(d)) == d and d["orphans"] == 2
    console = Console(width=120, record=True, color_system=None)
    console.print(s.render())
    text = console.export_text()
    assert "products without category" in text and "brand:lonely" in text
    assert "in_category" in text


def test_empty_graph():
    s = graph_stats(build_graph(Catalog()))
    assert s.n_nodes == 0 and s.taxonomy_depth == 0 and s.root_categories == 0
    assert s.nodes == {} and s.orphans == 0
