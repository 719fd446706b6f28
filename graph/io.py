"""Export and import the knowledge graph as GraphML or node-link JSON, losslessly.

Use::

    from graph.io import write_graphml, read_graphml, write_node_link, read_node_link
    write_graphml(g, "runs/graph.graphml")          # also .graphml.gz
    g2 = read_graphml("runs/graph.graphml")
    write_node_link(g, "runs/graph.json")           # also .json.gz
    assert graphs_equal(g, read_node_link("runs/graph.json"))

GraphML only holds scalar attributes (bool, int, float, string) and XML text cannot hold
control characters (and turns ``\\r\\n`` into ``\\n``). So an attribute that is not a plain
scalar - None, a list, a dict, a string with such characters - is written as a JSON string
under the name ``<name>@json`` and decoded on reading; graphs opened in other tools show those
attributes as JSON text. Edge keys are the GraphML edge ids; a key that is not a non-empty,
XML-safe string goes JSON-encoded into the reserved edge attribute ``__key__``. Attribute types
survive because networkx writes one GraphML key per (name, type).

Node-link JSON is networkx's ``node_link_data`` format with ``"edges"`` (d3-style): JSON keeps
all value types apart already.

:func:`graph_diff` / :func:`graphs_equal` (and :func:`same_attrs` for one node's or edge's
attributes) compare two graphs strictly (``1``, ``1.0`` and
``True`` differ), as the round-trip tests need.
"""
from __future__ import annotations

import gzip
import json
import math
import re
from pathlib import Path
from typing import Any

import networkx as nx

