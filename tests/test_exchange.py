"""Tests for graph.exchange and Curator.import_graph: run with
`.venv/bin/pytest tests/test_exchange.py -q`.

Real parts only: a graph built from a slice of the demo catalog, real SQLite stores, files
written and read by networkx. Round trips: export -> import into an empty store and into a
store changed by curation edits -> the same graph, in both formats; the import is one audit
entry that reverts; bad graphs list every problem and store nothing.
"""
from __future__ import annotations

import copy
import xml.etree.ElementTree as ET

import networkx as nx
import pytest

from graph.build import build_graph
from graph.curation import ConflictError, CurationError, Curator
from graph.exchange import (
    GraphFileError,
    check_graph,
    diff_graphs,
    export_graph,
    format_of,
    read_graph_file,
)
from graph.io import graph_diff, graphs_equal
from graph.quality import quality_report
from graph.store import GraphStore
from tests.conftest import small_catalog

FORMATS = [("graphml", "g.graphml"), ("json", "g.json"), ("graphml", "g.graphml.gz")]


@pytest.fixture(scope="module")
def built() -> nx.MultiDiGraph:
    g = build_graph(small_catalog(per_source=40))
    # a free attribute GraphML cannot hold as a scalar, and one that is None
    p = next(n for n, d in g.nodes(data=True) if d["type"] == "product")
    g.nodes[p]["tags"] = ["gift", {"season": "winter"}]
    g.nodes[p]["note"] = None
    return g


@pytest.fixture()
def db(tmp_path, built):
    path = tmp_path / "graph.sqlite"
    with GraphStore(path) as store:
        store.save(built)
    return path


def _stored(path) -> nx.MultiDiGraph:
    with GraphStore(path) as store:
        return store.load()


def _pick(g, typ, n=1):
    return sorted(x for x, d in g.nodes(data=True) if d["type"] == typ)[:n]


@pytest.mark.parametrize("fmt,name", FORMATS)
def test_export_import_into_empty_store_gives_the_same_graph(tmp_path, db, fmt, name):
    original = _stored(db)
    path = tmp_path / name
    assert export_graph(original, path) == fmt
    target = tmp_path / "empty.sqlite"
    with Curator(target, actor="restorer") as cur:
        r = cur.import_graph(read_graph_file(path), source=name)
        assert r.audit_id is not None and r.params["base_version"] == 0
        assert r.summary() == {"nodes added": original.number_of_nodes(),
                               "edges added": original.number_of_edges()}
    back = _stored(target)
    assert graph_diff(original, back) == []
    quality_report(back)  # what `pricing graph check` runs


def test_graphml_is_safe_for_other_tools(tmp_path, db):
    g = _stored(db)
    export_graph(g, tmp_path / "g.graphml")
    plain = nx.read_graphml(tmp_path / "g.graphml")  # as Gephi-like tools read it
    values = [v for _, d in plain.nodes(data=True) for v in d.values()]
    values += [v for *_, d in plain.edges(data=True) for v in d.values()]
    assert all(isinstance(v, (str, int, float, bool)) for v in values)
    p = next(n for n, d in plain.nodes(data=True) if "tags@json" in d)
    assert plain.nodes[p]["tags@json"] == '["gift", {"season": "winter"}]'
    assert plain.nodes[p]["note@json"] == "null"
    ET.parse(tmp_path / "g.graphml")  # well-formed XML


@pytest.mark.parametrize("fmt,name", FORMATS[:2])
def test_import_into_a_changed_store_restores_and_reverts(tmp_path, db, fmt, name):
    original = _stored(db)
    export_graph(original, tmp_path / name)
    brand = _pick(original, "brand")[0]
    product = next(n for n in _pick(original, "product", 50) if original.nodes[n].get("price"))
    comp = _pick(original, "competitor")[0]
    with Curator(db, actor="alice") as cur:
        cur.update_node(product, {"price": 12345.0})
        cur.add_brand("Zzz Brand Made Up")
        cur.add_offer(comp, product, 99.0, original.nodes[product].get("currency") or "INR",
                      observed_at="2030-01-01")
        cur.rename_node(brand, "Renamed Brand Q")
    changed = _stored(db)
    assert not graphs_equal(changed, original)
    with Curator(db, actor="bob") as cur:
        preview = cur.import_graph(read_graph_file(tmp_path / name), dry_run=True)
        assert _stored(db).number_of_nodes() == changed.number_of_nodes()  # nothing stored
        s = preview.summary()
        assert s["nodes added"] == 1 and s["nodes removed"] == 2   # old brand back; 2 gone
        assert product in {n.id for n in preview.nodes if n.action == "updated"}
        assert s["edges removed"] >= 2 and s["edges added"] >= 1
        r = cur.import_graph(read_graph_file(tmp_path / name),
                             expected_version=preview.params["base_version"])
        assert r.summary() == s
        assert graph_diff(original, _stored(db)) == []
        assert cur.history(limit=1)[0].op == "import_graph"
        cur.revert(r.audit_id, reason="undo the import")
    assert graph_diff(changed, _stored(db)) == []


