"""Linking new products to the graph: brands from known brand nodes, category from neighbours."""
from __future__ import annotations

import networkx as nx
import pytest

from graph.linking import BrandLinker, category_from_neighbours


@pytest.fixture()
def linker() -> BrandLinker:
    g = nx.MultiDiGraph()
    for nid, name in [("brand:boat", "boAt"), ("brand:amazon basics", "Amazon Basics"),
                      ("brand:amazon", "Amazon"), ("brand:jbl", "JBL")]:
        g.add_node(nid, type="brand", name=name)
    g.add_node("product:1", type="product", name="not a brand")
    return BrandLinker.from_graph(g)


def test_title_prefix_finds_the_longest_known_brand(linker):
    link = linker.link("BOAT Rockerz 450 Bluetooth Headphones")
    assert (link.value, link.node_id, link.method) == ("boAt", "brand:boat", "title prefix")
    assert linker.link("Amazon Basics USB cable").node_id == "brand:amazon basics"
    assert linker.link("Amazon Echo Dot").node_id == "brand:amazon"
    assert len(linker) == 4


def test_alias_without_spaces_or_punctuation(linker):
    link = linker.link("bo-At Airdopes 141")
    assert link.node_id == "brand:boat" and link.method in ("title prefix", "alias")
    link = linker.link("Bo At Airdopes 141")
    assert (link.node_id, link.method) == ("brand:boat", "alias")
    assert link.confidence < linker.link("boAt Airdopes").confidence


def test_unknown_brand_falls_back_to_the_heuristic_and_descriptions_get_none(linker):
    link = linker.link("Zebronics Zeb-Thunder wireless headphones")
    assert (link.value, link.node_id, link.method) == ("Zebronics", None, "title heuristic")
    assert linker.link("Wireless Bluetooth Earphones with Mic") is None
    assert linker.link("   ") is None and linker.link(None) is None


def test_category_vote_takes_the_deepest_level_with_a_majority():
    near = [("Electronics > Headphones", 0.9), ("Electronics > Headphones", 0.8),
            ("Electronics > Speakers", 0.5)]
    link = category_from_neighbours(near)
    assert link.value == "Electronics > Headphones" and link.confidence == pytest.approx(1.7 / 2.2, abs=1e-3)
    split = [("Home > Kitchen", 0.5), ("Home > Bath", 0.5), ("Home > Garden", 0.5)]
    assert category_from_neighbours(split).value == "Home"
    assert category_from_neighbours([("A", 0.5), ("B", 0.5), ("C", 0.5)]) is None
    assert category_from_neighbours([]) is None and category_from_neighbours([(None, 0.9)]) is None