JSON_SUFFIX = "@json"
KEY_ATTR = "__key__"
# XML 1.0 characters minus "\r" (parsers normalise line ends, so "\r" would not survive).
_XML_UNSAFE = re.compile("[^\t\n\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ID_UNSAFE = re.compile("[^\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SCALARS = (bool, int, float)


# --------------------------------------------------------------------------- GraphML

def _encode_attrs(data: dict, where: str) -> dict:
    out = {}
    for name, value in data.items():
        if not isinstance(name, str):
            raise TypeError(f"{where}: attribute names must be strings, got {name!r}")
        plain = (type(value) in _SCALARS
                 or (type(value) is str and not _XML_UNSAFE.search(value)))
        if plain and not name.endswith(JSON_SUFFIX) and name != KEY_ATTR:
            out[name] = value
        else:
            out[name + JSON_SUFFIX] = json.dumps(value, ensure_ascii=True)
    return out


def _decode_attrs(data: dict) -> dict:
    out = {}
    for name, value in data.items():
        if name.endswith(JSON_SUFFIX):
            out[name[: -len(JSON_SUFFIX)]] = json.loads(value)
        else:
            out[name] = value
    return out


def write_graphml(g: nx.MultiDiGraph, path: str | Path) -> None:
    """Write ``g`` as GraphML (gzip when ``path`` ends in ``.gz``)."""
    h = nx.MultiDiGraph()
    h.graph.update(_encode_attrs(g.graph, "graph"))
    nodes = []
    for n, data in g.nodes(data=True):
        if not isinstance(n, str) or _ID_UNSAFE.search(n):
            raise ValueError(f"GraphML export needs printable string node ids, got {n!r}")
        nodes.append((n, _encode_attrs(data, f"node {n!r}")))
    h.add_nodes_from(nodes)
    edges = []
    for i, (u, v, k, data) in enumerate(g.edges(keys=True, data=True)):
        attrs = _encode_attrs(data, f"edge {u!r}->{v!r}")
        if not (isinstance(k, str) and k and not _ID_UNSAFE.search(k)):
            attrs[KEY_ATTR] = json.dumps(k, ensure_ascii=True)
            k = f"{KEY_ATTR}{i}"
        edges.append((u, v, k, attrs))
    h.add_edges_from(edges)
    nx.write_graphml(h, str(path))


def read_graphml(path: str | Path) -> nx.MultiDiGraph:
    """Read a GraphML file written by :func:`write_graphml`."""
    h = nx.read_graphml(str(path), node_type=str, edge_key_type=str, force_multigraph=True)
    g = nx.MultiDiGraph()
    for default in ("node_default", "edge_default"):
        if h.graph.get(default) == {}:
            del h.graph[default]
    g.graph.update(_decode_attrs(h.graph))
    g.add_nodes_from((n, _decode_attrs(d)) for n, d in h.nodes(data=True))
    edges = []
    for u, v, k, d in h.edges(keys=True, data=True):
        if KEY_ATTR in d:
            d = dict(d)
            k = json.loads(d.pop(KEY_ATTR))
        edges.append((u, v, k, _decode_attrs(d)))
    g.add_edges_from(edges)
    return g


# --------------------------------------------------------------------------- node-link JSON

def _open(path: Path, mode: str):
    if path.suffix == ".gz":
        return gzip.open(path, mode + "t", encoding="utf-8")
    return open(path, mode, encoding="utf-8")


def write_node_link(g: nx.MultiDiGraph, path: str | Path) -> None:
    """Write ``g`` as node-link JSON (gzip when ``path`` ends in ``.gz``)."""
    for n, d in g.nodes(data=True):
        if "id" in d:
            raise ValueError(f"node {n!r}: attribute 'id' clashes with node-link's node id")
    for u, v, d in g.edges(data=True):
        clash = {"source", "target", "key"} & d.keys()
        if clash:
            raise ValueError(f"edge {u!r}->{v!r}: attribute(s) {sorted(clash)} clash with "
                             f"node-link's edge fields")
    data = nx.node_link_data(g, edges="edges")
    path = Path(path)
    with _open(path, "w") as f:
        json.dump(data, f, ensure_ascii=False)


def read_node_link(path: str | Path) -> nx.MultiDiGraph:
    """Read a node-link JSON file written by :func:`write_node_link`."""
    with _open(Path(path), "r") as f:
        data = json.load(f)
    return nx.node_link_graph(data, directed=True, multigraph=True, edges="edges")


# --------------------------------------------------------------------------- comparison

def _same(a: Any, b: Any) -> bool:
    """Equal values of the same type, recursively (1 != 1.0 != True here); NaN equals NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def same_attrs(a: dict, b: dict) -> bool:
    """Equal attribute dicts, values compared with their types (as :func:`graphs_equal`)."""
    return _same(a, b)


def _attr_diff(a: dict, b: dict) -> str | None:
    if _same(a, b):
        return None
    for k in sorted(a.keys() | b.keys(), key=str):
        if k not in b:
            return f"attribute {k!r} only in first ({a[k]!r})"
        if k not in a:
            return f"attribute {k!r} only in second ({b[k]!r})"
        if not _same(a[k], b[k]):
            return f"attribute {k!r}: {a[k]!r} ({type(a[k]).__name__}) != " \
                   f"{b[k]!r} ({type(b[k]).__name__})"
    return "attributes differ"


def graph_diff(a: nx.Graph, b: nx.Graph, limit: int = 10) -> list[str]:
    """Differences between two graphs (at most ``limit``); empty when they are equal."""
    out: list[str] = []
    if (a.is_directed(), a.is_multigraph()) != (b.is_directed(), b.is_multigraph()):
        out.append(f"graph kinds differ: {type(a).__name__} vs {type(b).__name__}")
    d = _attr_diff(a.graph, b.graph)
    if d:
        out.append(f"graph: {d}")
    only_a = [n for n in a if n not in b]
    only_b = [n for n in b if n not in a]
    out += [f"node {n!r} only in first" for n in only_a[:limit]]
    out += [f"node {n!r} only in second" for n in only_b[:limit]]
    for n, da in a.nodes(data=True):
        if len(out) >= limit:
            return out[:limit]
        if n in b:
            d = _attr_diff(da, b.nodes[n])
            if d:
                out.append(f"node {n!r}: {d}")

    def edges(g: nx.Graph) -> dict:
        if g.is_multigraph():
            return {(u, v, k): dd for u, v, k, dd in g.edges(keys=True, data=True)}
        return {(u, v): dd for u, v, dd in g.edges(data=True)}

    ea, eb = edges(a), edges(b)
    out += [f"edge {e!r} only in first" for e in list(ea.keys() - eb.keys())[:limit]]
    out += [f"edge {e!r} only in second" for e in list(eb.keys() - ea.keys())[:limit]]
    for e, da in ea.items():
        if len(out) >= limit:
            break
        if e in eb:
            d = _attr_diff(da, eb[e])
            if d:
                out.append(f"edge {e!r}: {d}")
    return out[:limit]


def graphs_equal(a: nx.Graph, b: nx.Graph) -> bool:
    """Same kind, nodes, edges (with keys) and attributes, with the same value types."""
    return not graph_diff(a, b, limit=1)
