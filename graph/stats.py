"""Summary figures of a knowledge graph: what is in it and what is missing.

Use::

    from graph.stats import graph_stats
    s = graph_stats(g)
    s.to_dict()                       # plain JSON-able dict
    rich.print(s.render())            # the table `pricing graph stats` prints

Counts nodes per type and edges per type, the category taxonomy (deepest level, number of
roots), orphan nodes (no edge at all), products without a category or a brand, and brands
inferred from titles versus brands the data named.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

import networkx as nx
from rich.table import Table

from graph.schema import EdgeType, NodeType

_EXAMPLES = 5


@dataclass
class GraphStats:
    nodes: dict[str, int]                 # node type -> count
    edges: dict[str, int]                 # edge type -> count
    n_nodes: int
    n_edges: int
    taxonomy_depth: int                   # deepest category level (1 = roots only; 0 = none)
    root_categories: int                  # categories without a parent
    orphans: int                          # nodes with no edge at all
    products_without_category: int
    products_without_brand: int
    brands_inferred: int                  # brand guessed from titles only
    brands_given: int                     # brand named by the data for at least one product
    orphan_examples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def render(self) -> Table:
        t = Table(title="Knowledge graph", show_header=True, header_style="bold")
        t.add_column("section")
        t.add_column("item")
        t.add_column("count", justify="right")
        t.add_row("nodes", "all", f"{self.n_nodes:,}", style="bold")
        for k, v in self.nodes.items():
            t.add_row("", k, f"{v:,}")
        t.add_row("edges", "all", f"{self.n_edges:,}", style="bold")
        for k, v in self.edges.items():
            t.add_row("", k, f"{v:,}")
        t.add_row("taxonomy", "max depth", str(self.taxonomy_depth))
        t.add_row("", "root categories", f"{self.root_categories:,}")
        t.add_row("brands", "given by the data", f"{self.brands_given:,}")
        t.add_row("", "inferred from titles", f"{self.brands_inferred:,}")
        t.add_row("gaps", "products without category", f"{self.products_without_category:,}")
        t.add_row("", "products without brand", f"{self.products_without_brand:,}")
        orphans = f"{self.orphans:,}"
        t.add_row("", "orphan nodes", orphans)
        if self.orphan_examples:
            t.add_row("", "  e.g.", ", ".join(self.orphan_examples))
        return t


def graph_stats(g: nx.MultiDiGraph) -> GraphStats:
    """Compute :class:`GraphStats` in one pass over nodes and one over edges."""
    node_counts: Counter = Counter()
    depth = 0
    brands_inferred = brands_given = 0
    for _, d in g.nodes(data=True):
        t = d.get("type", "(untyped)")
        node_counts[t] += 1
        if t == NodeType.CATEGORY:
            depth = max(depth, int(d.get("depth", 0)))
        elif t == NodeType.BRAND:
            if d.get("inferred") is True:
                brands_inferred += 1
            else:
                brands_given += 1

    edge_counts: Counter = Counter()
    has_parent, has_category, has_brand = set(), set(), set()
    for u, _, d in g.edges(data=True):
        t = d.get("type", "(untyped)")
        edge_counts[t] += 1
        if t == EdgeType.CHILD_OF:
            has_parent.add(u)
        elif t == EdgeType.IN_CATEGORY:
            has_category.add(u)
        elif t == EdgeType.MADE_BY:
            has_brand.add(u)

    roots = 0
    no_cat = no_brand = 0
    orphans: list[str] = []
    n_orphans = 0
    for n, d in g.nodes(data=True):
        t = d.get("type")
        if t == NodeType.CATEGORY and n not in has_parent:
            roots += 1
        elif t == NodeType.PRODUCT:
            no_cat += n not in has_category
            no_brand += n not in has_brand
        if g.degree(n) == 0:
            n_orphans += 1
            if len(orphans) < _EXAMPLES:
                orphans.append(str(n))

    order = [t.value for t in NodeType]
    nodes = {t: node_counts[t] for t in order if t in node_counts}
    nodes.update({t: c for t, c in sorted(node_counts.items(), key=lambda kv: str(kv[0])) if t not in nodes})
    eorder = [t.value for t in EdgeType]
    edges = {t: edge_counts[t] for t in eorder if t in edge_counts}
    edges.update({t: c for t, c in sorted(edge_counts.items(), key=lambda kv: str(kv[0])) if t not in edges})
    return GraphStats(
        nodes=nodes, edges=edges, n_nodes=g.number_of_nodes(), n_edges=g.number_of_edges(),
        taxonomy_depth=depth, root_categories=roots, orphans=n_orphans,
        products_without_category=no_cat, products_without_brand=no_brand,
        brands_inferred=brands_inferred, brands_given=brands_given, orphan_examples=orphans)
