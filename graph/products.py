"""The products of a knowledge graph as one flat table (one row per product node).

Use::

    from graph.products import product_table
    table = product_table(g)        # g from graph.build.build_graph(catalog)
    table.loc[table.n_reviews > 0, ["product_id", "review_texts"]]

Reads the graph in two passes (nodes, then edges) so that 150k products take about a second.
Columns (missing values are None / NaN):

- product_id: the catalog id (the node id without its ``product:`` prefix)
- title, description, price, currency, cost, rating, rating_count, condition: product attributes
- category_path: ``path`` of the category the product's ``in_category`` edge points to
- brand: display name of the ``made_by`` brand node; brand_inferred: that edge's ``inferred``
  flag (a brand guessed from the title, not given by the data), None when there is no brand
- n_reviews: number of ``review_of`` edges; review_texts: their non-empty texts (list[str])
- source: the product node's provenance (source file or curator)
"""
from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd

from graph.schema import EdgeType, NodeType

PRODUCT_TABLE_COLUMNS: list[str] = [
    "product_id", "title", "description", "category_path", "brand", "brand_inferred",
    "price", "currency", "cost", "rating", "rating_count", "n_reviews", "review_texts",
    "source", "condition",
]
_NUMERIC = ("price", "cost", "rating", "rating_count")
_TEXT = ("title", "description", "currency", "condition")

_PRODUCT = NodeType.PRODUCT.value
_PREFIX = f"{_PRODUCT}:"


def product_id_of(nid: str) -> str:
    """Catalog id of a product node id (``product:B07X`` -> ``B07X``)."""
    return nid[len(_PREFIX):] if nid.startswith(_PREFIX) else nid


def product_table(g: nx.MultiDiGraph) -> pd.DataFrame:
    """One row per product node of ``g`` with the columns listed in the module docstring."""
    nodes = g.nodes
    rows: dict[str, int] = {}
    attrs: list[dict] = []
    for nid, d in nodes(data=True):
        if d.get("type") == _PRODUCT:
            rows[nid] = len(attrs)
            attrs.append(d)
    n = len(attrs)
    category: list[str | None] = [None] * n
    brand: list[str | None] = [None] * n
    inferred: list[bool | None] = [None] * n
    n_reviews = np.zeros(n, dtype=np.int64)
    texts: list[list[str]] = [[] for _ in range(n)]

    # One pass over the edges: each edge type touching a product fills its own column.
    for u, v, d in g.edges(data=True):
        t = d.get("type")
        if t == EdgeType.IN_CATEGORY:
            i = rows.get(u)
            if i is not None:
                cd = nodes[v]
                category[i] = cd.get("path") or v.partition(":")[2]
        elif t == EdgeType.MADE_BY:
            i = rows.get(u)
            if i is not None:
                bd = nodes[v]
                brand[i] = bd.get("name") or v.partition(":")[2]
                flag = d.get("inferred", bd.get("inferred"))
                inferred[i] = None if flag is None else bool(flag)
        elif t == EdgeType.REVIEW_OF:
            i = rows.get(v)
            if i is not None:
                n_reviews[i] += 1
                text = nodes[u].get("text")
                if isinstance(text, str) and text.strip():
                    texts[i].append(text)

    cols: dict[str, object] = {"product_id": [product_id_of(nid) for nid in rows]}
    for c in _TEXT:
        cols[c] = [a.get(c) for a in attrs]
    ids = list(rows)
    for c in _NUMERIC:
        cols[c] = np.array([_num(a.get(c), ids[i], c) for i, a in enumerate(attrs)],
                           dtype=np.float64)
    cols["category_path"] = category
    cols["brand"] = brand
    cols["brand_inferred"] = pd.array(inferred, dtype="boolean")
    cols["n_reviews"] = n_reviews
    cols["review_texts"] = texts
    cols["source"] = [a.get("provenance") for a in attrs]
    frame = pd.DataFrame({c: cols[c] for c in PRODUCT_TABLE_COLUMNS})
    # Lists of reviews must stay Python lists (object), not be coerced to strings.
    frame["review_texts"] = pd.Series(texts, dtype=object)
    return frame


def _num(x: object, nid: str, field: str) -> float:
    if x is None:
        return np.nan
    try:
        return float(x)
    except (TypeError, ValueError):
        raise ValueError(f"node {nid!r}: attribute {field!r} is not a number: {x!r}") from None
