"""Tests for graph.io: run with `.venv/bin/pytest tests/test_io.py -q`."""
from __future__ import annotations

import networkx as nx
import pandas as pd
import pytest

from graph.build import build_graph
from graph.contracts import Catalog
from graph.io import (
    graph_diff,
    graphs_equal,
    read_graphml,
    read_node_link,
    write_graphml,
    write_node_link,
)


def built_graph() -> nx.MultiDiGraph:
    products = pd.DataFrame({
        "product_id": ["a", "b", "c"],
        "title": ["Boat & <Rockerz>", "boAt Airdopes", "Mug \"50cl\""],
        "description": ["line1\r\nline2", None, "  padded  "],
        "category_path": ["Audio > Headphones", "Audio > Earbuds", None],
        "brand": ["boAt", "Bo-At", None],
        "brand_inferred": [True, False, None],
        "price": [1499.0, 999.0, 5.5],
        "source": ["s1", "s1", "s2"],
    })
    offers = pd.DataFrame({"product_id": ["a", "a", "b"], "competitor": ["X", "X", "Y"],
                           "price": [1400.0, 1450.0, 10.0],
                           "observed_at": ["2023-01", "2023-02", None],
                           "source": ["s3", "s3", "s3"]})
    return build_graph(Catalog(products=products, offers=offers))


def odd_graph() -> nx.MultiDiGraph:
    g = nx.MultiDiGraph(schema_version=1, tags=["a", "b"], note=None, empty="")
    g.add_node("n:1", type="product", flag=True, count=3, price=3.0, big=2**40, neg=-0.0,
               text="ctl \x01 \x1f and \r", lst=[1, "2", None], d={"k": False},
               blank="", spaces="  ", uni="Ünïcode ✓ 😀", weird="a@json")
    g.add_node("n:2", type="brand", inferred=False, count=3.0)   # count float here, int above
    g.nodes["n:2"]["x@json"] = "not json"                      # name clash with the encoding
    g.add_edge("n:1", "n:2", key="made_by", type="made_by", inferred=False)
    g.add_edge("n:1", "n:2", key=0, type="similar_to", weight=0.5)   # integer key
    g.add_edge("n:1", "n:2", key="0", type="similar_to", weight=1)   # string key "0"
    g.add_edge("n:2", "n:1", key="", type="x", __key__="clash")      # empty key
    g.add_edge("n:2", "n:2", key="line\nbreak", type="x")
    return g


@pytest.mark.parametrize("make", [built_graph, odd_graph])
@pytest.mark.parametrize("fmt,suffix", [("graphml", ".graphml"), ("graphml", ".graphml.gz"),
                                        ("json", ".json"), ("json", ".json.gz")])
def test_round_trip(tmp_path, make, fmt, suffix):
    write, read = (write_graphml, read_graphml) if fmt == "graphml" else (write_node_link, read_node_link)
    g = make()
    write(g, tmp_path / f"g{suffix}")
    back = read(tmp_path / f"g{suffix}")
    assert graph_diff(g, back) == []
    if fmt == "json":  # node-link JSON also keeps the edge order
        assert list(back.edges(keys=True)) == list(g.edges(keys=True))


def test_graphml_keeps_scalars_readable(tmp_path):
    """Other tools (Gephi, yEd) should see plain typed attributes, not JSON blobs."""
    write_graphml(built_graph(), tmp_path / "g.graphml")
    text = (tmp_path / "g.graphml").read_text()
    assert 'attr.name="price" attr.type="double"' in text
    assert 'attr.name="inferred" attr.type="boolean"' in text
    assert 'attr.name="description@json"' in text  # the "\r\n" one needed encoding
    assert "offers@2023-01" in text  # edge keys are GraphML edge ids


def test_unwritable_ids_raise(tmp_path):
    g = nx.MultiDiGraph()
    g.add_node("bad\x00id", type="x")
    with pytest.raises(ValueError, match="node ids"):
        write_graphml(g, tmp_path / "g.graphml")
    h = nx.MultiDiGraph()
    h.add_node("n", id="clash")
    with pytest.raises(ValueError, match="'id'"):
        write_node_link(h, tmp_path / "g.json")


def test_graph_diff_is_type_strict():
    a = nx.MultiDiGraph()
    a.add_node("n", v=1)
    b = nx.MultiDiGraph()
    b.add_node("n", v=1.0)
    c = nx.MultiDiGraph()
    c.add_node("n", v=True)
    assert graphs_equal(a, a.copy())
    assert not graphs_equal(a, b) and not graphs_equal(a, c)
    assert "int" in graph_diff(a, b)[0]
    b.add_edge("n", "m", key="k")
    assert any("only in second" in d for d in graph_diff(a, b))
