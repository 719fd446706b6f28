"""Graph files in and out of the store: export for Gephi or a graph database, import back
through curation (a validated diff, one audit entry, revertible).

Use::

    from graph.exchange import export_graph, read_graph_file, check_graph, diff_graphs
    export_graph(g, "graph.graphml")           # or "graph.json" / "graph.json.gz"; fmt= forces
    g2 = read_graph_file("graph.graphml")      # GraphFileError: not a readable graph file
    check_graph(g2)                            # [GraphProblem(node, field, reason), ...]
    diff_graphs(store.load(), g2).summary()    # {"nodes added": 3, "edges removed": 1, ...}
    with Curator("runs/graph.sqlite") as cur:  # the audited path (graph.curation)
        r = cur.import_graph(g2, source="graph.graphml", dry_run=True)    # the diff only
        r = cur.import_graph(g2, source="graph.graphml", expected_version=7)
        cur.revert(r.audit_id)                                            # undo it all

Formats (``FORMATS``):

- ``graphml``: GraphML through networkx's writer (:func:`graph.io.write_graphml`). GraphML
  attributes are typed scalars, so the file holds no None: an attribute that is None, a list,
  a dict (or a string with control characters) is written as JSON text under the name
  ``<name>@json`` (Gephi shows it as a string; reading it back decodes it). Node ids are the
  graph's ids (``brand:boat``), edge ids the edge keys (``in_category``,
  ``offers@2024-05-01``); every node and edge carries ``type``, ``provenance``, ``updated_at``.
- ``json``: node-link JSON (``networkx.node_link_data`` with ``"edges"``), value types kept.

Import makes the stored graph equal the file's: nodes and edges absent from the file are
removed, new ones added, the others updated where they differ (attributes compared with their
types). Before anything is stored the whole file is checked (:func:`check_graph`): node types
and id conventions (a category's id, path and depth follow its parent chain; a brand's id is
its normalised name), edge types and ends, offer prices and currencies, product numbers, one
category and one brand per product, the taxonomy a tree. Every problem is listed with node,
field and reason, and a file with any problem stores nothing. The diff then goes through the
curation transaction (:meth:`graph.curation.Curator.import_graph`), which applies its own rules
to what the import adds (a product moved into an inner category is refused, as
``link_category`` refuses it, an added offer needs a currency) - except when the store is
empty: restoring a whole export applies the ingest rules only, since catalogs legitimately
hold such legacy quirks (products in inner categories, offers without a currency), and takes
the file's graph-level attributes (``g.graph``: schema_version, built_at); a store that holds
a graph keeps its own (they describe its build, and an audit entry records nodes and edges).
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

import networkx as nx

from graph.contracts import CURRENCIES
from graph.curation_tx import (
    _EDGE_ENDS,
    CHILD_OF,
    IN_CATEGORY,
    MADE_BY,
    OFFERS,
    SEP,
    B,
    C,
    CurationError,
    K,
    P,
    _number,
    _Tx,
)
from graph.io import read_graphml, read_node_link, same_attrs, write_graphml, write_node_link
from graph.schema import NodeType, node_id, normalize_name

FORMATS = ("graphml", "json")
_SUFFIXES = {".graphml": "graphml", ".xml": "graphml", ".json": "json"}
_NODE_COLS = ("type", "name", "provenance", "updated_at")
_EDGE_COLS = ("type", "provenance", "updated_at")
_TYPES = {t.value for t in NodeType}
MAX_PROBLEMS = 1000  # listed per file; the count says how many more


class GraphFileError(ValueError):
    """A file that is not a readable graph of the given format (nothing was stored)."""


@dataclass(frozen=True)
class GraphProblem:
    """One reason a graph file cannot be imported: which node (an edge's: its source), which
    field, why; ``edge`` names the edge ("src -> dst (key)") for edge problems."""

    node: str | None
    field: str
    reason: str
    edge: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class GraphDiff:
    """What an import changes: node ids and (src, dst, key) edges, each list sorted."""

    nodes_added: list[str] = field(default_factory=list)
    nodes_changed: list[str] = field(default_factory=list)
    nodes_removed: list[str] = field(default_factory=list)
    edges_added: list[tuple] = field(default_factory=list)
    edges_changed: list[tuple] = field(default_factory=list)
    edges_removed: list[tuple] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        """Counts, e.g. {"nodes added": 2, "edges removed": 1} (zero counts left out)."""
        out = {}
        for kind in ("nodes", "edges"):
            for action in ("added", "changed", "removed"):
                n = len(getattr(self, f"{kind}_{action}"))
                if n:
                    out[f"{kind} {action}"] = n
        return out

    @property
    def empty(self) -> bool:
        return not self.summary()


# --------------------------------------------------------------------------- files

def format_of(path: str | Path, fmt: str | None = None) -> str:
    """``fmt`` if given, else the format the file name says (``.graphml``, ``.json``, each
    optionally ``.gz``); ValueError naming ``format`` otherwise."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        return fmt
    p = Path(path)
    suffix = p.suffixes[-2] if p.suffix == ".gz" and len(p.suffixes) > 1 else p.suffix
    found = _SUFFIXES.get(suffix.lower())
    if found is None:
        raise ValueError(f"format: cannot tell the format of {p.name!r} from its name; "
                         f"give one of {', '.join(FORMATS)}")
    return found


def export_graph(g: nx.MultiDiGraph, path: str | Path, fmt: str | None = None) -> str:
    """Write ``g`` to ``path`` (gzip when it ends in ``.gz``); returns the format used."""
    fmt = format_of(path, fmt)
    (write_graphml if fmt == "graphml" else write_node_link)(g, path)
    return fmt


def read_graph_file(path: str | Path, fmt: str | None = None,
                    name: str | None = None) -> nx.MultiDiGraph:
    """The graph in ``path``; :class:`GraphFileError` (naming the file, ``name`` if given)
    when it is not a well-formed file of the format."""
    fmt = format_of(name or path, fmt)
    label = name or Path(path).name
    try:
        g = (read_graphml if fmt == "graphml" else read_node_link)(path)
    except (ParseError, nx.NetworkXError, ValueError, KeyError, TypeError, IndexError,
            AttributeError, OSError, EOFError) as exc:
        what = "GraphML" if fmt == "graphml" else "node-link JSON"
        detail = str(exc) or type(exc).__name__
        raise GraphFileError(f"{label}: not a readable {what} graph file ({detail[:300]})") \
            from None
    if not (g.is_directed() and g.is_multigraph()):
        raise GraphFileError(f"{label}: holds an undirected or simple graph; the knowledge "
                             f"graph is a directed multigraph")
    return g


# --------------------------------------------------------------------------- checks

def check_graph(g: nx.MultiDiGraph) -> list[GraphProblem]:
    """Every reason ``g`` cannot be stored as the knowledge graph (empty: it can); at most
    :data:`MAX_PROBLEMS` listed."""
    out: list[GraphProblem] = []

    def bad(node: Any, fld: str, reason: str, edge: str | None = None) -> bool:
        out.append(GraphProblem(None if node is None else str(node), fld, reason, edge))
        return len(out) >= MAX_PROBLEMS

    for n, d in g.nodes(data=True):
        if _check_node(n, d, g, bad):
            return out
    n_cat: Counter = Counter()
    n_brand: Counter = Counter()
    parents: dict[str, str] = {}
    for u, v, k, d in g.edges(keys=True, data=True):
        label = f"{u} -> {v} ({k})"
        t = d.get("type")
        if not isinstance(k, str) or not k:
            if bad(u, "key", f"edge keys must be non-empty strings, got {k!r}", label):
                return out
            continue
        ends = _EDGE_ENDS.get(t) if isinstance(t, str) else None
        if ends is None:
            if bad(u, "type", f"unknown edge type {t!r}", label):
                return out
            continue
        have = (g.nodes[u].get("type"), g.nodes[v].get("type"))
        if have != ends:
            if bad(u, "type", f"a {t} edge goes from a {ends[0]} to a {ends[1]}, this one "
                              f"from a {have[0]} to a {have[1]}", label):
                return out
            continue
        if t == OFFERS and _check_offer(u, d, label, bad):
            return out
        if t == IN_CATEGORY:
            n_cat[u] += 1
        elif t == MADE_BY:
            n_brand[u] += 1
        elif t == CHILD_OF:
            if u in parents and bad(u, "parent", f"{u} has more than one parent category; the "
                                                 f"taxonomy is a tree", label):
                return out
            parents[u] = v
    for u, n in n_cat.items():
        if n > 1 and bad(u, "category_path", f"{u} is in {n} categories; a product sits in "
                                             f"one"):
            return out
    for u, n in n_brand.items():
        if n > 1 and bad(u, "brand", f"{u} has {n} brands; one at most"):
            return out
    for problem in _tree_problems(g, parents):
        if bad(*problem):
            return out
    return out


def _check_node(n: Any, d: dict, g: nx.MultiDiGraph, bad: Any) -> bool:
    if not isinstance(n, str) or not n:
        return bad(n, "id", f"node ids are non-empty strings, got {n!r}")
    t = d.get("type")
    if t not in _TYPES:
        return bad(n, "type", f"node type must be one of {', '.join(sorted(_TYPES))}, got "
                              f"{t!r} (an edge to an undeclared node gives it no type)")
    if not n.startswith(f"{t}:") or n == f"{t}:":
        return bad(n, "id", f"a {t} node's id is '{t}:<key>'")
    name = d.get("name")
    if t in (C, B, K) and (not isinstance(name, str) or not normalize_name(name)):
        return bad(n, "name", f"a {t} needs a name with letters or digits, got {name!r}")
    if t == B and n != node_id(B, name):
        return bad(n, "name", f"a brand's id is its normalised name ({node_id(B, name)!r} "
                              f"for {name!r})")
    if t == K and n != f"{K}:{name}":
        return bad(n, "name", f"a competitor's id is 'competitor:<name>' ({K}:{name})")
    if t == C:
        path, depth = d.get("path"), d.get("depth")
        if not isinstance(path, str) or n != node_id(C, path):
            return bad(n, "path", f"a category's id is 'category:<path>', got path {path!r}")
        levels = path.split(SEP)
        if levels[-1] != name or depth != len(levels) or isinstance(depth, bool):
            return bad(n, "depth", f"path {path!r} has {len(levels)} level(s) ending in "
                                   f"{levels[-1]!r}; got name {name!r}, depth {depth!r}")
    if t == P:
        for fld, low, open_ in (("price", 0, True), ("cost", 0, False), ("rating", 0, False),
                                ("rating_count", 0, False)):
            if d.get(fld) is None:
                continue
            try:
                _number(d[fld], fld, n, low=low, low_open=open_,
                        high=5 if fld == "rating" else None)
            except CurationError as exc:
                if bad(n, fld, str(exc)):
                    return True
        cur = d.get("currency")
        if cur is not None and cur not in CURRENCIES:
            return bad(n, "currency", f"{n}: currency must be an ISO 4217 code such as 'INR', "
                                      f"got {cur!r}")
    return False


def _check_offer(u: str, d: dict, label: str, bad: Any) -> bool:
    for fld, low, open_, required in (("price", 0, True, True), ("shipping", 0, False, False)):
        if d.get(fld) is None and not required:
            continue
        try:
            _number(d.get(fld), fld, label, low=low, low_open=open_)
        except CurationError as exc:
            if bad(u, fld, str(exc), label):
                return True
    if d.get("currency") is not None and d["currency"] not in CURRENCIES:  # ingest allows none
        return bad(u, "currency", f"{label}: currency must be an ISO 4217 code such as 'INR', "
                                  f"got {d['currency']!r}", label)
    return False


def _tree_problems(g: nx.MultiDiGraph, parents: dict[str, str]) -> list[tuple]:
    """Cycles, paths that do not follow the parent, names repeated among siblings."""
    out = []
    for c, p in parents.items():
        seen, cur = {c}, p
        while cur in parents:
            if cur in seen:
                out.append((c, "parent", f"{c}: the parent chain loops back through {cur}"))
                break
            seen.add(cur)
            cur = parents[cur]
        want = f"{g.nodes[p].get('path')}{SEP}{g.nodes[c].get('name')}"
        if g.nodes[c].get("path") != want:
            out.append((c, "path", f"{c}: under {p} its path must be {want!r}"))
    siblings: dict[tuple, list[str]] = {}
    for n, d in g.nodes(data=True):
        if d.get("type") == C and isinstance(d.get("name"), str):
            siblings.setdefault((parents.get(n), normalize_name(d["name"])), []).append(n)
    for (_, _), ids in siblings.items():
        if len(ids) > 1:
            out.append((ids[1], "name", f"categories {', '.join(sorted(ids))} have the same "
                                        f"name under one parent (after normalisation)"))
    return out


# --------------------------------------------------------------------------- diff and apply

def diff_graphs(current: nx.MultiDiGraph, incoming: nx.MultiDiGraph) -> GraphDiff:
    """What changes when ``current`` becomes ``incoming`` (attributes compared with types)."""
    d = GraphDiff()
    for n, data in incoming.nodes(data=True):
        if n not in current:
            d.nodes_added.append(n)
        elif not same_attrs(current.nodes[n], data):
            d.nodes_changed.append(n)
    d.nodes_removed = [n for n in current if n not in incoming]
    for u, v, k, data in incoming.edges(keys=True, data=True):
        if not current.has_edge(u, v, k):
            d.edges_added.append((u, v, k))
        elif not same_attrs(current.edges[u, v, k], data):
            d.edges_changed.append((u, v, k))
    d.edges_removed = [(u, v, k) for u, v, k in current.edges(keys=True)
                       if not incoming.has_edge(u, v, k)]
    for name in ("nodes_added", "nodes_changed", "nodes_removed"):
        getattr(d, name).sort()
    for name in ("edges_added", "edges_changed", "edges_removed"):
        getattr(d, name).sort(key=lambda e: (e[0], e[1], str(e[2])))
    return d


def _split(data: dict, cols: tuple[str, ...]) -> tuple[dict, dict]:
    """(the store's own columns, the rest as attrs), as graph.store keeps them."""
    own = {c: data[c] for c in cols if isinstance(data.get(c), str)}
    return own, {k: v for k, v in data.items() if k not in own}


def apply_diff(tx: _Tx, incoming: nx.MultiDiGraph, d: GraphDiff, *, restore: bool) -> None:
    """Write ``d`` in the curation transaction ``tx``: removed edges and nodes first, then
    nodes, then edges. A changed node gets version + 1 (a curator holding the old version
    gets a conflict); provenance and ``updated_at`` come from the file. ``restore``: the store
    was empty, so the transaction's edit rules are not applied (:func:`check_graph`, the
    ingest rules, has passed the whole graph)."""
    for u, v, k in d.edges_removed + d.edges_changed:
        tx.delete_edge(u, v, k)
    for n in d.nodes_removed:
        tx.delete_node(n)
    for n in d.nodes_added + d.nodes_changed:
        own, attrs = _split(incoming.nodes[n], _NODE_COLS)
        before = tx.node(n)
        tx.write_node({"id": n, "type": own["type"], "name": own.get("name"), "attrs": attrs,
                       "provenance": own.get("provenance"), "updated_at": own.get("updated_at"),
                       "version": 1 if before is None else before["version"] + 1})
    for u, v, k in d.edges_added + d.edges_changed:
        own, attrs = _split(incoming.edges[u, v, k], _EDGE_COLS)
        tx.insert_edge(u, v, k, own["type"], attrs, own.get("provenance"),
                       own.get("updated_at"))
    if restore:
        # Nothing was there: check_graph (the ingest rules) has judged the whole graph, and
        # the edit rules (an offer needs a currency, a product a leaf category) would refuse
        # what ingest legitimately keeps.
        tx.reset_scope()
        # An empty store takes the file's graph attributes too (schema_version, built_at);
        # a store with a graph keeps its own (they describe its build).
        tx.conn.execute("DELETE FROM meta WHERE key = 'graph'")
        tx.conn.execute("INSERT INTO meta VALUES ('graph', ?)", (json.dumps(dict(incoming.graph)),))