def test_importing_the_same_graph_changes_nothing(tmp_path, db):
    export_graph(_stored(db), tmp_path / "g.json")
    with Curator(db) as cur:
        r = cur.import_graph(read_graph_file(tmp_path / "g.json"))
    assert r.audit_id is None and r.summary() == {}


def test_a_stale_expected_version_is_a_conflict(tmp_path, db):
    g = _stored(db)
    export_graph(g, tmp_path / "g.json")
    with Curator(db) as cur:
        base = cur.import_graph(read_graph_file(tmp_path / "g.json"),
                                dry_run=True).params["base_version"]
        cur.add_brand("Another Made Up Brand")
        with pytest.raises(ConflictError):
            cur.import_graph(read_graph_file(tmp_path / "g.json"), expected_version=base)
    assert "brand:another made up brand" in _stored(db)


def _broken(g: nx.MultiDiGraph) -> tuple[nx.MultiDiGraph, set[tuple[str, str]]]:
    h = copy.deepcopy(g)
    p1, p2 = _pick(h, "product", 2)
    brand = _pick(h, "brand")[0]
    comp = _pick(h, "competitor")[0]
    cats = _pick(h, "category", 2)
    h.add_edge(comp, p1, key="offers@x", type="offers", price=-3.0, currency="INR")
    h.nodes[brand]["name"] = "Something Else"
    h.nodes[p2]["rating"] = 7
    h.add_node("gadget:1", type="gadget")
    h.add_edge(p1, cats[0], key="in_category", type="in_category")
    h.add_edge(p1, cats[1], key="in_category", type="in_category")
    want = {(comp, "price"), (brand, "name"), (p2, "rating"), ("gadget:1", "type"),
            (p1, "category_path")}
    return h, want


def test_a_graph_breaking_rules_lists_every_problem_and_stores_nothing(tmp_path, db):
    before = _stored(db)
    bad, want = _broken(before)
    found = {(p.node, p.field) for p in check_graph(bad)}
    assert want <= found
    export_graph(bad, tmp_path / "bad.json")
    with Curator(db) as cur, pytest.raises(CurationError) as err:
        cur.import_graph(read_graph_file(tmp_path / "bad.json"))
    assert want <= {(p.node, p.field) for p in err.value.errors}
    assert all(p.reason for p in err.value.errors)
    assert graph_diff(before, _stored(db)) == []


def test_curation_rules_apply_to_what_an_import_adds(tmp_path, db):
    g = _stored(db)
    inner = next(c for c in _pick(g, "category", 10_000)
                 if any(d["type"] == "child_of" for *_, d in g.in_edges(c, data=True)))
    product, leaf, key = next((u, v, k) for u, v, k, d in g.edges(keys=True, data=True)
                              if d["type"] == "in_category" and v != inner)
    h = copy.deepcopy(g)
    h.remove_edge(product, leaf, key)
    h.add_edge(product, inner, key="in_category", type="in_category")
    assert check_graph(h) == []  # legal as data (ingest keeps such products) ...
    with Curator(db) as cur, pytest.raises(CurationError, match="not a leaf"):
        cur.import_graph(h)      # ... but not as an edit of a stored graph
    assert graph_diff(g, _stored(db)) == []


@pytest.mark.parametrize("text,name", [
    ("<graphml><graph><node id='a'>", "broken.graphml"),
    ("this is not xml", "plain.graphml"),
    ('{"nodes": [}', "broken.json"),
    ('{"directed": true, "multigraph": true, "nodes": 5, "edges": []}', "x.json"),
    ('[1, 2]', "list.json"),
    ('{"directed": false, "multigraph": false, "nodes": [], "edges": []}', "undirected.json"),
])
def test_malformed_files_raise_a_clear_error(tmp_path, text, name):
    (tmp_path / name).write_text(text)
    with pytest.raises(GraphFileError, match=name.replace(".", r"\.")):
        read_graph_file(tmp_path / name)


def test_format_comes_from_the_name_or_the_caller(tmp_path):
    assert format_of("a.graphml.gz") == "graphml" and format_of("a.JSON") == "json"
    assert format_of("a.txt", "json") == "json"
    with pytest.raises(ValueError, match="format"):
        format_of("a.txt")
    with pytest.raises(ValueError, match="format"):
        format_of("a.json", "gexf")


def test_diff_compares_values_with_their_types():
    a = nx.MultiDiGraph()
    a.add_node("product:x", type="product", name="X", price=2.0)
    b = copy.deepcopy(a)
    assert diff_graphs(a, b).empty
    b.nodes["product:x"]["price"] = 2
    d = diff_graphs(a, b)
    assert d.nodes_changed == ["product:x"] and d.summary() == {"nodes changed": 1}


def test_round_trip_on_each_backend(tmp_path, built, store_location):
    """Export, import into an empty store of either backend: the same graph."""
    src = tmp_path / "source.sqlite"
    with GraphStore(src) as store:
        store.save(built)
    original = _stored(src)
    export_graph(original, tmp_path / "g.json")
    with Curator(store_location, actor="restorer") as cur:
        r = cur.import_graph(read_graph_file(tmp_path / "g.json"))
        assert r.audit_id is not None
        assert cur.import_graph(read_graph_file(tmp_path / "g.json")).audit_id is None
    with GraphStore(store_location) as store:
        assert graph_diff(original, store.load()) == []
